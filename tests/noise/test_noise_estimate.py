"""Noise estimation: levels, line-free channels, noise maps, spatial and spectral correlation,
checked against analytic values on synthetic cubes (and a few facts about the real cubes)."""
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import galcube_lib as gl
from galcube_lib.noise import estimate as ne
from galcube_lib.denoise.deep import noise2self

BEAM = (5.0, 3.0)
OBS = gl.Observation(n_pix=64, n_chan=40, channel_kms=30.0, pixel_kpc=0.5, beam_fwhm_px=BEAM,
                     beam_pa_deg=30.0)
GAL = gl.Galaxy(r_eff_kpc=2.0, inclination_deg=50.0, pa_deg=20.0, v_max_kms=200.0)
#: a small beam: many independent noise samples for the spectral correlation
FINE = gl.Observation(n_pix=64, n_chan=40, channel_kms=30.0, pixel_kpc=0.5, beam_fwhm_px=2.0)
REAL = Path(__file__).resolve().parents[2] / "data" / "real"


@pytest.fixture(scope="module")
def clean():
    return gl.simulate([GAL], OBS)


@pytest.fixture(scope="module")
def noisy(clean):
    return gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=0)


@pytest.fixture(scope="module")
def fine_clean():
    return gl.simulate([GAL], FINE)


@pytest.fixture(scope="module")
def fine_noisy(fine_clean):
    return gl.add_noise(fine_clean, peak_snr=5.0, kind="beam", rng=0)


def sigma_of(cube):
    return float(np.std(cube.noise))


def real_cube(name):
    with fits.open(REAL / f"{name}.fits.gz") as hdul:
        data = np.squeeze(hdul[0].data).astype(float)
    data[:, np.all(data == 0, axis=0)] = np.nan  # outside the mosaic footprint
    return data


# --- levels ---------------------------------------------------------------------------------

def test_noise_levels_of_pure_noise_match_its_standard_deviation(fine_noisy):
    noise = fine_noisy.noise
    each = np.std(noise, axis=(1, 2))
    for statistic in ne.NOISE_STATISTICS:
        assert ne.noise_level(noise, statistic) == pytest.approx(sigma_of(fine_noisy), rel=0.02)
        per_channel = ne.noise_level(noise, statistic, per_channel=True)
        assert per_channel.shape == (FINE.n_chan,)
        ok = np.isfinite(per_channel)
        np.testing.assert_allclose(per_channel[ok], each[ok], rtol=0.12)  # ~450 beams a channel


def test_negative_voxels_ignore_the_emission_and_per_channel_levels_follow_the_noise(fine_noisy):
    box = np.s_[:, 16:48, 16:48]
    noise = fine_noisy.noise[box]
    galaxy = fine_noisy.clean[box] * 4 + noise
    assert np.std(galaxy) > 1.2 * np.std(noise)  # the emission inflates the spread
    assert ne.noise_level(galaxy) == pytest.approx(ne.noise_level(noise), rel=0.03)
    scale = np.linspace(1.0, 2.0, FINE.n_chan)[:, None, None]
    per_channel = ne.noise_level(fine_noisy.clean + fine_noisy.noise * scale, per_channel=True)
    # faint emission (< sigma) makes some negative noise samples less negative: a few % low
    np.testing.assert_allclose(
        per_channel, ne.noise_level(fine_noisy.noise * scale, per_channel=True), rtol=0.07)


def test_line_free_level_uses_only_the_line_free_channels(fine_noisy):
    free = ne.line_free_channels(fine_noisy.data)
    per_channel = ne.noise_level(fine_noisy.data, "line_free", per_channel=True)
    assert np.isnan(per_channel[~free]).all() and np.isfinite(per_channel[free]).all()
    assert ne.noise_level(fine_noisy.data, "line_free") == pytest.approx(
        np.std(fine_noisy.noise[free]), rel=0.01)


# --- line-free channels ---------------------------------------------------------------------

