"""Noise re-sampling uncertainty: exact answers for denoisers whose error is known."""
import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.denoise.deep.uncertainty import calibrate_floor, resample

pytestmark = pytest.mark.deep

OBS = gl.Observation(n_pix=48, n_chan=24, channel_kms=30.0, pixel_kpc=0.5, beam_fwhm_px=3.75)


@pytest.fixture(scope="module")
def noisy():
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=1.5, inclination_deg=40.0)], OBS)
    return gl.add_noise(clean, peak_snr=4.0, kind="beam", rng=0)


def test_identity_has_the_noise_as_its_uncertainty(noisy):
    sigma = resample(lambda x: x, noisy.data, noisy.data, noise=noisy.noise, n_samples=16, rng=1)
    true = noisy.noise.std()
    assert np.median(sigma) == pytest.approx(true, rel=0.1)


def test_white_noise_of_a_given_sigma_is_the_identity_s_uncertainty(noisy):
    """sigma= draws white noise: the identity's re-sampled spread is that sigma (16 draws: the
    per-voxel standard deviation scatters by about 1/sqrt(2 * 15) = 18 %; the median much less)."""
    sigma = resample(lambda x: x, noisy.data, noisy.data, sigma=0.25, n_samples=16, rng=1)
    assert np.median(sigma) == pytest.approx(0.25, rel=0.05)


def test_a_method_that_returns_a_constant_is_uncertain_only_by_its_bias(noisy):
    """f(x) = c: no scatter, and its bias f(d + n) - d = c - c = 0 -> zero uncertainty;
    f(x) = x + b: scatter sigma and bias b -> sqrt(sigma^2 + b^2)."""
    const = np.full(noisy.shape, 0.3, np.float32)
    sigma = resample(lambda x: const, noisy.data, const, n_samples=4, rng=1)  # residual noise
    assert np.abs(sigma).max() < 1e-6
    b = 2 * noisy.noise.std()
    sigma = resample(lambda x: x + b, noisy.data, noisy.data, noise=noisy.noise, n_samples=16,
                     rng=1)
    assert np.median(sigma) == pytest.approx(np.hypot(noisy.noise.std(), b), rel=0.1)


def test_needs_two_samples_and_a_noise_model(noisy):
    with pytest.raises(ValueError, match="n_samples"):
        resample(lambda x: x, noisy.data, noisy.data, n_samples=1)
    with pytest.raises(ValueError, match="no spread"):  # identity: the residual is all zero
        resample(lambda x: x, noisy.data, noisy.data)


def test_floor_calibration_reaches_the_asked_coverage():
    gen = np.random.default_rng(0)
    errors = np.abs(gen.standard_normal(20_000)) * 2.0     # true error spread 2
    sigmas = np.full(errors.size, 1.0)                       # re-sampling says 1: too small
    beta = calibrate_floor(errors, sigmas, np.ones(errors.size))
    assert beta == pytest.approx(np.sqrt(4 - 1), rel=0.05)  # sqrt(1 + beta^2) = 2
    total = np.sqrt(sigmas ** 2 + beta ** 2)
    assert (errors <= total).mean() == pytest.approx(0.68, abs=0.005)
    assert calibrate_floor(errors, sigmas * 10, np.ones(errors.size)) == 0.0


def test_local_peak_is_the_brightest_emission_within_the_window():
    from galcube_lib.denoise.deep.uncertainty import local_peak

    cube = np.zeros((6, 20, 20))
    cube[2, 10, 10] = 5.0
    cube[4, 2, 2] = 1.0
    peak = local_peak(cube, 5)                    # a 5 x 5 window: 2 px each side
    assert peak.shape == cube.shape
    assert (peak[:, 8:13, 8:13] == 5.0).all() and (peak[:, 10, 13] == 0.0).all()
    assert (peak[:, 0:5, 0:5] == 1.0).all()       # same on every channel
    with pytest.raises(ValueError, match="window_px"):
        local_peak(cube, 0)


def test_a_floor_per_peak_bin_covers_faint_and_bright_sources_alike():
    from galcube_lib.denoise.deep.uncertainty import calibrate_peak_floor, peak_floor

    gen = np.random.default_rng(1)
    # 40 faint sources (peak 1) whose errors spread 2, 40 bright ones (peak 6) spreading 0.5
    spreads = np.repeat([2.0, 0.5], 40)
    peaks = np.repeat(np.repeat([1.0, 6.0], 40), 200)
    errors = np.abs(gen.standard_normal(peaks.size)) * np.repeat(spreads, 200)
    weights = np.full(peaks.size, 1 / 200)
    table = calibrate_peak_floor(errors, np.zeros(peaks.size), peaks, weights, 3, n_bins=2)
    # |N(0, 1)| has its 68th percentile at 0.9945
    assert table["beta"] == pytest.approx([2.0 * 0.9945, 0.5 * 0.9945], rel=0.06)
    assert table["window_px"] == 3 and 1.0 <= table["edges"][0] < 6.0
    cover = errors <= np.asarray(table["beta"])[(peaks > table["edges"][0]).astype(int)]
    assert cover[peaks == 1].mean() == pytest.approx(0.68, abs=0.02)
    assert cover[peaks == 6].mean() == pytest.approx(0.68, abs=0.02)
    one = calibrate_floor(errors, np.zeros(peaks.size), np.ones(peaks.size))
    assert (errors <= one)[peaks == 6].mean() > 0.95   # one floor: bright ones over-covered
    cube = np.zeros((4, 9, 9))
    cube[1, 4, 4] = 6.0                                  # bright only within its window
    beta = peak_floor(table, cube)
    assert beta[0, 4, 4] == table["beta"][1] and beta[0, 0, 0] == table["beta"][0]


def test_the_floor_may_be_per_voxel_or_a_function_of_the_denoised_cube(noisy):
    from galcube_lib.denoise.deep.uncertainty import with_uncertainty

    shrink = lambda x: 0.5 * x                                            # noqa: E731
    floor = np.full(noisy.data.shape, 3.0)
    per_voxel = resample(shrink, noisy.data, shrink(noisy.data), n_samples=2, floor=floor)
    assert per_voxel.min() >= 3.0
    out = with_uncertainty(shrink, noisy.data, 2, floor=lambda d: np.where(d > 0, 3.0, 0.0))
    assert (out.uncertainty[out.data > 0] >= 3.0).all()
    assert out.uncertainty[out.data <= 0].min() < 3.0
    with pytest.raises(ValueError, match="floor"):
        resample(shrink, noisy.data, shrink(noisy.data), n_samples=2, floor=floor[0])
    with pytest.raises(ValueError, match="floor"):
        resample(shrink, noisy.data, shrink(noisy.data), n_samples=2, floor=-floor)
