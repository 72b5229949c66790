"""Property maps held to their published relations, to the Solomon et al. (1992) line
luminosity, to the rotation curve and to the statistics of their scatter."""
import math

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.sim import properties as props

OBS = gl.Observation(n_pix=64, n_chan=32, channel_kms=30.0, pixel_kpc=0.5, beam_fwhm_px=3.0)


def test_line_luminosity_matches_solomon_1992():
    """Sum of Sigma_line over the map = L' formula L = 1.04e-3 S dv nu_obs D_L^2 (L_sun)."""
    from astropy.cosmology import Planck18
    gal = gl.Galaxy(r_eff_kpc=1.5, flux_jy_kms=2.0, inclination_deg=40.0)
    maps = gl.property_maps(gal, OBS, scatter=False)
    total = maps.sigma_line.sum() * OBS.pixel_kpc ** 2
    d_l = Planck18.luminosity_distance(OBS.redshift).to("Mpc").value
    expected = 1.04e-3 * 2.0 * OBS.line_freq_ghz * d_l ** 2
    assert total == pytest.approx(expected, rel=5e-3)


def test_angular_velocity_is_v_over_deprojected_radius():
    gal = gl.Galaxy(rotation="flat", v_max_kms=200.0, inclination_deg=60.0, pa_deg=0.0,
                    offset_kpc=(2.0, -1.0))
    omega = props.angular_velocity(gal, OBS)
    kms_kpc = 1.0227121650456952e-09   # 1 km/s/kpc in 1/yr
    c = int(OBS.center_px)
    cx, cy = c + 4, c - 2          # the disk's centre in pixels (offset / 0.5 kpc)
    # PA 0: the major axis runs along y; 3 px along it is R = 1.5 kpc
    assert omega[cy + 3, cx] == pytest.approx(200.0 / 1.5 * kms_kpc, rel=1e-9)
    # along the minor axis (x) 3 px on the sky is R = 1.5 kpc / cos 60 = 3 kpc
    assert omega[cy, cx + 3] == pytest.approx(200.0 / 3.0 * kms_kpc, rel=1e-9)
    # the centre: R floored at half a pixel
    assert omega[cy, cx] == pytest.approx(200.0 / 0.25 * kms_kpc, rel=1e-9)


def test_relations_hold_exactly_without_scatter():
    gal = gl.Galaxy(r_eff_kpc=2.0, inclination_deg=50.0, pa_deg=30.0)
    m0 = gl.property_maps(gal, OBS, label_model="moment0", scatter=False)
    kin = gl.property_maps(gal, OBS, label_model="kinematic", scatter=False)
    on = m0.sigma_line > 1e-3 * m0.sigma_line.max()
    np.testing.assert_allclose(np.log10(m0.sigma_sfr[on]), 1.13 * np.log10(m0.sigma_line[on]) - 8.52, atol=1e-9)
    np.testing.assert_allclose(kin.sigma_gas[on], 31.0 * kin.sigma_line[on], rtol=1e-9)
    omega = props.angular_velocity(gal, OBS)
    np.testing.assert_allclose(kin.sigma_sfr[on], 0.017 * kin.sigma_gas[on] * omega[on], rtol=1e-9)
    np.testing.assert_allclose(kin.omega[on], omega[on], rtol=1e-9)
    np.testing.assert_array_equal(m0.omega, kin.omega)
    assert np.all(kin.depletion_time_yr[on] == pytest.approx(1.0 / (0.017 * omega[on])))


def test_two_disks_add_and_a_tail_follows_the_line_relation():
    a = gl.Galaxy(r_eff_kpc=1.0, offset_kpc=(-6.0, 0.0), v_max_kms=100.0)
    b = gl.Galaxy(r_eff_kpc=1.0, offset_kpc=(6.0, 0.0), v_max_kms=300.0)
    both = gl.property_maps([a, b], OBS, scatter=False)
    one = [gl.property_maps(g, OBS, scatter=False) for g in (a, b)]
    np.testing.assert_allclose(both.sigma_sfr, one[0].sigma_sfr + one[1].sigma_sfr, rtol=1e-9, atol=0)
    tail = gl.Tail(host=a, flux_jy_kms=0.5, length_kpc=8.0, angle_deg=0.0, dv_kms=0.0)
    alone = gl.property_maps(tail, OBS, scatter=False)
    on = alone.sigma_line > 1e-3 * alone.sigma_line.max()
    np.testing.assert_allclose(np.log10(alone.sigma_sfr[on]), 1.13 * np.log10(alone.sigma_line[on]) - 8.52, atol=1e-9)
    assert np.all(alone.omega == 0)