def test_line_channels_are_found_and_empty_channels_kept(clean):
    cubes = [gl.add_noise(clean, peak_snr=5.0, rng=seed) for seed in range(10)]
    free = np.array([ne.line_free_channels(cube.data) for cube in cubes]).mean(axis=0)
    peak = clean.data.max(axis=(1, 2)) / sigma_of(cubes[0])
    # the line channels peaking at 4-5 sigma hold only a few beams of emission in ~120
    assert free[peak > 4].mean() < 0.15  # 2 % measured over 100 cubes
    empty = peak < 1e-3
    assert empty.sum() >= 20 and free[empty].mean() > 0.6  # ~8 % false alarms, +-1 guard


def test_false_alarm_rate_on_pure_noise(clean):
    flagged = [~ne.line_free_channels(gl.add_noise(clean, rms_jy=1.0, rng=seed).noise, guard=0)
               for seed in range(10)]
    assert 0.04 <= np.mean(flagged) <= 0.13  # about 1 - Phi(1.5) = 0.067


def test_a_line_filling_the_band_leaves_no_line_free_channel():
    obs = gl.Observation(n_pix=48, n_chan=8, channel_kms=30.0, pixel_kpc=0.5, beam_fwhm_px=3.0)
    cube = gl.add_noise(gl.simulate([GAL], obs), peak_snr=10.0, rng=1)  # edge channels: 5.7 sigma
    assert not ne.line_free_channels(cube.data).any()
    with pytest.raises(ValueError, match='noise_statistic="negative"'):
        ne.noise_level(cube.data, "line_free")


def test_real_cubes_edge_on_disc_has_no_line_free_band_but_the_agb_star_has():
    # NGC 4710's line fills the band: at most the two outermost channels at each end
    free = np.nonzero(ne.line_free_channels(real_cube("ngc4710_carma_co10")))[0]
    assert set(free) <= {0, 1, 42, 43}
    free = np.nonzero(ne.line_free_channels(real_cube("iras07454_alma_hc3n_agb")))[0]
    assert free.size >= 10 and not np.any((free >= 18) & (free <= 37))  # the line


# --- noise maps -----------------------------------------------------------------------------

def primary_beam_gain(n, width_px):
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    return np.exp(-0.5 * (x * x + y * y) / width_px ** 2)


def test_noise_map_from_the_gain_is_sigma0_over_gain(noisy):
    gain = primary_beam_gain(OBS.n_pix, 40.0)
    sigma = sigma_of(noisy)
    corrected = noisy.clean / gain + noisy.noise / gain
    np.testing.assert_allclose(ne.noise_map(corrected, gain=gain) * gain, sigma, rtol=0.03)
    assert np.isfinite(ne.noise_map(corrected, gain=gain * 1.005)).all()  # a model's rounding
    stacked = np.broadcast_to(gain, corrected.shape)
    assert ne.noise_map(corrected, gain=stacked).shape == gain.shape  # same gain in every channel
    varying = stacked * np.linspace(0.8, 1.0, OBS.n_chan)[:, None, None]
    assert ne.noise_map(corrected, gain=varying).shape == corrected.shape
    blank = gain.copy()
    blank[:5] = np.nan
    assert np.isnan(ne.noise_map(corrected, gain=blank)[:5]).all()


def test_local_noise_map_recovers_a_rising_noise_and_is_flat_on_stationary_noise(noisy):
    gain = primary_beam_gain(OBS.n_pix, 40.0)
    sigma = sigma_of(noisy)
    ratio = ne.noise_map(noisy.clean + noisy.noise / gain) * gain / sigma
    assert np.median(np.abs(ratio - 1)) < 0.06 and np.percentile(np.abs(ratio - 1), 95) < 0.15
    flat = ne.noise_map(noisy.data) / sigma
    # ~1.5-beam boxes over 40 channels: each measures the noise to about 5 %
    assert flat.std() < 0.08 and np.mean(flat) == pytest.approx(1.0, abs=0.03)
    for statistic in ("mad", "line_free"):
        assert np.median(ne.noise_map(noisy.data, box_px=16, noise_statistic=statistic)) == \
            pytest.approx(sigma, rel=0.05)


