"""galcube_lib.report.display against independent expectations: numpy, astropy and analytic cubes."""
import math

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.visualization import ZScaleInterval

import galcube_lib as gl
from galcube_lib.report import display as D

OBS = {"n_pix": 48, "n_chan": 16, "channel_kms": 40.0, "pixel_kpc": 0.5}


def simulated(pa_deg=30.0, offset_kpc=(2.0, -1.0), **obs):
    gal = gl.Galaxy(pa_deg=pa_deg, offset_kpc=offset_kpc, r_eff_kpc=2.0, inclination_deg=60.0)
    return gl.simulate([gal], gl.Observation(**{**OBS, "beam_fwhm_px": 3.0, **obs}))


@pytest.fixture(scope="module")
def clean():
    return simulated()


def point_cube(clean, yx, channel, value=1.0):
    """The simulated cube's header and beam with one bright voxel as data and no record."""
    data = np.zeros(clean.shape, np.float32)
    data[(channel, *yx)] = value
    return clean.replace(data=data, clean=None, record={})


# ----------------------------------------------------------------------------- stretches

def test_stretch_limits_percentile_is_nanpercentile():
    image = np.random.default_rng(0).normal(size=(30, 30))
    image[:3] = np.nan
    assert D.stretch_limits(image, percent=99.0) == pytest.approx(np.nanpercentile(image, [0.5, 99.5]))
    assert D.stretch_limits(image, percent=100.0) == pytest.approx((np.nanmin(image), np.nanmax(image)))


def test_stretch_limits_zscale_is_astropy():
    image = np.random.default_rng(1).normal(size=(40, 40)) + np.eye(40) * 50
    assert D.stretch_limits(image, mode="zscale") == pytest.approx(ZScaleInterval().get_limits(image))


def test_stretch_limits_degenerate_images_keep_a_range():
    assert D.stretch_limits(np.full((4, 4), np.nan)) == (0.0, 1.0)
    assert D.stretch_limits(np.full((4, 4), 2.0)) == (1.5, 2.5)


@pytest.mark.parametrize("kwargs, name", [({"mode": "minmax"}, "mode"), ({"percent": 0.0}, "percent"),
                                          ({"percent": 100.5}, "percent")])
def test_stretch_limits_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        D.stretch_limits(np.ones((3, 3)), **kwargs)


def test_apply_stretch_linear_and_asinh():
    image = np.array([-1.0, 0.0, 0.5, 1.0, 3.0, np.nan])
    linear = D.apply_stretch(image, 0.0, 2.0)
    np.testing.assert_allclose(linear, [0.0, 0.0, 0.25, 0.5, 1.0, np.nan])
    a = 0.1   # astropy's AsinhStretch: asinh(x / a) / asinh(1 / a)
    np.testing.assert_allclose(D.apply_stretch(image, 0.0, 2.0, kind="asinh"),
                               np.arcsinh(linear / a) / np.arcsinh(1 / a))


@pytest.mark.parametrize("args, kwargs, name", [((0.0, 1.0), {"kind": "log"}, "kind"),
                                                ((1.0, 1.0), {}, "vmax")])
def test_apply_stretch_rejects_bad_arguments(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        D.apply_stretch(np.ones(3), *args, **kwargs)


# ----------------------------------------------------------------------------- sky geometry

def test_sky_offsets_match_the_wcs(clean):
    dx, dy = D.sky_offsets_arcsec(clean)
    assert dx.shape == (48,) and dy.shape == (48,)
    ref = SkyCoord(*D.reference_radec(clean), unit="deg")
    corner = SkyCoord(*D.pixel_to_radec(clean, 0.0, 0.0), unit="deg")
    east, north = ref.spherical_offsets_to(corner)
    assert dx[0] == pytest.approx(east.to_value(u.arcsec), abs=1e-4)
    assert dy[0] == pytest.approx(north.to_value(u.arcsec), abs=1e-4)
    assert dx[0] > 0 and np.all(np.diff(dx) < 0) and np.all(np.diff(dy) > 0)   # east to the left
    assert dx[24] == 0.0 and dy[24] == 0.0       # CRPIX 25 (1-based) is the field centre


def test_reference_and_pixel_radec(clean):
    obs = clean.record["observation"]
    assert D.reference_radec(clean) == pytest.approx((obs["ra_deg"], obs["dec_deg"]))
    assert D.pixel_to_radec(clean, 24, 24) == pytest.approx((obs["ra_deg"], obs["dec_deg"]))
    ra, _ = D.pixel_to_radec(clean, np.array([0, 47]), np.array([24, 24]))
    assert ra[0] > obs["ra_deg"] > ra[1]       # x = 0 is east (larger RA)


@pytest.mark.parametrize("pa, angle", [(0.0, math.pi / 2), (90.0, math.pi), (45.0, 0.75 * math.pi)])
def test_beam_ellipse_angle(pa, angle):
    cube = simulated(beam_fwhm_px=(4.0, 2.0), beam_pa_deg=pa)
    beam = D.beam_ellipse(cube)
    assert beam["angle_rad"] == pytest.approx(angle)
    assert beam["pa_deg"] == pa
    assert (beam["bmaj_arcsec"], beam["bmin_arcsec"]) == pytest.approx(
        cube.record["observation"]["beam_fwhm_arcsec"])


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.5, 1.0])
def test_scale_bar_is_a_nice_length_within_the_fraction(clean, fraction):
    width = 48 * clean.pixel_arcsec
    length, label = D.scale_bar(clean, fraction)
    mantissa = length / 10 ** math.floor(math.log10(length))
    assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-9
    assert fraction * width / 2.5 < length <= fraction * width
    kpc = length * OBS["pixel_kpc"] / clean.pixel_arcsec
    assert label == f"{length:g}″ ({kpc:.3g} kpc)"


