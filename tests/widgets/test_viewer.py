"""The real CubeViewer (ipywidgets + bokeh) without a browser: controls drive the model, and the
model's changes reach the bokeh sources and the labels of the DOM contract."""
import numpy as np
import pytest
from astropy.io import fits
from bokeh.events import SelectionGeometry, Tap

import galcube_lib as gl
from widgets.viewer import CubeViewer


@pytest.fixture(scope="module")
def cubes():
    obs = gl.Observation(n_pix=48, n_chan=16, channel_kms=40.0, pixel_kpc=0.5, beam_fwhm_px=3.0)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=2.0, inclination_deg=60.0, pa_deg=30.0)], obs)
    return {"noisy": gl.add_noise(clean, peak_snr=5.0, rng=0), "truth": clean}


@pytest.fixture()
def viewer(cubes):
    return CubeViewer(cubes, residual_of=("noisy", "truth"))


def _shown(viewer, name):
    """The image in the bokeh source of cube ``name``, in (y, x) array order."""
    image = viewer.figures.sources[name].data["image"][0]
    return image[:, ::-1] if viewer.figures._flip_x else image


def test_dom_contract(viewer):
    assert viewer.slider.description == "channel"
    assert "gc-channel-label" in viewer.channel_label._dom_classes
    assert "gc-pixel-label" in viewer.pixel_label._dom_classes
    assert viewer.figures.images[0].css_classes == ["gc-image"]
    assert viewer.figures.spectrum.css_classes == ["gc-spectrum"]
    bundle = viewer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == viewer.widget.model_id
    assert bundle["text/plain"].startswith("CubeViewer of noisy, truth, residual")   # static exports


def test_slider_updates_the_image_source_and_the_label(viewer, cubes):
    m = viewer.model
    viewer.slider.value = 3
    assert m.channel == 3
    v = cubes["noisy"].velocity_kms[3]
    assert "channel 3" in viewer.channel_label.value and f"{v:.1f} km/s" in viewer.channel_label.value
    np.testing.assert_array_equal(_shown(viewer, "noisy"), cubes["noisy"].data[3])   # the values
    mapper = viewer.figures.mappers["noisy"]                 # and the colours span the panel's limits
    assert (mapper.low, mapper.high) == pytest.approx(m.display_limits("noisy"))
    assert viewer.figures.colorbars["noisy"].color_mapper is mapper
    assert viewer.figures.channel_span.location == v
    assert viewer.velocity.value == v


def test_velocity_entry_and_model_keep_the_controls_in_step(viewer, cubes):
    vel = cubes["noisy"].velocity_kms
    viewer.velocity.value = float(vel[11] + 10.0)
    assert viewer.model.channel == 11 and viewer.slider.value == 11
    viewer.model.channel = 2
    assert viewer.slider.value == 2 and viewer.velocity.value == vel[2]


def test_tap_on_an_image_picks_the_pixel_and_its_spectra(viewer, cubes):
    dx, dy = viewer.model.offsets_arcsec
    fig = viewer.figures.images[1]                           # any image: they are linked
    fig._trigger_event(Tap(fig, x=float(dx[10]), y=float(dy[30])))
    assert viewer.model.pixel == (10, 30)
    assert "pixel (10, 30)" in viewer.pixel_label.value
    np.testing.assert_array_equal(viewer.figures.pixel_spectra["truth"].data["y"],
                                  cubes["truth"].data[:, 30, 10])
    assert viewer.figures.marker.data["x"] == [dx[10]]
    fig._trigger_event(Tap(fig, x=float(dx[0]) + 5.0, y=0.0))   # outside the field: ignored
    assert viewer.model.pixel == (10, 30)


def test_spectrum_selection_sets_the_moment_range(viewer):
    viewer.view.value = "mom0"
    fig = viewer.figures.spectrum
    fig._trigger_event(SelectionGeometry(fig, geometry={"type": "rect", "x0": -100.0, "x1": 100.0,
                                                        "y0": 0.0, "y1": 1.0}, final=True))
    assert viewer.model.velocity_range_kms == (-100.0, 100.0)
    assert (viewer.figures.range_box.left, viewer.figures.range_box.right) == (-100.0, 100.0)
    assert viewer.velocity_range.value == (-100.0, 100.0)
    np.testing.assert_allclose(_shown(viewer, "truth"), viewer.model.image("truth"), rtol=1e-6)
    fig._trigger_event(Tap(fig, x=150.0, y=0.0))             # a click on the spectrum: a channel
    assert viewer.model.velocity_kms[viewer.model.channel] == pytest.approx(140.0)


def test_controls_set_the_model_and_bad_values_are_reported(viewer):
    viewer.stretch.value, viewer.limits.value, viewer.percent.value = "asinh", "zscale", 99.0
    viewer.mask.value, viewer.aperture.value = 3.0, 5.0
    m = viewer.model
    assert (m.stretch_kind, m.stretch_mode, m.stretch_percent) == ("asinh", "zscale", 99.0)
    assert m.mask_n_sigma == 3.0 and m.aperture_radius_px == 5.0
    viewer.mask.value = 0.0
    assert m.mask_n_sigma is None
    viewer._set("channel", 99)
    assert "channel=99" in viewer.status.value and m.channel != 99


def test_set_cubes_rebuilds_the_figures(viewer, cubes):
    viewer.slider.value = 5
    viewer.set_cubes({"truth": cubes["truth"]})
    assert list(viewer.figures.sources) == ["truth"] and viewer.model.channel == 5
    assert viewer.pv_cube.options == ("truth",) and viewer.slider.value == 5


@pytest.mark.slow
def test_export_buttons_write_files(viewer, tmp_path):
    viewer.export_path.value = str(tmp_path / "view")
    viewer.export_cube.value = "truth"
    viewer.fits_button.click()
    assert (tmp_path / "view.fits").is_file() and "wrote" in viewer.status.value
    np.testing.assert_array_equal(fits.getdata(tmp_path / "view.fits"), viewer.model.cubes["truth"].data)
    viewer.png_button.click()
    assert (tmp_path / "view.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