def test_local_noise_map_is_blank_where_the_cube_is(noisy):
    data = noisy.data.copy()
    data[:, :, :10] = np.nan
    out = ne.noise_map(data, box_px=12)
    assert np.isnan(out[:, :10]).all() and np.isfinite(out[:, 10:]).all()
    assert out.dtype == np.float32


# --- spatial correlation --------------------------------------------------------------------

def test_beam_noise_correlation_has_sqrt2_times_the_beam_fwhm(noisy):
    acf = ne.spatial_autocorrelation(noisy.noise, max_lag_px=12)
    assert acf.shape == (25, 25) and acf[12, 12] == 1.0
    np.testing.assert_allclose(acf, acf[::-1, ::-1], atol=1e-12)
    major, minor, pa = ne.correlation_fwhm_px(acf)
    assert major == pytest.approx(np.sqrt(2) * BEAM[0], rel=0.05)
    assert minor == pytest.approx(np.sqrt(2) * BEAM[1], rel=0.05)
    assert pa == pytest.approx(30.0, abs=3.0)


def test_spatial_correlation_ignores_blanks_and_with_negative_parts_the_emission(clean, noisy):
    def fwhm(x, negative=False):
        return ne.correlation_fwhm_px(ne.spatial_autocorrelation(x, negative=negative))[:2]

    reference = fwhm(noisy.noise)
    holed = noisy.noise.copy()
    holed[:, 20:40, 20:40] = np.nan
    holed[np.random.default_rng(0).random(holed.shape) < 0.2] = np.nan
    np.testing.assert_allclose(fwhm(holed), reference, rtol=0.03)
    bright = gl.add_noise(clean, peak_snr=50.0, rng=0)
    assert fwhm(bright.data)[0] > 1.2 * reference[0]  # the plain estimate sees the galaxy
    np.testing.assert_allclose(fwhm(bright.data, True), fwhm(bright.noise, True), rtol=0.03)
    np.testing.assert_allclose(fwhm(bright.noise, True), fwhm(bright.noise), rtol=0.05)


def test_fwhm_of_an_analytic_gaussian_and_of_white_noise():
    dy, dx = np.mgrid[-10:11, -10:11]
    s = 4.0 / (2 * np.sqrt(2 * np.log(2)))
    acf = np.exp(-0.5 * ((dx / (1.5 * s)) ** 2 + (dy / s) ** 2))  # major axis along x: PA 90
    np.testing.assert_allclose(ne.correlation_fwhm_px(acf), (6.0, 4.0, 90.0), rtol=1e-6)
    white = np.random.default_rng(0).standard_normal((20, 64, 64))
    assert np.isnan(ne.correlation_fwhm_px(ne.spatial_autocorrelation(white))).all()
    np.testing.assert_array_equal(ne.spatial_autocorrelation(white[0]),
                                  ne.spatial_autocorrelation(white[:1]))  # a (y, x) map


# --- spectral correlation -------------------------------------------------------------------

def test_spectral_correlation_of_hanning_noise_is_2_3_and_1_6(fine_clean):
    hann = gl.add_noise(fine_clean, peak_snr=5.0, kind="hanning", rng=0).data
    np.testing.assert_allclose(ne.spectral_correlation(hann), [2 / 3, 1 / 6, 0.0], atol=0.04)
    assert noise2self.spectral_correlation is ne.spectral_correlation


def test_spectral_correlation_is_not_fooled_by_bright_lines(fine_clean):
    bright = gl.add_noise(fine_clean, peak_snr=30.0, kind="beam", rng=0).data
    plain = np.sum(bright[1:] * bright[:-1]) / np.sum(bright * bright)
    assert plain > 0.2
    np.testing.assert_allclose(ne.spectral_correlation(bright, max_lag=2), 0.0, atol=0.04)
    holed = bright.copy()
    holed[:, :, :8] = np.nan
    np.testing.assert_allclose(ne.spectral_correlation(holed, max_lag=2), 0.0, atol=0.04)


# --- summary, checks ------------------------------------------------------------------------

