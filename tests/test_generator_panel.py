"""GeneratorPanel without a browser: set controls, click buttons, read the model and the log."""
import numpy as np
import pytest

import galcube_lib as gl
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
    assert obs["channel_kms"].description == "channel_kms [km/s]"
    assert gal["flux_jy_kms"].description == "flux_jy_kms [Jy km/s]"
    assert obs["beam_fwhm_px"].children[0].value == "beam_fwhm_px [px]"
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
    panel.generate_button.click()
    panel.save_button.click()
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
