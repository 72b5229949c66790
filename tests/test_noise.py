"""Noise: the published recipe, its correlations, reproducibility and real noise cubes."""
import math

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib import _rng


@pytest.fixture(scope="module")
def clean():
    obs = gl.Observation(n_pix=96, n_chan=40, channel_kms=30.0, beam_fwhm_px=4.0)
    return gl.simulate([gl.Galaxy(r_eff_kpc=2.0)], obs)


def lag_correlation(noise, axis, lag=1):
    a = noise - noise.mean()
    return float((a * np.roll(a, lag, axis=axis)).mean() / a.var())


def test_beam_noise_rms_is_peak_over_snr(clean):
    noisy = gl.add_noise(clean, peak_snr=4.0, kind="beam", rng=0)
    assert noisy.noise.std() == pytest.approx(clean.data.max() / 4.0, rel=1e-5)
    assert np.allclose(noisy.data, clean.data + noisy.noise, atol=1e-7)
    assert noisy.clean is clean.data or np.array_equal(noisy.clean, clean.data)
    assert noisy.header["PEAKSNR"] == 4.0


def test_beam_noise_has_the_beam_autocorrelation(clean):
    # White noise convolved with a Gaussian beam (sigma s) has a Gaussian autocorrelation of
    # width s*sqrt(2): correlation exp(-d^2 / (4 s^2)) at lag d.
    noise = gl.add_noise(clean, rms_jy=1.0, kind="beam", rng=1).noise
    s = 4.0 / 2.3548200450309493
    for lag in (1, 2, 3):
        expected = math.exp(-lag ** 2 / (4 * s ** 2))
        assert lag_correlation(noise, 2, lag) == pytest.approx(expected, abs=0.02)
        assert lag_correlation(noise, 1, lag) == pytest.approx(expected, abs=0.02)
    assert abs(lag_correlation(noise, 0)) < 0.02   # spectrally white


def test_white_and_hanning_correlations(clean):
    white = gl.add_noise(clean, rms_jy=2.0, kind="white", rng=2).noise
    assert white.std() == pytest.approx(2.0, rel=1e-6)
    assert abs(lag_correlation(white, 2)) < 0.01
    han = gl.add_noise(clean, rms_jy=2.0, kind="hanning", rng=2).noise
    # Kernel (1/4, 1/2, 1/4): spectral correlation 2/3 at lag 1 and 1/6 at lag 2.
    assert lag_correlation(han, 0, 1) == pytest.approx(2 / 3, abs=0.02)
    assert lag_correlation(han, 0, 2) == pytest.approx(1 / 6, abs=0.02)


def test_noise_is_reproducible_from_rng_and_record(clean):
    a = gl.add_noise(clean, peak_snr=3.0, rng=7)
    b = gl.add_noise(clean, peak_snr=3.0, rng=7)
    c = gl.add_noise(clean, peak_snr=3.0, rng=8)
    assert np.array_equal(a.data, b.data) and not np.array_equal(a.data, c.data)
    unseeded = gl.add_noise(clean, peak_snr=3.0, rng=None)
    again = gl.add_noise(clean, peak_snr=3.0, rng=_rng.from_record(unseeded.record["noise"]["rng"]))
    assert np.array_equal(unseeded.data, again.data)
    gen = np.random.default_rng(5)
    from_gen = gl.add_noise(clean, peak_snr=3.0, rng=gen)
    replay = gl.add_noise(clean, peak_snr=3.0, rng=_rng.from_record(from_gen.record["noise"]["rng"]))
    assert np.array_equal(from_gen.data, replay.data)


def test_add_noise_does_not_touch_global_state_or_input(clean):
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    copy = clean.data.copy()
    gl.add_noise(clean, peak_snr=3.0, rng=1)
    assert np.random.random() == before
    assert np.array_equal(clean.data, copy)


def test_user_noise_cube_same_shape_is_used_as_is(clean):
    real = np.random.default_rng(4).normal(0, 3e-4, clean.shape)
    noisy = gl.add_noise(clean, kind=real)
    assert np.allclose(noisy.noise, real, rtol=1e-6)
    assert noisy.record["noise"]["kind"] == "cube"


def test_user_noise_cube_statistics_and_correlations_are_kept(clean):
    # A "real" noise cube with beam-like spatial and Hanning spectral correlation, of another size.
    template = gl.add_noise(gl.simulate([gl.Galaxy()], gl.Observation(n_pix=64, n_chan=12, beam_fwhm_px=5.0)),
                            rms_jy=1e-3, kind="hanning", rng=9).noise
    drawn = gl.add_noise(clean, kind=template, rng=10).noise
    assert drawn.shape == clean.shape
    assert drawn.std() == pytest.approx(template.std(), rel=1e-6)
    for axis in (0, 1, 2):
        assert lag_correlation(drawn, axis) == pytest.approx(lag_correlation(template, axis), abs=0.04)


@pytest.mark.parametrize("kwargs, message", [
    (dict(peak_snr=0.0), "peak_snr=0.0"),
    (dict(peak_snr=-2), "peak_snr"),
    (dict(peak_snr=float("nan")), "peak_snr"),
    (dict(rms_jy=0.0), "rms_jy"),
    (dict(peak_snr=3.0, kind="pink"), "kind='pink'"),
    (dict(), "peak_snr"),
    (dict(peak_snr=3.0, rms_jy=1.0), "not both"),
    (dict(kind=np.full((4, 4, 4), np.nan)), "NaN"),
])
def test_bad_noise_arguments(clean, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gl.add_noise(clean, **kwargs)


def test_noisy_cube_cannot_be_noised_again(clean):
    with pytest.raises(ValueError, match="already has noise"):
        gl.add_noise(gl.add_noise(clean, peak_snr=3, rng=0), peak_snr=3)
