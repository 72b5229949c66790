"""Defects of the CubeViewer found in a real-browser trial (issue 12), checked on the real bokeh
figures and the model: orientation, the shipped real cubes, colour limits and bars, hover,
frequency axis, regions and contours."""
import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from test_real_cubes import EXTRA, REAL
from test_viewer_model import sim  # noqa: F401 (fixture: noisy, denoised and truth of a disk)

import galcube_lib as gl
from widgets.viewer import CubeViewer

REAL_FILES = sorted(REAL.glob("*.fits.gz"))   # every shipped file, the gain companion too
V_SYS = 40.0   # the disk's systemic velocity in ``sim``


def _screen_fraction_of_peak(viewer, name):
    """Where the brightest pixel of the image source of ``name`` lands across the image frame:
    0 at the left edge, 1 at the right, from the array bokeh draws and its x / dw."""
    data = viewer.figures.sources[name].data
    image = np.asarray(data["image"][0])
    _, col = np.unravel_index(np.nanargmax(image), image.shape)
    x_data = data["x"][0] + (col + 0.5) * data["dw"][0] / image.shape[1]
    x_range = viewer.figures.images[0].x_range
    return (x_data - x_range.start) / (x_range.end - x_range.start)


def _east_source_fraction(cube):
    """The fraction of :func:`_screen_fraction_of_peak` of a CubeViewer of ``cube``."""
    viewer = CubeViewer(cube)
    return _screen_fraction_of_peak(viewer, "cube")


def test_a_simulated_source_east_of_centre_is_drawn_left():
    obs = gl.Observation(n_pix=48, n_chan=8, channel_kms=40.0, pixel_kpc=0.5, beam_fwhm_px=3.0)
    cube = gl.simulate([gl.Galaxy(r_eff_kpc=1.0, offset_kpc=(-6.0, 0.0), inclination_deg=0.0)], obs)
    _, x = np.unravel_index(cube.data.sum(0).argmax(), cube.shape[1:])
    ra_peak, _ = cube.wcs.celestial.pixel_to_world_values(x, 24)
    assert ra_peak > cube.header["CRVAL1"]          # the source is east (larger RA) of the centre
    # 12 px east of the centre of a 48 px field: a quarter of the way from the left edge
    assert _east_source_fraction(cube) == pytest.approx(0.5 - 12 / 48, abs=1.5 / 48)


def test_a_source_east_of_centre_in_a_real_ra_sin_cube_is_drawn_left():
    real = gl.read_fits(REAL / "ngc4324_carma_co10.fits.gz")
    assert real.header["CTYPE1"] == "RA---SIN"
    wcs = real.wcs.celestial
    centre = wcs.pixel_to_world(49.5, 49.5)
    east = centre.spherical_offsets_by(20 * u.arcsec, 0 * u.arcsec)   # 20″ toward the east
    x, y = (int(round(float(p))) for p in wcs.world_to_pixel(SkyCoord(east)))
    data = np.zeros(real.shape, np.float32)
    data[:, y, x] = 1.0
    fraction = _east_source_fraction(real.replace(data=data))
    assert fraction < 0.5
    assert fraction == pytest.approx(0.5 - 20 / 100, abs=1.5 / 100)   # 1″ pixels, 100 px field


@pytest.mark.parametrize("path", REAL_FILES, ids=[p.name for p in REAL_FILES])
def test_every_shipped_real_cube_opens_or_says_why(path):
    extra = EXTRA.get(path.name.removesuffix(".fits.gz"), {})
    if "beam" in extra:                # a map without a beam: the reader names the file and the fix
        with pytest.raises(ValueError, match="beam=") as err:
            gl.read_fits(path)
        assert path.name in str(err.value)
    cube = gl.read_fits(path, **extra)
    viewer = CubeViewer(cube)
    vel = cube.velocity_kms
    assert viewer.velocity_range.min <= viewer.velocity_range.max
    assert (viewer.velocity_range.min, viewer.velocity_range.max) == (vel.min(), vel.max())
    assert viewer.velocity.min <= viewer.model.channel_velocity_kms <= viewer.velocity.max
    assert viewer.slider.max == cube.shape[0] - 1
    # the boxes show the model's values, not values clamped to the boxes' default 0..100
    assert viewer.velocity.value == round(viewer.model.channel_velocity_kms, 2)
    assert viewer.aperture.value == round(viewer.model.aperture_radius_px, 2)


