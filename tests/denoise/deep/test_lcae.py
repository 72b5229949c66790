"""LCAE: the locally connected autoencoder trained on the cube itself with a segmentation prior."""
import itertools

import numpy as np
import pytest
import torch

import galcube_lib as gl
from galcube_lib.denoise.deep.lcae import lcae
from galcube_lib.denoise.deep.networks.lcae import LocallyConnectedAE, window_starts

pytestmark = pytest.mark.deep

BEAM = 3.75
FAST = {"epochs": 3, "hidden": 8}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def source():
    """A resolved disk at peak SNR 5 in beam-correlated noise, non-square field."""
    obs = gl.Observation(n_pix=48, n_chan=40, channel_kms=30.0, beam_fwhm_px=BEAM)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=2.0, inclination_deg=50.0)], obs)
    noisy = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=3)
    return noisy.data[:, 2:46, 6:42], clean.data[:, 2:46, 6:42]


@pytest.mark.parametrize("n_chan, window, stride", [(40, 8, 4), (41, 8, 4), (10, 5, 5), (5, 8, 4),
                                                    (23, 6, 1)])
def test_windows_cover_every_channel_with_normalised_weights(n_chan, window, stride):
    net = LocallyConnectedAE(n_chan, window, stride)
    starts = window_starts(n_chan, net.window, stride)
    assert starts[0] == 0 and starts[-1] + net.window == n_chan
    assert all(0 < b - a <= stride for a, b in itertools.pairwise(starts))
    weight = torch.zeros(n_chan).index_add_(0, net.index.flatten(), net.taper.flatten())
    torch.testing.assert_close(weight, torch.ones(n_chan))
    assert net(torch.randn(3, n_chan)).shape == (3, n_chan)


def test_no_weights_are_shared_between_windows():
    net = LocallyConnectedAE(40, 8, 4, hidden=5, code=2)
    assert net.n_windows == 9
    assert [tuple(w.shape) for w in net.weights] == [(9, 8, 5), (9, 5, 2), (9, 2, 5), (9, 5, 8)]
    assert not torch.equal(net.weights[0][0], net.weights[0][1])


@pytest.mark.parametrize("channel", [0, 13, 16, 39])
def test_a_channel_only_affects_the_windows_that_contain_it(channel):
    net = LocallyConnectedAE(40, 8, 4, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, 40, generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[:, channel] += 3.0
    with torch.no_grad():
        changed = (net(x) != net(y)).any(dim=0)
    starts = window_starts(40, 8, 4)
    reach = torch.zeros(40, dtype=torch.bool)
    for s in starts:
        if s <= channel < s + 8:
            reach[s:s + 8] = True
    assert not changed[~reach].any()         # exactly unchanged outside those windows
    assert changed[channel]


def test_shape_dtype_and_input_untouched(source):
    data = source[0][:21, :17, :30].copy()   # odd, non-square
    before = data.copy()
    out = lcae(data, beam_fwhm_px=BEAM, **FAST)
    assert out.shape == data.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(data, before)


def test_reproducible_from_rng_and_leaves_global_settings_alone(source):
    data = source[0][:, :20, :24]
    state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    torch.set_num_threads(2)                 # lcae trains on one thread and restores this
    a = lcae(data, beam_fwhm_px=BEAM, rng=0, **FAST)
    assert torch.get_num_threads() == 2
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    np.testing.assert_array_equal(a, lcae(data, beam_fwhm_px=BEAM, rng=0, **FAST))
    assert not np.array_equal(a, lcae(data, beam_fwhm_px=BEAM, rng=1, **FAST))


def test_scale_equivariant(source):
    data = source[0][:, :20, :24]
    out = lcae(data, beam_fwhm_px=BEAM, **FAST)
    for a in (4.0, 3.7):
        np.testing.assert_allclose(lcae(np.float32(a) * data, beam_fwhm_px=BEAM, **FAST), a * out,
                                   rtol=1e-4, atol=1e-4 * a * np.abs(out).max())


def test_reduces_the_error_on_a_simulated_source(source):
    noisy, clean = source
    out = lcae(noisy, beam_fwhm_px=BEAM, epochs=30)
    src = clean.max(axis=0) > 0.05 * clean.max()
    gain = np.sqrt(((noisy - clean)[:, src] ** 2).mean() / ((out - clean)[:, src] ** 2).mean())
    assert gain > 1.5
    assert 0.7 < out[:, src].sum() / clean[:, src].sum() < 1.3


def test_pure_noise_is_pulled_to_zero(source):
    noise = source[0] - source[1]
    out = lcae(noise, beam_fwhm_px=BEAM, epochs=10)
    ap = gl.metrics.aperture(noise.shape, (22, 18), 16)
    sigma_ap = gl.metrics.offsource_flux_noise(noise, ap, n_placements=50)
    assert abs(gl.metrics.aperture_flux(out, ap)) < 0.1 * sigma_ap
    assert np.sqrt((out ** 2).mean()) < 0.1 * np.sqrt((noise ** 2).mean())


@pytest.mark.parametrize("option, value, kind", [
    ("window", 0, ValueError), ("stride", 9, ValueError), ("hidden", 2.5, TypeError),
    ("code", 0, ValueError), ("epochs", 0, ValueError), ("lr", 0.0, ValueError),
    ("batch_size", 0, ValueError), ("q", 3.0, ValueError), ("lam", -1.0, ValueError),
    ("beam_fwhm_px", -1.0, ValueError)])
def test_bad_options_are_errors_naming_them(option, value, kind):
    data = np.random.default_rng(0).normal(size=(8, 6, 6)).astype(np.float32)
    options = {"beam_fwhm_px": BEAM, option: value}
    with pytest.raises(kind, match=option):
        lcae(data, **options)


def test_not_a_cube_is_an_error():
    with pytest.raises(ValueError, match="3-D"):
        lcae(np.zeros((5, 5), np.float32), beam_fwhm_px=BEAM)
