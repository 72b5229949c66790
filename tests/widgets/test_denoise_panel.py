"""DenoisePanel without a browser: choose a method, set options, click Run, read what it shows."""
import inspect
import warnings

import ipywidgets as w
import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.denoise import method_function
from test_generator_panel import assert_labels_fit
from test_real_cubes import CUBES, EXTRA, REAL
from widgets.denoise_panel import DenoisePanel

#: shipped maps with no line emission: the real-data figures need a source to put an aperture on
NO_EMISSION = ("pisco_j1342_cii_alma_2d_psf", "pisco_j1342_cii_alma_2d_residual")


@pytest.fixture(scope="module")
def noisy(noisy_disk):
    return noisy_disk


def test_option_widgets_follow_the_method(noisy):
    panel = DenoisePanel(noisy)
    assert panel.method.options == panel.model.methods and panel.method.value == "ist"
    assert panel.option_widgets["n_iter"].value == 6
    panel.method.value = "pca"
    assert set(panel.option_widgets) == {"n_components", "max_components"}
    assert panel.option_widgets["n_components"].value == ""          # None: the method chooses
    panel.method.value = "smooth_clip"
    assert panel.option_widgets["noise_statistic"].options == ("negative", "mad")
    assert panel.option_widgets["spectral_kernels_channels"].value == "(0, 3, 7)"


@pytest.mark.slow
def test_run_button_fills_table_and_viewer(noisy):
    panel = DenoisePanel(noisy)
    panel.bars.value = False
    panel.method.value = "ist"
    panel.option_widgets["n_iter"].value = 2
    panel.option_widgets["keep_coarse"].value = False
    assert panel.model.options == {"n_iter": 2, "keep_coarse": False}
    panel.run_button.click()
    direct = gl.denoise(noisy, "ist", n_iter=2, keep_coarse=False)
    assert np.array_equal(panel.model.runs[-1].denoised.data, direct.data)
    assert panel.progress.value == 100 and panel.progress.bar_style == "success"
    assert "flux conservation [%]" in panel.metrics.value and "n_iter=2" in panel.metrics.value
    flux = gl.metrics.evaluate(direct, truth=noisy.clean, noisy=noisy)["flux_conservation"]
    assert f"{flux:.3g}" in panel.metrics.value
    assert list(panel.viewer.model.cubes) == ["noisy", "denoised", "truth", "residual"]
    panel.method.value = "gaussian"
    panel.run_button.click()
    assert panel.metrics.value.count("<tr") == 3           # one header row + two runs
    assert panel.shown_run.value == 1
    shown = panel.viewer.model.cubes["denoised"]
    assert shown is panel.model.runs[1].denoised
    panel.shown_run.value = 0
    assert panel.viewer.model.cubes["denoised"] is panel.model.runs[0].denoised


def test_bad_option_values_are_shown_not_raised(noisy):
    panel = DenoisePanel(noisy)
    panel.method.value = "pca"
    panel.option_widgets["n_components"].value = "three"
    assert "n_components" in panel.status.value and panel.model.options == {}
    panel.option_widgets["n_components"].value = "99"          # the method refuses it
    assert panel.run() is None
    assert panel.progress.bar_style == "danger" and "n_components" in panel.status.value
    assert panel.model.runs == [] and panel.viewer is None


def test_without_truth_the_real_data_table(noisy):
    panel = DenoisePanel(noisy.replace(clean=None, noise=None))
    panel.method.value = "gaussian"
    panel.run_button.click()
    assert "SNR gain (re-injection)" in panel.metrics.value
    assert list(panel.viewer.model.cubes) == ["noisy", "denoised", "residual"]