def test_set_cubes_moves_the_velocity_bounds_either_way():
    real = gl.read_fits(REAL / "ngc4324_carma_co10.fits.gz")          # 1450-1850 km/s
    obs = gl.Observation(n_pix=100, n_chan=21, channel_kms=20.0, pixel_kpc=0.5, beam_fwhm_px=3.0)
    sim = gl.simulate([gl.Galaxy()], obs)                             # -200..200 km/s
    viewer = CubeViewer(real)
    viewer.set_cubes(sim)
    assert viewer.velocity_range.max == pytest.approx(sim.velocity_kms.max())
    viewer.set_cubes(real)
    assert viewer.velocity_range.min == pytest.approx(real.velocity_kms.min())


# ----------------------------------------------------------------------------- display defaults

@pytest.fixture()
def viewer(sim):
    return CubeViewer(sim, residual_of=("noisy", "denoised"))


def _saturated(viewer, name):
    """Fraction of the finite values of panel ``name`` at or above its colour mapper's top."""
    image = np.asarray(viewer.figures.sources[name].data["image"][0])
    image = image[np.isfinite(image)]
    return np.mean(image >= viewer.figures.mappers[name].high)


@pytest.mark.parametrize("view", ["channel", "mom0", "mom2"])
def test_each_panel_has_its_own_limits_and_a_colour_bar_with_units(viewer, view):
    viewer.view.value = view
    m = viewer.model
    for name in m.names:
        mapper, bar = viewer.figures.mappers[name], viewer.figures.colorbars[name]
        assert (mapper.low, mapper.high) == pytest.approx(m.display_limits(name))
        assert bar.color_mapper is mapper
        unit = {"channel": "Jy/beam", "mom0": "Jy/beam km/s", "mom2": "km/s"}[view]
        assert bar.title == f"{view} ({unit})"
    truth = m.image("truth")
    expected = np.percentile(truth[np.isfinite(truth)], [0.25, 99.75])   # the truth's own 99.5 %
    assert (viewer.figures.mappers["truth"].low, viewer.figures.mappers["truth"].high) == \
        pytest.approx(expected)
    assert _saturated(viewer, "truth") < 0.01                 # not a flat saturated field
    viewer.linked.value = True                                 # linked: one set for all but residual
    assert viewer.figures.mappers["truth"].high == viewer.figures.mappers["noisy"].high


def test_moment1_is_linear_diverging_and_centred_on_the_systemic_velocity(viewer):
    from widgets._viewer_figures import DIVERGING

    viewer.stretch.value = "asinh"
    viewer.view.value = "mom1"
    for name in ("noisy", "truth"):
        mapper = viewer.figures.mappers[name]
        assert (mapper.low + mapper.high) / 2 == pytest.approx(V_SYS, abs=20.0)
        lo, hi = viewer.model.velocity_range_kms
        assert mapper.high - mapper.low < hi - lo             # narrower than the band
        assert mapper.palette[::2] == list(DIVERGING)         # linear: the palette itself, resampled
        assert viewer.figures.colorbars[name].title == "mom1 (km/s)"


def test_hover_reads_the_value_and_unit_under_the_pointer(viewer, sim):
    m = viewer.model
    viewer.slider.value = 6
    dx, _ = m.offsets_arcsec
    data = viewer.figures.sources["truth"].data
    image = np.asarray(data["image"][0])
    for x, y in ((10, 30), (24, 24), (40, 5)):
        col = int((dx[x] - data["x"][0]) / data["dw"][0] * image.shape[1])   # column under dx[x]
        assert image[y, col] == sim["truth"].data[6, y, x]
    tooltips = dict(viewer.figures.hovers["truth"].tooltips)
    assert tooltips["channel"] == "@image{0.0000g} Jy/beam"
    assert "$x" in tooltips["ΔRA, ΔDec"] and "$y" in tooltips["ΔRA, ΔDec"]


def test_pv_colours_span_the_cut_limits(viewer):
    m = viewer.model
    pv, _ = m.pv(viewer.figures.pv_name)
    assert (viewer.figures.pv_mapper.low, viewer.figures.pv_mapper.high) == pytest.approx(m.limits(pv))
    assert viewer.figures.pv_colorbar.color_mapper is viewer.figures.pv_mapper
    assert viewer.figures.pv_colorbar.title == "Jy/beam"


def test_a_residual_in_moment_1_is_a_velocity_field_not_symmetric_about_zero(viewer):
    viewer.view.value = "mom1"
    lo, hi = viewer.model.velocity_range_kms
    low, high = viewer.model.display_limits("residual")
    assert lo - (hi - lo) <= low < high <= hi + (hi - lo)   # velocities about v_sys, not +-40000


