"""GeneratorPanel without a browser: set controls, click buttons, read the model and the log."""
import inspect
import warnings

import ipywidgets as w
import numpy as np
import pytest

import galcube_lib as gl
from test_real_cubes import CUBES, REAL
from widgets.generator import GeneratorPanel


@pytest.fixture
def panel():
    p = GeneratorPanel(rng=5)
    obs = p.controls["observation"]
    obs["n_pix"].value, obs["n_chan"].value, obs["channel_kms"].value = 48, 16, 60.0
    return p


def test_display_is_the_root_widget_with_a_plain_text_stand_in(panel):
    bundle = panel._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id
    assert bundle["text/plain"].startswith("GeneratorPanel (interactive")


def test_controls_are_labelled_with_units_and_edit_the_model(panel):
    obs, gal = panel.controls["observation"], panel.controls["galaxy 1"]
    assert obs["channel_kms"].description == "channel width [km/s]"
    assert gal["flux_jy_kms"].description == "line flux [Jy km/s]"
    assert gal["h_z_kpc"].description == "scale height [kpc]"
    assert obs["beam_fwhm_px"].children[0].value == "beam FWHM [px]"
    assert obs["pixel_arcsec"].disabled and not obs["pixel_kpc"].disabled
    gal["inclination_deg"].value = 75.0
    obs["beam_fwhm_px"].children[1].value = 5.0
    gal["rotation"].value = "flat"
    assert panel.model.galaxies[0]["inclination_deg"] == 75.0
    assert panel.model.galaxies[0]["rotation"] == "flat"
    assert panel.model.observation["beam_fwhm_px"] == (5.0, 4.0)
    assert panel.model.observation["n_pix"] == 48


def test_generate_button_shows_log_progress_and_viewer(panel):
    panel.controls["noise"]["kind"].value = "white"
    panel.generate_button.click()
    cube = panel.cube
    expected = gl.add_noise(gl.simulate([gl.Galaxy()], gl.Observation(n_pix=48, n_chan=16, channel_kms=60.0)),
                            peak_snr=4.0, kind="white", rng=5)
    assert np.array_equal(cube.data, expected.data)
    assert panel.log.value.startswith("simulated 16x48x48")
    assert panel.progress.value == 100 and panel.progress.bar_style == "success"
    assert panel.viewer is not None and list(panel.viewer.model.cubes) == ["noisy", "truth"]
    assert panel._viewer_box.children == (panel.viewer.widget,)
    # derived values are pushed back into the controls
    assert panel.controls["noise"]["rms_jy"].value == f"{cube.record['noise']['rms_jy']:.6g}"
    first_viewer = panel.viewer
    panel.controls["galaxy 1"]["pa_deg"].value = 90.0
    panel.generate_button.click()
    assert panel.viewer is first_viewer and panel.cube is not cube


def test_counts_rebuild_the_forms(panel):
    panel.n_galaxies.value = 2
    assert "galaxy 2" in panel.controls and panel.model.n_galaxies == 2
    assert panel.tabs.titles == ("Observation", "Galaxies", "Satellites", "Diffuse", "Noise")
    satellites = panel.tabs.children[2].children
    satellites[3].value = 1          # satellites of galaxy 2
    assert "galaxy 2 satellite 1" in panel.controls
    panel.n_diffuse["Bridge"].value = 1
    bridge = panel.controls["bridge 1"]
    assert bridge["b"].options == ("galaxy 1", "galaxy 2", "galaxy 2 satellite 1")
    bridge["b"].value = "galaxy 2 satellite 1"
    panel.generate_button.click()
    kinds = [type(c).__name__ for c in panel.model.components()]
    assert kinds == ["Galaxy", "Galaxy", "Galaxy", "Bridge"] and panel.cube is not None


def test_bad_value_is_shown_in_the_log(panel):
    panel.controls["galaxy 1"]["inclination_deg"].value = 120.0
    panel.generate_button.click()
    assert panel.cube is None and panel.progress.bar_style == "danger"
    assert "galaxy 1: inclination_deg=120.0 is outside the valid range" in panel.log.value
    assert "inclination_deg=120.0" in panel.status.value and "#b00" in panel.status.value
    panel.controls["galaxy 1"]["inclination_deg"].value = 60.0
    panel.generate_button.click()                       # still usable
    assert panel.cube is not None and panel.progress.bar_style == "success"