def test_scale_bar_without_a_distance_and_bad_fraction(clean):
    assert "kpc" not in D.scale_bar(clean.replace(record={}))[1]
    with pytest.raises(ValueError, match="fraction"):
        D.scale_bar(clean, 0.0)


# ----------------------------------------------------------------------------- major axis

@pytest.mark.parametrize("pa", [30.0, 135.0, 250.0])
def test_major_axis_from_record_and_kinematics(pa):
    cube = simulated(pa_deg=pa)
    centre = (24 + -1.0 / 0.5, 24 + 2.0 / 0.5)   # offset_kpc is (x, y)
    (cy, cx), found = D.major_axis(cube)
    assert (cy, cx) == pytest.approx(centre) and found == pytest.approx(pa)
    for measured in (cube.replace(record={}), cube.replace(record={}, clean=None)):
        (cy, cx), found = D.major_axis(measured)
        assert (cy, cx) == pytest.approx(centre, abs=0.5)
        assert abs((found - pa + 180) % 360 - 180) < 5      # receding side, not just the line


def test_major_axis_of_a_noisy_cube_without_record():
    cube = gl.add_noise(simulated(pa_deg=300.0), peak_snr=8.0, rng=2).replace(record={}, clean=None)
    _, found = D.major_axis(cube)
    assert abs((found - 300 + 180) % 360 - 180) < 10


def test_major_axis_of_a_one_channel_map_is_its_long_axis(clean):
    y, x = np.indices((48, 48)) - 24.0
    pa = math.radians(60.0)
    along, across = -x * math.sin(pa) + y * math.cos(pa), x * math.cos(pa) + y * math.sin(pa)
    image = np.exp(-0.5 * ((along / 6.0) ** 2 + (across / 2.0) ** 2))
    cube = clean.crop(((0, 1), (0, 48), (0, 48))).replace(data=image[None], clean=None, record={})
    centre, found = D.major_axis(cube)
    assert centre == pytest.approx((24.0, 24.0), abs=1e-6) and found == pytest.approx(60.0, abs=0.5)


# ----------------------------------------------------------------------------- pv slices