def test_four_panels_fit_a_1600_px_window(viewer):
    from widgets._viewer_figures import AXES_PX, ROW_PX

    figures = viewer.figures.images
    assert len(figures) == 4
    assert sum(f.frame_width + AXES_PX for f in figures) <= ROW_PX < 1600 - 300   # file browser open
    assert all(f.frame_width == f.frame_height >= 200 for f in figures)


def test_spectrum_axes_share_their_zero(viewer):
    m = viewer.model
    for pixel in ((24, 24), (3, 40)):
        m.pixel = pixel
        left, right = viewer.figures.spectrum.y_range, viewer.figures.spectrum.extra_y_ranges["aperture"]
        assert -left.start / (left.end - left.start) == pytest.approx(-right.start / (right.end - right.start))
        for name in m.names:
            assert left.start <= np.nanmin(m.spectrum(name)) and np.nanmax(m.spectrum(name)) <= left.end
            spectrum = m.aperture_spectrum(name)
            assert right.start <= spectrum.min() and spectrum.max() <= right.end


def test_labels_are_short_rounded_and_say_what_the_residual_is(viewer):
    assert all(len(label) <= 7 for label in viewer.view._options_labels)
    assert viewer.figures.images[3].title.text.startswith("residual (noisy − denoised)")
    iras = CubeViewer(gl.read_fits(REAL / "iras07454_alma_hc3n_agb.fits.gz"))   # beam 6.554455 px
    assert iras.aperture.value == 6.55
    for box in (iras.velocity, iras.aperture, iras.pv_pa):
        assert box.value == round(box.value, 2)
    iras.model.channel = 7
    assert iras.velocity.value == round(iras.model.channel_velocity_kms, 2)


# ----------------------------------------------------------------------------- what astronomers expect

def test_frequency_axis_and_label_from_the_rest_frequency(viewer, sim):
    m = viewer.model
    rest = sim["noisy"].header["RESTFRQ"]
    freq = viewer.figures.spectrum.extra_x_ranges["frequency"]
    x = viewer.figures.spectrum.x_range
    assert freq.start == pytest.approx(rest * (1 - x.start / 299792.458) / 1e9, rel=1e-12)
    assert freq.end == pytest.approx(rest * (1 - x.end / 299792.458) / 1e9, rel=1e-12)
    assert m.channel_label.endswith(f"{rest * (1 - m.channel_velocity_kms / 299792.458) / 1e9:.6g} GHz")


def test_frequency_label_of_a_frequency_axis_cube_is_its_channel_frequency():
    cube = gl.read_fits(REAL / "pisco_j1342_cii_alma_2d_image.fits.gz")
    h = cube.header
    channel_ghz = (h["CRVAL3"] + (1 - h["CRPIX3"]) * h["CDELT3"]) / 1e9   # channel 0 from the header
    from widgets._viewer_model import ViewerModel

    assert ViewerModel(cube).channel_label.endswith(f"{channel_ghz:.6g} GHz")
    no_rest = ViewerModel(gl.read_fits(REAL / "ngc2903_wsrt_hi_whisp.fits.gz"))   # no RESTFRQ
    assert no_rest.frequency_ghz(0.0) is None and "GHz" not in no_rest.channel_label


@pytest.mark.parametrize("shape, n_pixels", [("box", 7 * 7), ("circle", 29), ("beam", None)])
def test_region_flux_is_the_sum_over_its_pixels(sim, shape, n_pixels):
    from widgets._viewer_model import ViewerModel

    flat = sim["truth"].replace(data=np.ones(sim["truth"].shape, np.float32))   # 1 Jy/beam everywhere
    m = ViewerModel(flat)
    m.pixel, m.aperture_shape, m.aperture_radius_px = (20, 22), shape, 3.0
    beam_area = flat.beam_area_px
    if n_pixels is None:   # a circular beam: the beam-shaped region is the circle
        n_pixels = 29
    np.testing.assert_allclose(m.aperture_spectrum("cube"), n_pixels / beam_area, rtol=1e-6)
    assert m.aperture_label == f"= {3.0 * flat.pixel_arcsec:.3g}″"


def test_region_shape_and_radius_in_arcsec_reach_the_view(viewer):
    viewer.aperture_shape.value = "box"
    viewer.aperture.value = 4.0
    m = viewer.model
    assert m.aperture_shape == "box" and m.aperture_radius_px == 4.0
    assert viewer.aperture_arcsec.value == f"= {4.0 * m.reference.pixel_arcsec:.3g}″"
    x, y = m.aperture_outline_arcsec
    np.testing.assert_allclose(viewer.figures.region.data["x"], x)
    dx, dy = m.offsets_arcsec
    px, py = m.pixel
    half = 4.0 * m.reference.pixel_arcsec
    assert max(abs(x - dx[px])) == pytest.approx(half) and max(abs(y - dy[py])) == pytest.approx(half)