def test_alternatives_switch_which_control_is_given(panel):
    panel.given["level"].value = "rms_jy"
    noise = panel.controls["noise"]
    assert noise["peak_snr"].disabled and not noise["rms_jy"].disabled
    noise["rms_jy"].value = "0.002"
    panel.generate_button.click()
    assert panel.cube.record["noise"]["rms_jy"] == 0.002


def test_save_button(panel, tmp_path):
    panel.path.value = str(tmp_path / "out.fits")
    panel.save_button.click()
    assert "error: nothing to save" in panel.log.value and not (tmp_path / "out.fits").exists()
    assert "generate a cube first" in panel.status.value
    panel.generate_button.click()
    for path, why in (("  ", "the FITS path is empty: give a file name"),
                      (tmp_path / "missing" / "out.fits", str(tmp_path / "missing"))):
        panel.path.value = str(path)
        panel.save_button.click()
        assert why in panel.status.value and panel.log.value.splitlines()[-1].startswith("error:")
    panel.path.value = str(tmp_path / "out.fits")
    panel.save_button.click()
    assert panel.status.value == ""
    assert np.array_equal(gl.read_fits(tmp_path / "out.fits").data, panel.cube.data)
    assert panel.log.value.endswith(f"saved {tmp_path / 'out.fits'}")


def test_noise_cube_is_loaded_from_a_path(panel, tmp_path):
    panel.generate_button.click()
    panel.cube.replace(data=panel.cube.noise, clean=None, noise=None).to_fits(tmp_path / "n.fits")
    panel.noise_path.value = str(tmp_path / "n.fits")
    panel.load_button.click()
    assert "loaded noise cube 16x48x48" in panel.log.value
    panel.controls["noise"]["kind"].value = "cube"
    panel.generate_button.click()
    assert panel.cube.record["noise"]["kind"] == "cube"


def _flat(text):
    return " ".join(text.split())


def _all_params(panel):
    """(section, Param, widget) of every control of a panel with every kind of section."""
    panel.n_galaxies.value = 2
    panel.tabs.children[2].children[1].value = 1           # a satellite of galaxy 1
    for box in panel.n_diffuse.values():
        box.value = 1
    model = panel.model
    sources = {"observation": (gl.Observation, "observation"), "noise": (gl.add_noise, "noise")}
    for section, widgets in panel.controls.items():
        kind = section.split()[0].capitalize()
        source, group = sources.get(section, (gl.Galaxy, "galaxy"))
        if kind in ("Halo", "Bridge", "Tail"):
            source, group = getattr(gl, kind), "diffuse"
        for param in model.params(group, kind if group == "diffuse" else None):
            yield source, param, widgets[param.name]


def test_every_control_has_a_readable_label_and_its_docstring_on_hover(panel):
    seen = set()
    for source, param, widget in _all_params(panel):
        row = isinstance(widget, w.HBox)                   # a pair or a checkbox: its own label
        label = widget.children[0] if row else widget
        shown = label.value if row else widget.description
        assert not row or all(c.tooltip == label.tooltip for c in widget.children[1:])
        name, _, doc = label.tooltip.partition(": ")
        assert name == param.name and doc, (param.name, label.tooltip)
        # the description (or, where the docstring gives none, the type) as the docstring has it
        assert _flat(doc) in _flat(inspect.getdoc(source)), (source.__name__, param.name, doc)
        assert "_" not in shown, f"{param.name} is labelled {shown!r}, not readably"
        if param.unit:
            assert shown.endswith(f"[{param.unit}]"), shown
        seen.add((source.__name__, param.name))
    assert ("Galaxy", "sersic_n") in seen and ("Tail", "angle_deg") in seen
    assert ("add_noise", "rms_jy") in seen and ("Observation", "pixel_arcsec") in seen
    sersic = panel.controls["galaxy 1"]["sersic_n"]
    assert sersic.description == "Sersic index"
    assert sersic.tooltip == "sersic_n: Sersic index in (0.2, 10] (1 = exponential disk)."
    hanning = panel.controls["observation"]["hanning"]
    assert hanning.children[0].value == "Hanning smoothing" and hanning.children[1].description == ""
    assert hanning.children[1].tooltip.startswith("hanning: Hanning-smooth the spectra")


