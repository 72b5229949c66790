"""Noise: the published recipe, its correlations, reproducibility and real noise cubes."""
import math

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib._util import rng as _rng
from galcube_lib.noise.realise import realisations


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


# ----------------------------------------------------------------------------- bad input (issue 12)

@pytest.mark.parametrize("kwargs, message", [
    (dict(peak_snr=1e-300), r"peak_snr gives a noise rms of .*e\+29\d, outside what single precision holds"),
    (dict(peak_snr=1e300), r"peak_snr gives a noise rms of .*e-30\d"),
    (dict(rms_jy=1e39), r"rms_jy gives a noise rms of 1e\+39, .* \(the cube's units, Jy/beam\)"),
    (dict(rms_jy=1e-40), r"rms_jy gives a noise rms of 1e-40"),
    (dict(kind=np.full((4, 4, 4), 1e38) * np.arange(4)), r"kind \(the noise cube's rms\) gives"),
])
def test_noise_level_beyond_single_precision_is_refused(clean, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gl.add_noise(clean, **kwargs)


@pytest.mark.parametrize("kind", [object(), ["beam"], {"kind": "beam"}])
def test_kind_neither_a_name_nor_an_array_is_a_type_error(clean, kind):
    with pytest.raises(TypeError, match=r"kind must be one of 'white', 'beam', 'hanning' or a 3-D noise cube"):
        gl.add_noise(clean, peak_snr=3.0, kind=kind)


def test_peak_snr_of_a_cube_with_blanked_voxels_uses_its_finite_peak(clean):
    data = clean.data.copy()
    data[:, :5] = np.nan                      # blanked edge, as in real cubes
    noisy = gl.add_noise(gl.Cube(data, clean.header), peak_snr=4.0, rng=0)
    assert noisy.record["noise"]["rms_jy"] == pytest.approx(np.nanmax(data) / 4.0)
    assert np.isfinite(noisy.data[:, 5:]).all()


def test_peak_snr_of_an_all_nan_cube_is_refused(clean):
    with pytest.raises(ValueError, match="peak_snr needs a cube whose largest value is positive and finite"):
        gl.add_noise(gl.Cube(np.full(clean.shape, np.nan), clean.header), peak_snr=4.0)


def test_noise_larger_than_memory_is_refused_before_drawing(clean, monkeypatch):
    import psutil
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("svmem", (), {"available": 2 ** 20})())
    with pytest.raises(ValueError, match=r"drawing 1 noise cube\(s\) of shape \(40, 96, 96\) \(cube\) needs "
                                         r"about .* MiB of memory, more than the 1 MiB available: use a smaller cube"):
        gl.add_noise(clean, peak_snr=4.0)
    with pytest.raises(ValueError, match=r"drawing 1000 noise cube\(s\) .* \(n_realisations\)"):
        realisations(None, clean.shape, 1000, sigma=0.1)


@pytest.mark.parametrize("noise, sigma, n, error, message", [
    (None, 0.1, 0, ValueError, r"n_realisations=0 is outside the valid range \[1, inf\)"),
    (None, 0.1, 2.5, TypeError, "n_realisations must be an integer"),
    (None, math.inf, 2, ValueError, "sigma=inf is outside the valid range"),
    (None, -1.0, 2, ValueError, r"sigma=-1.0 is outside the valid range \(0, inf\)"),
    (None, "abc", 2, TypeError, "sigma must be a real number, got 'abc'"),
    ("abc", None, 2, TypeError, "noise must be a 3-D noise cube or a stack .* got str 'abc'"),
    ({"sigma": 1.0}, None, 2, TypeError, "noise must be a 3-D noise cube or a stack .* got dict"),
    (np.ones((2, 3)), None, 2, ValueError, r"noise must be a finite 3-D noise cube .* shape \(2, 3\)"),
    (None, None, 2, TypeError, "give noise .* or sigma .*, one of the two"),
    (np.ones((2, 4, 4)), 1.0, 2, TypeError, "give noise .* or sigma .*, one of the two"),
])
def test_realisations_check_their_arguments(clean, noise, sigma, n, error, message):
    with pytest.raises(error, match=message):
        realisations(noise, clean.shape, n, sigma=sigma)


def test_realisations_of_a_sigma_are_white_noise_of_that_sigma(clean):
    draws = realisations(None, (8, 16, 16), 3, rng=5, sigma=2.0)
    assert len(draws) == 3 and all(d.shape == (8, 16, 16) for d in draws)
    assert np.std(draws) == pytest.approx(2.0, rel=0.03)        # 6144 voxels: 0.9% scatter
    again = realisations(None, (8, 16, 16), 3, rng=np.random.default_rng(5), sigma=2.0)
    np.testing.assert_array_equal(draws, again)
    # a number as noise is the deprecated spelling of sigma
    with pytest.warns(DeprecationWarning, match=r"^realisations\(\): a number as noise is deprecated, give it as sigma=$"):
        old = realisations(2.0, (8, 16, 16), 3, rng=5)
    np.testing.assert_array_equal(old, draws)
    with pytest.raises(TypeError, match="not both"):
        realisations(2.0, (8, 16, 16), 3, sigma=2.0)


def test_given_realisations_need_no_count(clean):
    stack = np.zeros((2, *clean.shape))
    assert len(realisations(stack, clean.shape, 0)) == 2


@pytest.mark.parametrize("rng", [True, 1.5, "seed"])
def test_rng_that_is_no_seed_is_a_type_error(clean, rng):
    with pytest.raises(TypeError, match=r"rng must be an int, None, a numpy SeedSequence or Generator, got "):
        gl.add_noise(clean, peak_snr=4.0, rng=rng)