def test_contours_of_a_gaussian_are_circles_of_the_analytic_radius(sim):
    from widgets._viewer_model import ViewerModel

    y, x = np.indices(sim["truth"].shape[1:])
    sigma = 4.0
    blob = np.exp(-((x - 20) ** 2 + (y - 26) ** 2) / (2 * sigma ** 2))
    data = np.broadcast_to(blob, sim["truth"].shape).astype(np.float32)
    m = ViewerModel({"a": sim["noisy"], "b": sim["truth"].replace(data=data)})
    assert m.contours() == {"xs": [], "ys": [], "level": []}   # off by default
    m.contour_from = "b"
    lines = m.contours()
    assert sorted(set(lines["level"])) == pytest.approx([0.1, 0.2, 0.4, 0.8])   # of the peak, 1
    dx, dy = m.offsets_arcsec
    p = m.reference.pixel_arcsec
    for xs, ys, level in zip(lines["xs"], lines["ys"], lines["level"]):
        radius_arcsec = sigma * np.sqrt(-2 * np.log(level)) * p
        np.testing.assert_allclose(np.hypot(xs - dx[20], ys - dy[26]), radius_arcsec, rtol=0.03)
    m.contour_view = "mom0"
    assert m.contour_levels == pytest.approx([f * np.nanmax(m.moments("b")[0]) for f in (0.1, 0.2, 0.4, 0.8)])
    with pytest.raises(ValueError, match="contour_from"):
        m.contour_from = "nope"


def test_contour_selector_draws_over_every_image(viewer):
    viewer.contour_from.value = "truth"
    lines = viewer.figures.contours.data
    assert viewer.model.contour_from == "truth" and len(lines["xs"]) > 0
    assert lines["level"][0] == pytest.approx(0.1 * np.nanmax(viewer.model.image("truth")))
    viewer.slider.value = 8                                     # contours follow the channel
    peak = np.nanmax(viewer.model.cubes["truth"].data[8])
    assert viewer.figures.contours.data["level"][0] == pytest.approx(0.1 * peak)
    viewer.contour_from.value = None
    assert viewer.figures.contours.data["xs"] == []


# ----------------------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def small():
    obs = gl.Observation(n_pix=24, n_chan=8, channel_kms=40.0, pixel_kpc=0.5, beam_fwhm_px=3.0)
    return gl.simulate([gl.Galaxy()], obs)


@pytest.mark.parametrize("cubes, kwargs, error, culprit", [
    ("cube.fits", {}, TypeError, "gl.read_fits"),
    (None, {}, TypeError, "cubes must be"),
    (np.zeros((3, 4, 4)), {}, TypeError, "cubes must be"),
    ("two", {"names": "ab"}, TypeError, "names"),                 # a string is not a list of names
    ("two", {"residual_of": "ab"}, TypeError, "residual_of"),     # nor a pair of names
    ("two", {"residual_of": ("a",)}, ValueError, "residual_of"),
])
def test_bad_cubes_and_names_are_named(small, cubes, kwargs, error, culprit):
    from widgets._viewer_model import ViewerModel

    if isinstance(cubes, str) and cubes == "two":
        cubes = {"a": small, "b": small} if "residual_of" in kwargs else [small, small]
    with pytest.raises(error, match=culprit):
        ViewerModel(cubes, **kwargs)


@pytest.mark.parametrize("attribute, value, error", [
    ("pv_center_yx", 3.0, TypeError), ("pv_center_yx", (1, 2, 3), ValueError),
    ("velocity_range_kms", (np.nan, 10.0), ValueError), ("linked_limits", "yes", TypeError),
    ("aperture_shape", "star", ValueError), ("contour_from", ["cube"], ValueError),
    ("contour_view", "mom1", ValueError),
])
def test_bad_settings_are_named(small, attribute, value, error):
    from widgets._viewer_model import ViewerModel

    m = ViewerModel(small)
    with pytest.raises(error, match=attribute):
        setattr(m, attribute, value)


def test_a_nan_offset_is_an_error_not_pixel_zero(small):
    from widgets._viewer_model import ViewerModel

    m = ViewerModel(small)
    with pytest.raises(ValueError, match="dx_arcsec"):
        m.pixel_at_offset(np.nan, 0.0)
    with pytest.raises(TypeError, match="dy_arcsec"):
        m.pixel_at_offset(0.0, "north")