def test_the_selected_tab_and_open_section_survive_counts_and_generate(panel):
    pages = panel.tabs.children
    panel.tabs.selected_index = 1
    accordion = pages[1].children[1]
    accordion.selected_index = 0                          # "galaxy 1" open
    panel.n_galaxies.value = 2
    assert panel.tabs.selected_index == 1
    # the same tab pages: new ones make the browser jump back to the first tab
    assert panel.tabs.children == pages and panel.tabs.titles[1] == "Galaxies"
    assert pages[1].children[1] is not accordion and pages[1].children[1].selected_index == 0
    panel.tabs.selected_index = 4
    panel.generate_button.click()
    assert panel.cube is not None
    assert panel.tabs.selected_index == 4 and panel.tabs.children == pages
    panel.tabs.selected_index = 3
    panel.n_diffuse["Halo"].value = 1
    assert panel.tabs.selected_index == 3 and panel.tabs.children == pages
    assert pages[1].children[1].selected_index == 0      # still open after other rebuilds


def test_alternatives_are_chosen_by_readable_labels(panel):
    toggle = panel.given["pixel"]
    assert toggle.options == (("pixel size [kpc]", "pixel_kpc"), ("pixel size [arcsec]", "pixel_arcsec"))
    assert toggle.tooltips[1].startswith("pixel_arcsec: Pixel size")


#: what loading each shipped real cube as the noise of kind "cube" gives: None when it works,
#: else the part of the message that says why not
REAL_NOISE = {"iras07454_alma_hc3n_agb": None, "ngc4324_carma_co10": None,
              "ngc2903_wsrt_hi_whisp": "has NaN or infinite values; select a finite region",
              "ngc4047_carma_co10_edge_smo7": "has NaN or infinite values; select a finite region",
              "ngc4710_carma_co10": "has NaN or infinite values; select a finite region",
              "pisco_j1342_cii_alma_2d_image": "must be 3-D with >= 2 channels",
              "pisco_j1342_cii_alma_2d_psf": "must be 3-D with >= 2 channels",
              "pisco_j1342_cii_alma_2d_residual": "has no beam"}


@pytest.mark.parametrize("name", CUBES)
def test_every_shipped_real_cube_as_the_noise_or_says_why(panel, name):
    assert set(REAL_NOISE) == set(CUBES)
    path = REAL / f"{name}.fits.gz"
    panel.noise_path.value = str(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # unit and high-redshift notes of read_fits
        panel.load_button.click()
    panel.controls["noise"]["kind"].value = "cube"
    panel.generate_button.click()
    why = REAL_NOISE[name]
    if why is None:
        assert "loaded noise cube" in panel.log.value and panel.progress.bar_style == "success"
        assert panel.cube.record["noise"]["kind"] == "cube"
        assert np.isfinite(panel.cube.data).all() and panel.viewer is not None
    else:
        assert panel.cube is None and panel.progress.bar_style == "danger"
        assert why in panel.log.value and "noise" in panel.status.value and "#b00" in panel.status.value


def assert_labels_fit(root):
    """Every description under ``root`` fits its width: ipywidgets cuts a longer one to "…"
    (7.5 px a character at the 13 px font is a safe upper bound)."""
    for widget in _walk(root):
        label = isinstance(widget, w.Label)
        text = widget.value if label else getattr(widget, "description", "")
        width = widget.layout.width if label else getattr(
            getattr(widget, "style", None), "description_width", "")
        if text and width and width.endswith("px"):
            assert 7.5 * len(text) <= float(width[:-2]), f"{text!r} does not fit in {width}"


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_every_label_fits_its_width(panel):
    list(_all_params(panel))                              # every kind of section laid out
    assert_labels_fit(panel.widget)


def test_derived_values_are_shown_rounded(panel):
    panel.generate_button.click()
    obs = gl.Observation(n_pix=48, n_chan=16, channel_kms=60.0)
    controls = panel.controls["observation"]
    assert controls["pixel_arcsec"].disabled
    assert controls["pixel_arcsec"].value == float(f"{obs.pixel_arcsec:.6g}") != obs.pixel_arcsec
    boxes = controls["beam_fwhm_arcsec"].children[1:]
    assert [b.value for b in boxes] == [float(f"{v:.6g}") for v in obs.beam_fwhm_arcsec]
    assert panel.model.observation["pixel_arcsec"] == obs.pixel_arcsec     # the model keeps all digits