def test_describe_noise_of_a_hanning_beam_noise_cube(clean):
    cube = gl.add_noise(clean, peak_snr=5.0, kind="hanning", rng=3)
    d = ne.describe_noise(cube.data, beam_fwhm_px=BEAM)
    assert d["sigma_negative"] == pytest.approx(sigma_of(cube), rel=0.03)
    assert d["sigma_mad"] == pytest.approx(sigma_of(cube), rel=0.05)
    assert d["sigma_line_free"] == pytest.approx(sigma_of(cube), rel=0.1)
    assert d["n_channels"] == 40 and d["n_line_free_channels"] >= 1
    assert 1.0 < d["channel_sigma_max_over_min"] < 1.8  # ~120 beams per channel
    assert d["correlation_fwhm_over_beam"] == pytest.approx(np.sqrt(2), rel=0.1)
    assert d["correlation_fwhm_px"] == pytest.approx(np.sqrt(2 * BEAM[0] * BEAM[1]), rel=0.1)
    assert d["spectral_correlation_lag1"] == pytest.approx(2 / 3, abs=0.05)
    assert d["spectral_correlation_lag2"] == pytest.approx(1 / 6, abs=0.07)
    one = ne.describe_noise(cube.noise[:1])
    assert one["correlation_fwhm_over_beam"] is None and one["spectral_correlation_lag1"] is None


def test_inputs_are_not_modified_and_bad_input_is_named(noisy):
    data = noisy.data.copy()
    data[0, 0, 0] = np.nan
    before = data.copy()
    ne.describe_noise(data, beam_fwhm_px=4.0)
    ne.noise_map(data, box_px=12)
    ne.noise_map(data, gain=np.full(data.shape[1:], 0.5))
    np.testing.assert_array_equal(data, before)
    cases = [
        (lambda: ne.noise_level(data[0]), "data"),
        (lambda: ne.noise_level(data, "std"), "noise_statistic"),
        (lambda: ne.noise_level(np.full((3, 4, 4), np.nan)), "data"),
        (lambda: ne.line_free_channels(data, z=0.0), "z"),
        (lambda: ne.line_free_channels(data, n_sigma=-1.0), "n_sigma"),
        (lambda: ne.line_free_channels(data, guard=-1), "guard"),
        (lambda: ne.noise_map(data, box_px=40), "box_px"),
        (lambda: ne.noise_map(data, gain=np.full(data.shape[1:], 1.5)), "gain"),
        (lambda: ne.noise_map(data, gain=np.ones((3, 3))), "gain"),
        (lambda: ne.spatial_autocorrelation(data, max_lag_px=0), "max_lag_px"),
        (lambda: ne.correlation_fwhm_px(np.ones((4, 4))), "acf"),
        (lambda: ne.spectral_correlation(data, max_lag=40), "max_lag"),
        (lambda: ne.describe_noise(data, beam_fwhm_px=(1.0, 2.0, 3.0)), "beam_fwhm_px"),
        (lambda: ne.describe_noise(data, beam_fwhm_px=-1.0), "beam_fwhm_px"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
    with pytest.raises(TypeError, match="data"):
        ne.noise_level(np.array([["a"]]))


def test_old_argument_names_still_work_with_a_deprecation_warning(fine_noisy):
    data = fine_noisy.data
    calls = [
        (ne.noise_level, {"noise_statistic": "mad"}, {"method": "mad"}),
        (ne.noise_map, {"box_px": 16, "noise_statistic": "mad"}, {"box_px": 16, "method": "mad"}),
        (ne.line_free_channels, {"n_sigma": 1.0}, {"k": 1.0}),
    ]
    for func, new, old in calls:
        old_name, new_name = next(iter(set(old) - set(new))), next(iter(set(new) - set(old)))
        with pytest.warns(DeprecationWarning,
                          match=rf"^{func.__name__}\(\): {old_name}= is deprecated, use {new_name}=$"):
            got = func(data, **old)
        np.testing.assert_array_equal(got, func(data, **new))
    # the new names change the result (the old ones are not ignored)
    assert ne.noise_level(data, noise_statistic="mad") != ne.noise_level(data)
    assert not np.array_equal(ne.line_free_channels(data, n_sigma=1.0), ne.line_free_channels(data))
