"""ViewerModel without a browser: set what a user would set, check what would be displayed
against values computed here independently (numpy sums, astropy WCS, the simulation's truth)."""
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.visualization import ZScaleInterval
from astropy.wcs import WCS

import galcube_lib as gl
from widgets._viewer_model import ViewerModel

V_SYS = 40.0


@pytest.fixture(scope="module")
def sim():
    """A rotating disk at v_sys = 40 km/s (PA 30 deg), its noisy version and a fake 'denoised'."""
    obs = gl.Observation(n_pix=48, n_chan=24, channel_kms=40.0, pixel_kpc=0.5, beam_fwhm_px=3.0)
    gal = gl.Galaxy(r_eff_kpc=2.0, inclination_deg=60.0, pa_deg=30.0, v_max_kms=200.0,
                    v_sys_kms=V_SYS)
    clean = gl.simulate([gal], obs)
    noisy = gl.add_noise(clean, peak_snr=5.0, rng=0)
    denoised = clean.replace(data=0.5 * (clean.data + noisy.data), clean=None, noise=None)
    return {"noisy": noisy, "denoised": denoised, "truth": clean}


@pytest.fixture()
def model(sim):
    return ViewerModel(sim, residual_of=("noisy", "denoised"))


# ----------------------------------------------------------------------------- channel, view

def test_channel_shows_that_plane_and_its_velocity(model, sim):
    for k in (0, 7, 23):
        model.channel = k
        for name in ("noisy", "denoised", "truth"):
            np.testing.assert_array_equal(model.image(name), sim[name].data[k])
        v = sim["noisy"].velocity_kms[k]
        f_ghz = sim["noisy"].header["RESTFRQ"] * (1.0 - v / 299792.458) / 1e9   # radio convention
        assert model.channel_label == f"channel {k} · {v:.1f} km/s · {f_ghz:.6g} GHz"
        assert model.channel_velocity_kms == v
    assert model.channel_at_velocity(sim["noisy"].velocity_kms[5] + 15.0) == 5


def test_moment0_is_the_channel_sum_times_the_width(model, sim):
    model.view, model.velocity_range_kms = "mom0", (-100.0, 180.0)
    vel = sim["noisy"].velocity_kms
    keep = (vel >= -100.0) & (vel <= 180.0)
    assert keep.sum() == 8
    expected = sim["noisy"].data[keep].sum(axis=0, dtype=float) * 40.0
    np.testing.assert_allclose(model.image("noisy"), expected, rtol=1e-5, atol=1e-9)
    assert model.unit == "Jy/beam km/s"


