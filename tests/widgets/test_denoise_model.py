"""DenoiseModel driven without a browser, against the library called directly."""
import numpy as np
import pandas as pd
import pytest

import galcube_lib as gl
from galcube_lib.metrics import real
from widgets._denoise_model import REAL_COUNTS, REAL_FIGURES, TRUTH_FIGURES, DenoiseModel


@pytest.fixture(scope="module")
def noisy(noisy_disk):
    return noisy_disk


def test_methods_are_the_library_registry(noisy):
    model = DenoiseModel(noisy)
    assert set(model.methods) == set(gl.bench.METHODS)
    for method in model.methods:
        model.method = method
        assert "data" not in model.available and "beam_fwhm_px" not in model.available
        assert "progress" not in model.available


def test_options_come_from_the_method_signature(noisy):
    model = DenoiseModel(noisy)
    model.method = "ist"
    assert model.available["n_iter"].kind == "int" and model.available["n_iter"].default == 6
    assert model.available["keep_coarse"].kind == "bool"
    assert model.available["mode"].choices == ("hard", "soft")
    assert "noise" not in model.available            # an array: no control sets it
    model.method = "pca"
    assert model.available["n_components"].kind == "optional int"
    model.method = "unet"
    assert {"weights", "uncertainty"} <= set(model.available)


@pytest.mark.parametrize("method, options", [
    ("gaussian", {"spectral_fwhm_channels": 3.0}),
    ("pca", {"n_components": 3}),
    ("smooth_clip", {"n_sigma": 4.0, "spectral_kernels_channels": (0, 3)}),
    ("ist", {"n_iter": 2, "keep_coarse": False}),
])
def test_run_equals_the_library_called_directly(noisy, method, options):
    model = DenoiseModel(noisy)
    model.method = method
    for name, value in options.items():
        model.set_option(name, value)
    den = model.run()
    direct = gl.denoise(noisy, method, **options)
    assert np.array_equal(den.data, direct.data, equal_nan=True)
    assert model.runs[-1].seconds > 0 and model.options == options
    figures = gl.metrics.evaluate(direct, truth=noisy.clean, noisy=noisy)
    row = model.metrics_table().iloc[-1]
    assert row["method"] == method
    for key in TRUTH_FIGURES:
        assert row[key] == pytest.approx(figures[key], nan_ok=True), key
    assert model.runs[-1].figures == pytest.approx(figures, nan_ok=True)


def test_text_values_are_parsed_and_defaults_dropped(noisy):
    model = DenoiseModel(noisy)
    model.method = "pca"
    model.set_option("n_components", "4")
    assert model.options == {"n_components": 4}
    model.set_option("n_components", "")
    assert model.options == {} and model.value("n_components") is None
    model.method = "smooth_clip"
    model.set_option("spatial_kernels_beams", "0, 1")
    assert model.options == {"spatial_kernels_beams": (0, 1)}
    with pytest.raises(TypeError, match="n_sigma must be a real number, got 'high'"):
        model.set_option("n_sigma", "high")
    with pytest.raises(ValueError, match="noise"):
        model.set_option("noise", "rms")


def test_unknown_option_names_it_and_lists_valid_ones(noisy):
    model = DenoiseModel(noisy)
    model.method = "ist"
    with pytest.raises(ValueError, match="unknown option 'n_components'") as err:
        model.set_option("n_components", 3)
    assert "n_iter" in str(err.value) and "keep_coarse" in str(err.value)
    with pytest.raises(ValueError, match="method="):
        model.method = "magic"


def test_runs_accumulate_and_residual_is_noisy_minus_denoised(noisy):
    model = DenoiseModel(noisy)
    model.method = "gaussian"
    model.run()
    model.method = "ist"
    model.set_option("n_iter", 1)
    steps = []
    den = model.run(progress=lambda fraction, text: steps.append(fraction))
    assert steps[0] == 0.0 and steps[-1] == 1.0
    table = model.metrics_table()
    assert list(table["method"]) == ["gaussian", "ist"] and list(table["options"]) == ["", "n_iter=1"]
    cubes = model.comparison()
    assert set(cubes) == {"noisy", "denoised", "truth", "residual"}
    assert np.array_equal(cubes["residual"].data, noisy.data - den.data)
    assert np.array_equal(cubes["truth"].data, noisy.clean)
    assert cubes["denoised"] is den and cubes["noisy"] is noisy
    assert np.array_equal(model.comparison(0)["denoised"].data, model.runs[0].denoised.data)