@pytest.mark.parametrize("model, slope, intercept", [("delooze2014-all", 1.01, -6.99),
                                                     ("delooze2014-starburst", 1.00, -7.06),
                                                     ("delooze2014-highz", 1.18, -8.52)])
def test_de_looze_fits_give_each_component_its_sfr_spread_like_its_line(model, slope, intercept):
    a = gl.Galaxy(r_eff_kpc=1.0, offset_kpc=(-6.0, 0.0), flux_jy_kms=0.5)
    b = gl.Galaxy(r_eff_kpc=1.5, offset_kpc=(6.0, 0.0), flux_jy_kms=2.0)
    maps = gl.property_maps([a, b], OBS, label_model=model, scatter=False)
    left = np.arange(OBS.n_pix) < OBS.center_px   # the two disks' halves of the map
    for half in (left, ~left):
        line = maps.sigma_line[:, half].sum() * OBS.pixel_kpc ** 2     # L_[CII] in L_sun
        sfr = maps.sigma_sfr[:, half].sum() * OBS.pixel_kpc ** 2
        assert math.log10(sfr) == pytest.approx(slope * math.log10(line) + intercept, abs=2e-3)
        bright = maps.sigma_line[:, half] > 0.1 * maps.sigma_line[:, half].max()
        ratio = maps.sigma_sfr[:, half][bright] / maps.sigma_line[:, half][bright]   # SFR per unit line
        assert np.ptp(np.log10(ratio)) < 1e-4
    # the scatter is one factor per galaxy, of the fit's width over many galaxies
    offsets = [np.log10(gl.property_maps(a, OBS, label_model=model, rng=seed).sigma_sfr.sum()
                        / gl.property_maps(a, OBS, label_model=model, scatter=False).sigma_sfr.sum())
               for seed in range(300)]
    width = props.LUMINOSITY_TO_SFR[model].scatter_dex
    assert np.std(offsets) == pytest.approx(width, rel=0.15) and abs(np.mean(offsets)) < 0.1


def test_scatter_is_reproducible_and_has_the_published_width():
    big = gl.Observation(n_pix=256, n_chan=16, channel_kms=30.0, pixel_kpc=0.5, beam_fwhm_px=3.0)
    gal = gl.Galaxy(r_eff_kpc=40.0, inclination_deg=0.0, sigma_kms=30.0)
    a = gl.property_maps(gal, big, rng=3, scatter_scale_kpc=0.0)
    b = gl.property_maps(gal, big, rng=3, scatter_scale_kpc=0.0)
    c = gl.property_maps(gal, big, rng=4, scatter_scale_kpc=0.0)
    np.testing.assert_array_equal(a.sigma_sfr, b.sigma_sfr)
    assert not np.array_equal(a.sigma_sfr, c.sigma_sfr)
    log_excess = np.log10(a.sigma_gas / (31.0 * a.sigma_line))
    assert log_excess.std() == pytest.approx(0.3, rel=0.03)       # 65536 white draws
    assert abs(log_excess.mean()) < 0.01


def test_correlated_field_has_unit_variance_and_gaussian_correlation():
    gen = np.random.default_rng(0)
    s = 3.0
    fields = np.array([props.correlated_field((128, 128), s, gen) for _ in range(20)])
    assert fields.var() == pytest.approx(1.0, rel=0.05)
    lag = 4
    corr = np.mean(fields * np.roll(fields, lag, axis=2))
    # white noise smoothed by a Gaussian of sigma s: correlation exp(-d^2 / (4 s^2))
    assert corr == pytest.approx(math.exp(-lag ** 2 / (4 * s ** 2)), abs=0.05)


def test_bad_arguments_are_named():
    gal = gl.Galaxy()
    with pytest.raises(ValueError, match="label_model"):
        gl.property_maps(gal, OBS, label_model="dynamic")
    with pytest.raises(ValueError, match="scatter_scale_kpc"):
        gl.property_maps(gal, OBS, scatter_scale_kpc=-1.0)