@pytest.fixture
def ipython_shell():
    """An IPython shell, as in a notebook: there an exception leaving an ipywidgets Output is
    printed into it as a traceback and swallowed (the panel then never learnt of the failure)."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


@pytest.mark.parametrize("name, value, culprit", [
    ("n_sigma", -1.0, "n_sigma=-1.0 is outside the valid range (0, 100]"),
    ("n_reweight", -1, "n_reweight=-1 is outside the valid range [1, 20]")])
def test_failed_run_shows_the_message_and_the_panel_stays_usable(noisy, ipython_shell, name, value,
                                                                 culprit):
    panel = DenoisePanel(noisy)
    panel.bars.value = False
    panel.option_widgets[name].value = value             # the type is right: only the method refuses it
    panel.run_button.click()
    assert panel.model.runs == [] and panel.viewer is None
    assert culprit in panel.status.value and "#b00" in panel.status.value
    assert "denoising" not in panel.status.value
    assert panel.progress.bar_style == "danger" and panel.progress.value == panel.progress.max
    assert not panel.output.outputs                      # no traceback printed in the panel
    panel.option_widgets[name].value = panel.model.available[name].default
    panel.option_widgets["n_iter"].value = 1
    panel.run_button.click()                             # the next good run works
    assert len(panel.model.runs) == 1 and panel.progress.bar_style == "success"
    assert panel.status.value.startswith("ist done") and panel.viewer is not None


def test_an_unexpected_failure_is_shown_with_its_type(noisy, ipython_shell, monkeypatch):
    panel = DenoisePanel(noisy)

    def broken(*args, **kwargs):
        raise RuntimeError("weights file is damaged")
    monkeypatch.setattr(panel.model, "run", broken)
    assert panel.run() is None
    assert "RuntimeError: weights file is damaged" in panel.status.value
    assert panel.progress.bar_style == "danger"


def test_a_wrong_type_in_the_panel_is_shown_not_raised(noisy):
    panel = DenoisePanel(noisy)
    panel._set("positivity", "no")                       # what a text-typed value would send
    assert "positivity must be True or False" in panel.status.value
    assert panel.model.options == {}


def test_every_option_is_described_on_hover_from_the_method_docstring(noisy):
    panel = DenoisePanel(noisy)
    for method in panel.model.methods:
        panel.method.value = method
        func = method_function(method)
        # the method's docstring, or a library function's it defers to
        docs = " ".join(inspect.getdoc(f) or "" for f in (func, *vars(gl).values()) if callable(f))
        for name, widget in panel.option_widgets.items():
            assert widget.tooltip, (method, name)
            assert " ".join(widget.tooltip.split()) in " ".join(docs.split()), (method, name)
        for row in panel.options_box.children:                 # checkboxes: their own label
            if isinstance(row, w.HBox):
                label, box = row.children
                assert box.description == "" and box is panel.option_widgets[label.value]
                assert label.tooltip == box.tooltip != ""


@pytest.mark.slow
@pytest.mark.parametrize("name", CUBES)
def test_every_shipped_real_cube_runs_or_says_why(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # unit and high-redshift notes of read_fits
        cube = gl.read_fits(REAL / f"{name}.fits.gz", **EXTRA.get(name, {}))
    panel = DenoisePanel(cube)
    panel.bars.value = False
    panel.method.value = "gaussian"
    panel.run_button.click()
    if name in NO_EMISSION:                       # a PSF and a residual: nothing to measure
        assert panel.model.runs == [] and panel.progress.bar_style == "danger"
        assert "the source mask is empty" in panel.status.value and "aperture=" in panel.status.value
        return
    assert panel.progress.bar_style == "success", panel.status.value
    den = panel.model.runs[-1].denoised
    np.testing.assert_array_equal(den.data, gl.denoise(cube, "gaussian").data)
    assert list(panel.viewer.model.cubes) == ["noisy", "denoised", "residual"]
    assert panel.viewer.model.cubes["denoised"] is den
    assert "SNR gain (re-injection)" in panel.metrics.value


def test_every_label_fits_its_width(noisy):
    panel = DenoisePanel(noisy)
    for method in panel.model.methods:
        panel.method.value = method
        assert_labels_fit(panel.widget)


def test_a_refused_value_still_in_its_box_stops_the_run(noisy):
    panel = DenoisePanel(noisy)
    panel.method.value = "pca"
    panel.option_widgets["n_components"].value = "three"
    assert "n_components" in panel.status.value and panel.model.options == {}
    assert panel.run() is None                           # not a run with the default shown as "three"
    assert panel.model.runs == [] and panel.progress.bar_style == "danger"
    assert "n_components=&#x27;three&#x27; cannot be read" in panel.status.value
    panel.option_widgets["n_components"].value = "2"
    assert panel.run() is not None and panel.model.runs[-1].options == {"n_components": 2}