def test_without_truth_the_real_data_figures(noisy):
    observed = noisy.replace(clean=None, noise=None)
    model = DenoiseModel(observed)
    assert model.truth is None
    model.method = "gaussian"
    den = model.run()
    expected = real.evaluate_real(observed, "gaussian", **REAL_COUNTS)
    assert np.array_equal(den.data, expected["denoised"].data)
    row = model.metrics_table().iloc[0]
    for key in REAL_FIGURES:
        assert row[key] == pytest.approx(expected[key], nan_ok=True), key
    assert set(model.comparison()) == {"noisy", "denoised", "residual"}
    # the panel's null column is the denoised cube's own null check, in its record and HISTORY
    assert "null_mean_sigma" in REAL_FIGURES
    recorded = den.record["denoise"]["null_check"]
    assert recorded["null_flux_sigma"] == pytest.approx(row["null_mean_sigma"])
    assert recorded["n_null"] == REAL_COUNTS["n_null"]
    assert any("null check" in card for card in den.header["HISTORY"])


def test_explicit_truth_and_bad_inputs(noisy):
    model = DenoiseModel(noisy.replace(clean=None), truth=noisy.clean)
    assert np.array_equal(model.truth, noisy.clean)
    with pytest.raises(ValueError, match="truth has shape"):
        DenoiseModel(noisy, truth=noisy.clean[:2])
    with pytest.raises(RuntimeError, match="run"):
        model.comparison()
    assert isinstance(model.metrics_table(), pd.DataFrame) and model.metrics_table().empty


@pytest.mark.parametrize("method, name, value, error, message", [
    ("ist", "positivity", "no", TypeError, "positivity must be True or False, got 'no'"),
    ("ist", "positivity", 0, TypeError, "positivity must be True or False, got 0"),
    ("ist", "n_iter", 2.5, TypeError, "n_iter must be an integer, got 2.5"),
    ("ist", "n_iter", True, TypeError, "n_iter must be an integer, got True"),
    ("ist", "n_sigma", float("nan"), ValueError, "n_sigma=nan is outside the valid range"),
    ("ist", "mode", "medium", ValueError, "mode='medium' is not one of 'hard', 'soft'"),
    ("pca", "n_components", "three", ValueError, "n_components='three' cannot be read: type an int"),
    ("pca", "n_components", "2.5", TypeError, "n_components must be an integer, got 2.5"),
    ("smooth_clip", "spectral_kernels_channels", "(0, 'a')", TypeError,
     "spectral_kernels_channels must be a tuple of numbers"),
    ("smooth_clip", "spectral_kernels_channels", "(0, 3", ValueError,
     r"spectral_kernels_channels='\(0, 3' cannot be read: type numbers such as \(0, 3, 7\)"),
    ("unet", "device", 0, TypeError, "device must be a string, got 0"),
])
def test_option_of_the_wrong_type_is_refused_naming_it(noisy, method, name, value, error, message):
    model = DenoiseModel(noisy)
    model.method = method
    with pytest.raises(error, match=message):
        model.set_option(name, value)
    assert model.options == {}


def test_bad_truth_and_run_index_name_them(noisy):
    with pytest.raises(TypeError, match="truth must be a real numeric array, got str"):
        DenoiseModel(noisy, truth="clean")
    model = DenoiseModel(noisy)
    model.method = "gaussian"
    model.run()
    with pytest.raises(ValueError, match=r"run=3 is outside the valid range \[-1, 0\]"):
        model.comparison(3)
    with pytest.raises(TypeError, match="run must be an integer, got 'last'"):
        model.comparison("last")
    assert model.comparison(-1)["denoised"] is model.runs[0].denoised
