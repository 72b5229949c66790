"""noise2self: held-out channels whose neighbours are decorrelated with the noise's measured
spectral correlation, J-invariance."""
import numpy as np
import pytest
import torch

import galcube_lib as gl
from galcube_lib.denoise.deep import weights as _models
from galcube_lib.denoise.deep.noise2self import (count_correlated_lags, masked, noise2self,
                                                 spectral_correlation)
from galcube_lib.denoise.deep.networks.unet3d import UNet3D

pytestmark = pytest.mark.deep

OBS = gl.Observation(n_pix=48, n_chan=40, channel_kms=30.0, pixel_kpc=0.5, beam_fwhm_px=3.75)
GAL = gl.Galaxy(r_eff_kpc=1.5, inclination_deg=50.0, pa_deg=20.0, v_max_kms=200.0)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    return _models.save(UNet3D(width=2), path, {"network": {"width": 2, "dropout": 0.0}})


@pytest.fixture(scope="module")
def clean():
    return gl.simulate([GAL], OBS)


def test_spectral_correlation_of_hanning_noise_is_2_3_and_1_6(clean):
    white = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=0).data
    hann = gl.add_noise(clean, peak_snr=5.0, kind="hanning", rng=0).data
    np.testing.assert_allclose(spectral_correlation(hann), [2 / 3, 1 / 6, 0.0], atol=0.04)
    np.testing.assert_allclose(spectral_correlation(white), [0, 0, 0], atol=0.04)
    assert count_correlated_lags(white) == 0 and count_correlated_lags(hann) == 2


def test_masking_hides_the_held_out_channels_and_decorrelates_their_neighbours():
    x = np.random.default_rng(0).standard_normal((20, 4, 4))
    xm, held = masked(x, phase=1, period=6, acf=(0.5,))
    assert list(np.nonzero(held)[0]) == [1, 7, 13, 19]
    # a neighbour at lag 1: (x_j - 0.5 x_k) / 0.5; farther channels are kept
    np.testing.assert_allclose(xm[8], (x[8] - 0.5 * x[7]) / 0.5)
    np.testing.assert_array_equal(xm[10], x[10])
    # a held-out channel: linear interpolation between its decorrelated neighbours
    np.testing.assert_allclose(xm[7], (xm[6] + xm[8]) / 2)
    y = x.copy()
    y[7] += 100.0 * (1 - 0.5) / 0.5    # noise at k shared with its neighbours in proportion
    y[[6, 8]] += 50.0                  # 0.5 (their correlation): nothing of it reaches the input
    np.testing.assert_allclose(masked(y, 1, 6, (0.5,))[0][5:10], xm[5:10], atol=1e-9)


def test_decorrelated_neighbours_carry_none_of_the_held_out_channels_hanning_noise():
    e = np.random.default_rng(1).standard_normal((400, 24, 24))
    noise = 0.25 * np.roll(e, 1, 0) + 0.5 * e + 0.25 * np.roll(e, -1, 0)
    acf = spectral_correlation(noise, 2)
    xm, held = masked(noise, 0, 12, acf)
    k = np.nonzero(held)[0][1:-1]
    for lag in (-3, -2, -1, 0, 1, 2, 3):   # 0: the interpolated held-out channel itself
        r = np.mean(xm[k + lag] * noise[k]) / np.sqrt(np.mean(xm[k + lag] ** 2)
                                                      * np.mean(noise[k] ** 2))
        assert abs(r) < 0.02, (lag, r)      # raw Hanning noise: 2/3 at lag 1, 1/6 at lag 2