def test_moment0_with_the_mask_sums_only_bright_voxels(model, sim):
    model.view, model.mask_n_sigma = "mom0", 3.0
    data = sim["noisy"].data.astype(float)
    sigma = 1.4826 * np.median(np.abs(data - np.median(data)))
    expected = np.where(data > 3.0 * sigma, data, 0.0).sum(axis=0) * 40.0
    np.testing.assert_allclose(model.image("noisy"), expected, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(model.image("truth"),
                               np.where(data > 3.0 * sigma, sim["truth"].data, 0).sum(0) * 40.0,
                               rtol=1e-5, atol=1e-9)   # one mask (from "noisy") for every cube


def test_moment1_of_a_symmetric_disk_is_the_systemic_velocity(model):
    model.view = "mom1"
    m0, m1 = model.moments("truth")[:2]
    bright = m0 > 0.1 * m0.max()
    assert abs(np.average(m1[bright], weights=m0[bright]) - V_SYS) < 3.0
    assert abs(m1[24, 24] - V_SYS) < 3.0
    assert model.unit == "km/s"
    band = model.velocity_range_kms[1] - model.velocity_range_kms[0]
    v_rot = 200.0 * math.sin(math.radians(60.0))   # projected rotation speed
    for name in ("noisy", "truth"):   # a diverging map centred on v_sys, spanning the rotation
        lo, hi = model.display_limits(name)
        assert (lo + hi) / 2 == pytest.approx(V_SYS, abs=20.0)
        assert 0.8 * v_rot < (hi - lo) / 2 < band / 2
        assert model.stretch_of(name) == "linear" and model.diverging(name)
    model.stretch_kind = "asinh"   # moment 1 stays linear
    assert model.stretch_of("noisy") == "linear"


def test_moment2_is_positive_where_the_line_is(model):
    model.view = "mom2"
    m0, _, m2 = model.moments("truth")
    bright = m0 > 0.2 * m0.max()
    assert np.all(m2[bright] > 20.0) and np.all(m2[bright] < 250.0)


# ----------------------------------------------------------------------------- pixel, spectra

def test_pixel_gives_its_spectrum_in_every_linked_cube(model, sim):
    model.pixel = (30, 12)
    for name in ("noisy", "denoised", "truth"):
        np.testing.assert_array_equal(model.spectrum(name), sim[name].data[:, 12, 30])
    assert model.pixel_label.startswith("pixel (30, 12) · RA ")


def test_pixel_label_gives_the_wcs_position(model, sim):
    model.pixel = (5, 40)
    sky = WCS(sim["noisy"].header).celestial.pixel_to_world(5, 40)
    ra = sky.ra.to_string(unit="hour", sep=":", precision=3, pad=True)
    dec = sky.dec.to_string(unit="deg", sep=":", precision=2, alwayssign=True, pad=True)
    assert f"RA {ra} Dec {dec}" in model.pixel_label


def test_pixel_at_offset_inverts_the_sky_offsets(model, sim):
    dx, dy = model.offsets_arcsec
    p = sim["noisy"].pixel_arcsec
    assert dx[0] > dx[-1]                                  # east (left) is +dx, at low x
    assert math.isclose(abs(dx[1] - dx[0]), p, rel_tol=1e-6)
    assert model.pixel_at_offset(dx[7] + 0.3 * p, dy[40] - 0.3 * p) == (7, 40)
    assert model.pixel_at_offset(dx[0] + 2 * p, dy[0]) is None


def test_aperture_spectrum_of_a_point_source_is_its_flux_profile(sim):
    base = sim["truth"]
    profile = np.exp(-0.5 * ((base.velocity_kms - 60.0) / 80.0) ** 2)    # Jy
    y, x = np.indices(base.shape[1:])
    sigma = 3.0 / (2 * math.sqrt(2 * math.log(2)))                       # the 3 px beam
    psf = np.exp(-0.5 * ((x - 20) ** 2 + (y - 26) ** 2) / sigma ** 2)    # peak 1 Jy/beam per Jy
    point = base.replace(data=profile[:, None, None] * psf, clean=None)
    model = ViewerModel(point)
    model.pixel, model.aperture_radius_px = (20, 26), 10.0
    np.testing.assert_allclose(model.aperture_spectrum("cube"), profile, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(model.spectrum("cube"), profile, rtol=1e-6)


# ----------------------------------------------------------------------------- stretch, limits

def test_percentile_limits_are_each_panels_own_or_linked(model, sim):
    model.channel, model.stretch_percent = 12, 99.0
    assert model.linked_limits is False                       # default: per panel
    for name in ("noisy", "denoised", "truth"):
        np.testing.assert_allclose(model.display_limits(name),
                                   np.percentile(sim[name].data[12], [0.5, 99.5]))
    model.linked_limits = True
    pooled = np.concatenate([sim[n].data[12].ravel() for n in ("noisy", "denoised", "truth")])
    expected = np.percentile(pooled, [0.5, 99.5])
    for name in ("noisy", "denoised", "truth"):
        np.testing.assert_allclose(model.display_limits(name), expected)
    r = np.abs(np.percentile(sim["noisy"].data[12] - sim["denoised"].data[12], [0.5, 99.5])).max()
    np.testing.assert_allclose(model.display_limits("residual"), (-r, r), rtol=1e-5)


def test_zscale_and_asinh(model, sim):
    model.stretch_mode = "zscale"
    truth = sim["truth"].data[model.channel]
    np.testing.assert_allclose(model.display_limits("truth"), ZScaleInterval().get_limits(truth))
    image, limits = model.image("noisy"), model.display_limits("noisy")
    linear = model.stretched(image, limits)
    model.stretch_kind = "asinh"
    asinh = model.stretched(image, limits)
    assert 0.0 <= asinh.min() and asinh.max() <= 1.0
    middle = (linear > 0.05) & (linear < 0.95)
    assert np.all(asinh[middle] > linear[middle])          # asinh lifts the faint end


# ----------------------------------------------------------------------------- linked cubes

def test_residual_is_noisy_minus_denoised(model, sim):
    assert model.names == ["noisy", "denoised", "truth", "residual"]
    model.channel, model.pixel = 9, (22, 25)
    np.testing.assert_allclose(model.image("residual"), sim["noisy"].data[9] - sim["denoised"].data[9])
    np.testing.assert_allclose(model.spectrum("residual"),
                               sim["noisy"].data[:, 25, 22] - sim["denoised"].data[:, 25, 22])


def test_set_cubes_keeps_channel_and_pixel(model, sim):
    model.channel, model.pixel = 4, (10, 11)
    model.set_cubes([sim["truth"]], names=["truth"])
    assert model.names == ["truth"] and model.channel == 4 and model.pixel == (10, 11)


def test_observers_hear_each_change_once(model):
    heard = []
    model.observe(heard.append)
    model.channel = 3
    model.channel = 3                                       # unchanged: not reported
    model.view = "mom0"
    model.pixel = (1, 2)
    model.stretch_kind = "asinh"
    model.unobserve(heard.append)
    model.channel = 5
    assert heard == ["channel", "view", "pixel", "stretch"]


# ----------------------------------------------------------------------------- PV

def test_pv_along_the_major_axis_shows_the_receding_side_positive(sim):
    model = ViewerModel(sim["truth"])
    assert model.pv_pa_deg == 30.0 and model.pv_center_yx == (24.0, 24.0)
    pv, offsets = model.pv("cube")
    vel = model.velocity_kms[:, None] - V_SYS
    weights = np.nan_to_num(pv)
    mean_v = (weights * vel).sum(0) / np.maximum(weights.sum(0), 1e-30)
    assert mean_v[(offsets > 0.3) & (offsets < 1.5)].min() > 50.0
    assert mean_v[(offsets < -0.3) & (offsets > -1.5)].max() < -50.0
    (x0, y0), (x1, y1) = model.pv_endpoints_arcsec          # toward PA 30: east of north
    assert x1 > 0 and y1 > 0 and math.isclose(math.degrees(math.atan2(x1, y1)), 30.0, abs_tol=1e-6)
    assert math.isclose(x0, -x1) and math.isclose(y0, -y1)  # centred on the reference pixel


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("attribute, value", [
    ("channel", 24), ("channel", -1), ("view", "mom3"), ("pixel", (48, 0)), ("pixel", (0, -1)),
    ("velocity_range_kms", (1000.0, 2000.0)), ("mask_n_sigma", 0.0), ("mask_from", "nope"),
    ("aperture_radius_px", 0.0), ("stretch_mode", "log"), ("stretch_percent", 120.0),
    ("stretch_kind", "sqrt"), ("pv_width_px", -1.0), ("pv_center_yx", (60.0, 0.0)),
])
def test_bad_settings_raise_naming_the_parameter(model, attribute, value):
    with pytest.raises(ValueError, match=attribute.split("_yx")[0]):
        setattr(model, attribute, value)


def test_bad_cubes_raise(sim):
    small = sim["truth"].crop(((0, 24), (0, 40), (0, 40)))
    with pytest.raises(ValueError, match="cubes"):
        ViewerModel({"a": sim["truth"], "b": small})
    with pytest.raises(ValueError, match="residual_of"):
        ViewerModel(sim, residual_of=("noisy", "nope"))
    with pytest.raises(ValueError, match="name"):
        ViewerModel(sim).image("nope")
    with pytest.raises(ValueError, match="velocity_kms"):
        ViewerModel(sim).channel_at_velocity(5000.0)


# ----------------------------------------------------------------------------- export

def test_export_fits_channel_view_writes_the_cube(model, sim, tmp_path):
    path = model.export_fits(tmp_path / "noisy.fits", "noisy")
    back = gl.read_fits(path)
    np.testing.assert_array_equal(back.data, sim["noisy"].data)
    np.testing.assert_allclose(back.velocity_kms, sim["noisy"].velocity_kms)
    assert back.header["CRVAL1"] == sim["noisy"].header["CRVAL1"]


def test_export_fits_moment_view_writes_the_map_with_celestial_wcs(model, sim, tmp_path):
    model.view, model.velocity_range_kms = "mom0", (-100.0, 180.0)
    path = model.export_fits(tmp_path / "mom0.fits", "truth")
    with fits.open(path) as hdul:
        data, header = hdul[0].data, hdul[0].header
    np.testing.assert_allclose(data, model.image("truth"), rtol=1e-6)
    wcs = WCS(header)
    assert wcs.naxis == 2 and header["BUNIT"] == "Jy/beam km/s"
    ra, dec = wcs.pixel_to_world_values(3, 40)
    ra0, dec0 = WCS(sim["truth"].header).celestial.pixel_to_world_values(3, 40)
    assert math.isclose(ra, ra0) and math.isclose(dec, dec0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mom0.fits"]   # nothing left beside it


def test_moment0_of_blank_spaxels_is_nan_even_when_the_mask_is_empty(sim):
    noisy = sim["noisy"]
    data = noisy.data.copy()
    data[:, :, :10] = np.nan                                 # blank columns, e.g. off a mosaic
    model = ViewerModel({"noisy": noisy.replace(data=data)})
    model.view, model.mask_n_sigma = "mom0", 1e6              # nothing is that bright
    m0 = model.image("noisy")
    assert np.isnan(m0[:, :10]).all() and (m0[:, 10:] == 0).all()
    model.mask_n_sigma = None                                 # no mask: the sum, blanks NaN
    assert np.isnan(model.image("noisy")[:, :10]).all()
    assert np.isfinite(model.image("noisy")[:, 10:]).all()
