"""The spaxel-by-spaxel 1D CNN-Transformer ("spectral"): network, shipped weights, training."""
import numpy as np
import pytest
import torch

import galcube_lib as gl
from galcube_lib.denoise.deep import weights as _models
from galcube_lib.training import spectral as ts
from galcube_lib.denoise.deep.spectral import spectral
from galcube_lib.denoise.deep.networks.spectral import SpectralTransformer

pytestmark = pytest.mark.deep

TINY = {"width": 4, "depth": 1, "heads": 1, "ff": 8}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def source():
    """A resolved disk at peak SNR 5 in beam-correlated noise, on a small non-square field."""
    obs = gl.Observation(n_pix=40, n_chan=40, channel_kms=30.0, beam_fwhm_px=3.75)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=2.0, inclination_deg=50.0)], obs)
    noisy = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=3)
    return noisy.data[:, 4:36, 2:38], clean.data[:, 4:36, 2:38]


@pytest.mark.parametrize("n_chan", [1, 3, 7, 40, 41])
def test_network_accepts_any_spectrum_length(n_chan):
    torch.manual_seed(0)
    out = SpectralTransformer(**TINY)(torch.randn(5, 1, n_chan))
    assert out.shape == (5, 1, n_chan)
    assert torch.isfinite(out).all()


def test_network_rejects_heads_that_do_not_divide_the_width():
    with pytest.raises(ValueError, match="heads"):
        SpectralTransformer(width=4, heads=3)


def test_shipped_weights_fit_the_budget_and_their_card_rebuilds_the_network():
    path = _models.weights_path("spectral")
    assert path.stat().st_size < 8.5e6
    state, card = _models.load("spectral")
    SpectralTransformer(**card["network"]).load_state_dict(state)       # strict: every key


def test_shipped_weights_lower_the_error_on_held_out_cubes():
    """On 2 held-out benchmark cubes (measured: RMS error 4.4x and 7.1x lower than the noisy
    spectra's on the source spaxels, median Pearson r 0.55 against 0.12)."""
    figures = ts.evaluate_spectral("spectral", n_cubes=2)
    assert figures["n_spaxels"] > 100
    assert figures["rms_reduction_min"] > 3.5
    assert figures["pearson_median"] > figures["pearson_median_noisy"] + 0.3


def test_evaluation_seeds_follow_spec_7():
    by_int = ts.evaluate_spectral("spectral", n_cubes=1, rng=3)
    with pytest.warns(DeprecationWarning, match="seed= is deprecated, use rng="):
        assert ts.evaluate_spectral("spectral", n_cubes=1, seed=3) == by_int
    assert ts.evaluate_spectral("spectral", n_cubes=1, rng=np.random.SeedSequence(3)) == by_int
    other = ts.evaluate_spectral("spectral", n_cubes=1, rng=np.random.default_rng(3))
    assert other["rms_reduction_pooled"] != by_int["rms_reduction_pooled"]


def test_shape_dtype_and_input_untouched_on_odd_sizes():
    data = np.random.default_rng(0).normal(size=(13, 9, 11)).astype(np.float32)
    before = data.copy()
    out = spectral(data)
    assert out.shape == data.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(data, before)


def test_reduces_the_error_on_a_simulated_source(source):
    noisy, clean = source
    out = spectral(noisy)
    src = clean.max(axis=0) > 0.05 * clean.max()                  # source spaxels
    gain = np.sqrt(((noisy - clean)[:, src] ** 2).mean() / ((out - clean)[:, src] ** 2).mean())
    assert gain > 4.0                                             # measured 4.85


def test_scale_equivariant_and_batch_independent(source):
    noisy = source[0][:, :8, :8]
    out = spectral(noisy)
    for a in (3.7, 1e-3):
        np.testing.assert_allclose(spectral(np.float32(a) * noisy), a * out, rtol=1e-4,
                                   atol=1e-5 * a * np.abs(out).max())
    np.testing.assert_allclose(spectral(noisy, batch_size=7), out, rtol=1e-5, atol=1e-6)


def test_bad_input_is_an_error_naming_it():
    noise = np.random.default_rng(0).normal(size=(4, 4, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="3-D"):
        spectral(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        spectral(noise, batch_size=0)
    with pytest.raises(ValueError, match="negative"):
        spectral(np.ones((4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="weights='no_such_model'"):
        spectral(noise, weights="no_such_model")
    with pytest.raises(ValueError, match="signal_fraction"):
        ts.SpectralConfig(signal_fraction=1.5)


def test_training_is_deterministic_and_resumes_exactly(tmp_path, monkeypatch):
    config = ts.SpectralConfig(steps=4, batch_size=8, cubes_per_group=1, group_steps=2,
                               val_size=1, val_every=2, seed=5, **TINY)
    whole = ts.train_spectral(tmp_path / "whole", config, progress=False)

    draw, calls = ts._draw, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 4:                     # fail in step 3, after the step-2 checkpoint
            raise KeyboardInterrupt
        return draw(*args)

    monkeypatch.setattr(ts, "_draw", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ts.train_spectral(tmp_path / "resumed", config, progress=False)
    monkeypatch.setattr(ts, "_draw", draw)
    resumed = ts.train_spectral(tmp_path / "resumed", config, progress=False)
    a, b = (torch.load(p.with_name("last.pt"), weights_only=False) for p in (whole, resumed))
    assert a["step"] == b["step"] == 4
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
    with pytest.raises(ValueError, match="steps"):
        ts.train_spectral(tmp_path / "whole", config, progress=False, steps=5)
    out = spectral(np.random.default_rng(1).normal(size=(10, 3, 4)).astype(np.float32),
                   weights=whole)
    assert out.shape == (10, 3, 4)