def test_held_out_channels_keep_a_hanning_smoothed_lines_width():
    v = np.arange(60.0)
    line = np.convolve(np.exp(-0.5 * ((v - 30) / (12 / 2.355)) ** 2), [0.25, 0.5, 0.25], "same")
    cube = line[:, None, None] * np.ones((1, 2, 2))
    period = 12
    out = np.zeros_like(cube)
    for phase in range(period):       # what a network that returns its input would predict
        xm, held = masked(cube, phase, period, (2 / 3, 1 / 6))
        out[held] = xm[held]
    fwhm = lambda s: int(np.sum(s >= s.max() / 2))  # noqa: E731
    assert fwhm(out[:, 0, 0]) == fwhm(line) == 13
    assert out.max() == pytest.approx(line.max(), rel=0.08)
    # (hiding the two correlated neighbours on each side instead gave 15 channels and 84 %)


def test_prediction_of_a_channel_never_sees_that_channel(clean, tiny_weights):
    noisy = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=1).data
    out = noise2self(noisy, weights=tiny_weights, steps=0, correlated_lags=0).data
    bumped = noisy.copy()
    j = 17
    bumped[j] = np.where(bumped[j] > 0, bumped[j] + 5.0, bumped[j])  # noise scale unchanged
    out2 = noise2self(bumped, weights=tiny_weights, steps=0, correlated_lags=0).data
    np.testing.assert_allclose(out2[j], out[j], rtol=1e-5, atol=1e-6)
    assert np.abs(out2 - out).max() > 1e-3  # other channels do see it


def test_fine_tuning_is_reproducible_and_learns(clean, tiny_weights):
    noisy = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=2).data
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = noise2self(noisy, weights=tiny_weights, steps=3, crop=(32, 32, 32), rng=4).data
    assert torch.equal(torch.get_rng_state(), before)  # global torch RNG left to the caller
    b = noise2self(noisy, weights=tiny_weights, steps=3, crop=(32, 32, 32), rng=4).data
    np.testing.assert_array_equal(a, b)
    untrained = noise2self(noisy, weights=tiny_weights, steps=0).data
    assert np.abs(a - untrained).max() > 0
    other = noise2self(noisy, weights=tiny_weights, steps=3, crop=(32, 32, 32), rng=5).data
    assert np.abs(a - other).max() > 0  # the seed chooses the crops and phases


def test_rng_follows_spec_7(clean, tiny_weights):
    noisy = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=2).data[:, :32, :32]
    run = lambda rng: noise2self(noisy, weights=tiny_weights, steps=2, crop=(32, 32, 32),
                                 rng=rng).data
    np.testing.assert_array_equal(run(np.random.default_rng(7)), run(np.random.default_rng(7)))
    np.testing.assert_array_equal(run(np.random.SeedSequence(7)),
                                  run(np.random.SeedSequence(7)))
    assert run(None).shape == noisy.shape
    with pytest.raises(TypeError, match="rng"):
        run("7")


def test_uncertainty_comes_with_the_same_denoised_cube(clean, tiny_weights):
    noisy = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=2).data[:, :32, :32]
    plain = noise2self(noisy, weights=tiny_weights, steps=0, correlated_lags=0)
    assert plain.uncertainty is None
    out, sigma = noise2self(noisy, weights=tiny_weights, steps=0, correlated_lags=0,
                            uncertainty=2)
    np.testing.assert_array_equal(out, plain.data)
    assert sigma.shape == noisy.shape and (sigma > 0).all()


def test_options_are_checked(clean, tiny_weights):
    noisy = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=1).data
    with pytest.raises(ValueError, match="period"):
        noise2self(noisy, weights=tiny_weights, period=1, correlated_lags=0)
    with pytest.raises(ValueError, match="channels"):
        noise2self(noisy[:3], weights=tiny_weights, correlated_lags=0)


def test_the_old_name_blind_channels_still_works_with_a_warning(clean, tiny_weights):
    noisy = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=1).data
    with pytest.warns(DeprecationWarning, match="blind_channels"):
        old = noise2self(noisy, weights=tiny_weights, steps=0, blind_channels=0).data
    np.testing.assert_array_equal(old, noise2self(noisy, weights=tiny_weights, steps=0,
                                                  correlated_lags=0).data)
