"""noise2self: held-out channels that respect the noise's spectral correlation, J-invariance."""
import numpy as np
import pytest
import torch

import galcube_lib as gl
from galcube_lib.denoise.deep import weights as _models
from galcube_lib.denoise.deep.noise2self import blind_width, masked, noise2self, spectral_correlation
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
    assert blind_width(white) == 0 and blind_width(hann) == 2


def test_masking_hides_the_held_out_channels_and_their_neighbours():
    x = np.random.default_rng(0).standard_normal((20, 4, 4))
    xm, held = masked(x, phase=1, period=6, blind=1)
    assert list(np.nonzero(held)[0]) == [1, 7, 13, 19]
    hidden = [0, 1, 2, 6, 7, 8, 12, 13, 14, 18, 19]
    y = x.copy()
    y[hidden] += 100.0  # what is hidden may be anything: the masked input does not change
    np.testing.assert_array_equal(masked(y, 1, 6, 1)[0], xm)
    # hidden channels are interpolated between the nearest visible ones
    np.testing.assert_allclose(xm[7], (2 * x[5] + 2 * x[9]) / 4)
    np.testing.assert_allclose(xm[0], x[3])


def test_prediction_of_a_channel_never_sees_that_channel(clean, tiny_weights):
    noisy = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=1).data
    out = noise2self(noisy, weights=tiny_weights, steps=0, blind_channels=0).data
    bumped = noisy.copy()
    j = 17
    bumped[j] = np.where(bumped[j] > 0, bumped[j] + 5.0, bumped[j])  # noise scale unchanged
    out2 = noise2self(bumped, weights=tiny_weights, steps=0, blind_channels=0).data
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
    plain = noise2self(noisy, weights=tiny_weights, steps=0, blind_channels=0)
    assert plain.uncertainty is None
    out, sigma = noise2self(noisy, weights=tiny_weights, steps=0, blind_channels=0,
                            uncertainty=2)
    np.testing.assert_array_equal(out, plain.data)
    assert sigma.shape == noisy.shape and (sigma > 0).all()


def test_options_are_checked(clean, tiny_weights):
    noisy = gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=1).data
    with pytest.raises(ValueError, match="period"):
        noise2self(noisy, weights=tiny_weights, period=1, blind_channels=0)
    with pytest.raises(ValueError, match="channels"):
        noise2self(noisy[:3], weights=tiny_weights, blind_channels=0)