def test_pv_slice_of_a_line_along_the_pa(clean):
    """A ridge of emission along PA 30 whose velocity channel rises with the offset."""
    data = np.zeros(clean.shape)
    pa = math.radians(30.0)
    for k, s in enumerate(range(-7, 8)):
        data[k, round(24 + s * math.cos(pa)), round(24 - s * math.sin(pa))] = 1.0
    pv, offsets = D.pv_slice(data, (24, 24), 30.0, width_px=3, pixel_arcsec=0.2)
    assert pv.shape == (16, offsets.size) and offsets[offsets.size // 2] == 0.0
    peak_offsets = offsets[np.nanargmax(pv, axis=1)[:15]]
    np.testing.assert_allclose(peak_offsets, 0.2 * np.arange(-7, 8), atol=0.2 + 1e-9)
    reversed_pv, _ = D.pv_slice(data, (24, 24), 210.0, width_px=3, pixel_arcsec=0.2)
    np.testing.assert_allclose(reversed_pv, pv[:, ::-1])


@pytest.mark.parametrize("pa, offset", [(90.0, 6.0), (270.0, -6.0), (0.0, 0.0)])
def test_pv_slice_pa_runs_north_through_east(clean, pa, offset):
    """A point 6 px east of the centre (x = cx - 6) lies at +6 along PA 90."""
    cube = point_cube(clean, (20, 24 - 6), channel=5)
    pv, offsets = D.pv_slice(cube, (20, 24), pa)
    if offset:
        assert offsets[np.argmax(np.nan_to_num(pv[5]))] == offset
        assert np.nanmax(pv) == 1.0
    else:
        assert np.nanmax(pv) == 0.0        # the cut to the north misses it


def test_pv_slice_width_averages_parallel_cuts(clean):
    cube = point_cube(clean, (21, 24), channel=2)   # 1 px north of the centre
    narrow, _ = D.pv_slice(cube.data, (20, 24), 90.0, width_px=1.0)
    wide, _ = D.pv_slice(cube.data, (20, 24), 90.0, width_px=3.0, length_px=10)
    assert np.nanmax(narrow) == 0.0 and np.nanmax(wide) == pytest.approx(1 / 3)
    assert wide.shape == (16, 11)


def test_pv_slice_is_nan_outside_and_rejects_bad_width(clean):
    pv, _ = D.pv_slice(clean.data, (5, 5), 45.0, length_px=200)
    assert np.isnan(pv[:, 0]).all() and np.isfinite(pv[:, 100]).all()
    with pytest.raises(ValueError, match="width_px"):
        D.pv_slice(clean.data, (24, 24), 0.0, width_px=0.0)


# ----------------------------------------------------------------------------- line channels

def test_line_channels_span_the_truth(clean):
    peak = clean.clean.max(axis=(1, 2))
    emitting = np.flatnonzero(peak > 0.05 * peak.max())
    picks = D.line_channels(clean, n=5)
    assert picks[0] == emitting[0] and picks[-1] == emitting[-1] and picks.size == 5
    assert np.all(np.diff(picks) > 0)
    noisy = gl.add_noise(clean, peak_snr=6.0, rng=0).replace(clean=None)
    picks = D.line_channels(noisy, n=5)
    assert abs(picks[0] - emitting[0]) <= 1 and abs(picks[-1] - emitting[-1]) <= 1


def test_line_channels_widen_a_narrow_line_and_cap_at_the_cube(clean):
    mask = np.zeros(clean.shape, bool)
    mask[7] = True
    assert D.line_channels(clean, n=5, mask=mask).tolist() == [5, 6, 7, 8, 9]
    assert D.line_channels(clean, n=40).tolist() == list(range(16))


# ----------------------------------------------------------------------------- viewer helpers

def test_diverging_limits_are_symmetric_about_the_centre_and_hold_the_range():
    values = np.linspace(-100.0, 300.0, 401)
    lo, hi = D.diverging_limits(values, centre=40.0, percent=100.0)
    assert (lo, hi) == pytest.approx((-220.0, 300.0))        # 40 -/+ the larger side (260)
    lo, hi = D.diverging_limits(values, percent=100.0)        # default centre: the median, 100
    assert (lo, hi) == pytest.approx((-100.0, 300.0))
    assert D.diverging_limits(np.full(5, np.nan), centre=0.0) == (-1.0, 1.0)   # holds (0, 1)
    with pytest.raises(ValueError, match="centre"):
        D.diverging_limits(values, centre=np.inf)


@pytest.mark.parametrize("kind", ["linear", "asinh"])
def test_stretched_palette_on_a_linear_mapper_shows_the_stretch(kind):
    palette = [f"#{i:06x}" for i in range(256)]
    colours = D.stretched_palette(palette, kind, n=512)
    values = np.array([0.001, 0.05, 0.3, 0.77, 0.999])         # image values between vmin=0, vmax=1
    # a linear colour mapper picks colour floor(v * n); the stretch picks palette floor(s(v) * 256)
    picked = [colours[int(v * 512)] for v in values]
    wanted = [palette[int(s * 256)] for s in D.apply_stretch(values, 0.0, 1.0, kind)]
    if kind == "linear":
        assert picked == wanted
    else:   # within one palette step (the mapper's bins are 1/512 wide)
        assert all(abs(int(p[1:], 16) - int(w[1:], 16)) <= 2 for p, w in zip(picked, wanted))
    assert D.stretched_palette(palette, "linear", n=256) == palette


def test_zero_aligned_limits_share_the_zero_and_hold_the_values():
    a, b = np.array([0.0, 1.0, 2.0]), np.array([-1.0, 3.0, np.nan])
    (a0, a1), (b0, b1) = D.zero_aligned_limits(a, b)
    assert a0 <= 0.0 and a1 >= 2.0 and b0 <= -1.0 and b1 >= 3.0
    assert -a0 / (a1 - a0) == pytest.approx(-b0 / (b1 - b0))   # zero at the same height
    (c0, c1), (d0, d1) = D.zero_aligned_limits([-5.0, -1.0], [1.0, 3.0])
    assert -c0 / (c1 - c0) == pytest.approx(-d0 / (d1 - d0)) and c0 <= -5.0 and d1 >= 3.0


def test_frequency_is_the_radio_doppler_shift():
    rest = 115.2712018e9
    v = np.array([-300.0, 0.0, 1500.0])
    np.testing.assert_allclose(D.frequency_ghz(v, rest), rest * (1.0 - v / 299792.458) / 1e9,
                               rtol=1e-12)
    with pytest.raises(ValueError, match="rest_frequency_hz"):
        D.frequency_ghz(v, 0.0)


def test_region_masks_hold_the_analytic_pixel_sets():
    y, x = np.indices((41, 41))
    circle = D.region_mask((41, 41), (20, 18), 5.5)
    np.testing.assert_array_equal(circle, (x - 18) ** 2 + (y - 20) ** 2 <= 5.5 ** 2)
    box = D.region_mask((41, 41), (20, 18), 3.0, "box")
    assert box.sum() == 7 * 7 and box[17:24, 15:22].all()
    # beam-shaped, PA 0: major axis north (along y), semi-axes 8 and 4 px
    beam = D.region_mask((41, 41), (20, 20), 8.0, "beam", pa_deg=0.0, axis_ratio=0.5)
    np.testing.assert_array_equal(beam, ((y - 20) / 8.0) ** 2 + ((x - 20) / 4.0) ** 2 <= 1.0)
    assert beam.sum() == pytest.approx(math.pi * 8 * 4, rel=0.05)
    turned = D.region_mask((41, 41), (20, 20), 8.0, "beam", pa_deg=90.0, axis_ratio=0.5)
    np.testing.assert_array_equal(turned, beam.T)            # PA 90: major axis east-west
    with pytest.raises(ValueError, match="shape"):
        D.region_mask((41, 41), (20, 20), 3.0, "star")
    with pytest.raises(ValueError, match="radius_px"):
        D.region_mask((41, 41), (20, 20), -1.0)


@pytest.mark.parametrize("shape", D.REGION_SHAPES)
def test_region_outline_bounds_its_mask(shape):
    x, y = D.region_outline((20.0, 18.0), 6.0, shape, pa_deg=30.0, axis_ratio=0.5)
    assert (x[0], y[0]) == pytest.approx((x[-1], y[-1]))     # closed
    inside = D.region_mask((41, 41), (20.0, 18.0), 6.0, shape, pa_deg=30.0, axis_ratio=0.5)
    yy, xx = np.nonzero(inside)
    assert x.min() - 1e-9 <= xx.min() and xx.max() <= x.max() + 1e-9
    assert y.min() - 1e-9 <= yy.min() and yy.max() <= y.max() + 1e-9


@pytest.mark.parametrize("call, error, culprit", [
    (lambda c: D.pv_slice(c, 3.0, 0.0), TypeError, "center_yx"),
    (lambda c: D.region_mask(5, (2, 2), 1.0), TypeError, "image_shape"),
    (lambda c: D.region_mask((5, 5), (2, np.nan), 1.0), ValueError, "center_yx"),
    (lambda c: D.region_outline((2, 2), 1.0, n=0), ValueError, "n="),
    (lambda c: D.stretched_palette([], "linear"), ValueError, "palette"),
    (lambda c: D.zero_aligned_limits(), ValueError, "at least one"),
    (lambda c: D.stretch_limits("abc"), TypeError, "image"),
    (lambda c: D.apply_stretch(["a"], 0.0, 1.0), TypeError, "image"),
    (lambda c: D.frequency_ghz("fast", 1e9), TypeError, "velocity_kms"),
    (lambda c: D.line_channels(c, 3, mask=np.ones((2, 2), bool)), ValueError, "mask has shape"),
])
def test_display_bad_input_names_the_parameter(clean, call, error, culprit):
    with pytest.raises(error, match=culprit):
        call(clean)


def test_contour_levels_are_sigma_multiples_of_a_noisy_map_and_peak_fractions_of_a_clean_one():
    rng = np.random.default_rng(0)
    y, x = np.indices((64, 64))
    clean_map = 100.0 * np.exp(-((x - 32) ** 2 + (y - 30) ** 2) / 50.0)
    assert D.contour_levels(clean_map) == pytest.approx([10.0, 20.0, 40.0, 80.0])
    noisy_map = clean_map + rng.normal(0.0, 5.0, clean_map.shape)   # sigma 5: 3 sigma = 15 > 10 % peak
    levels = D.contour_levels(noisy_map)
    assert levels[0] == pytest.approx(15.0, rel=0.1)
    assert levels == pytest.approx([levels[0] * 2 ** k for k in range(len(levels))])
    assert max(levels) < noisy_map.max() and len(levels) == 3           # 15, 30, 60 (120 > peak)
    assert D.contour_levels(-clean_map) == [] and D.contour_levels(np.full(4, np.nan)) == []
