"""The default null check of gl.denoise on real cubes: own-noise nulls denoised the same way."""
import functools
import importlib

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.denoise import emission

REAL = "data/real/ngc4324_carma_co10.fits.gz"   # 21 x 100 x 100: the quickest real cube


@pytest.fixture(scope="module")
def cube():
    return gl.read_fits(REAL)


def test_a_real_cube_gets_a_null_check_by_default_and_records_it(cube):
    den = gl.denoise(cube, "gaussian")
    found = den.record["denoise"]["null_check"]
    assert found["n_null"] == 1 and np.isfinite(found["null_flux_sigma"])
    assert any("null check" in card for card in den.header["HISTORY"])
    # switched off, the denoised data are the same and nothing is recorded
    off = gl.denoise(cube, "gaussian", null_check=0)
    assert "null_check" not in off.record["denoise"]
    np.testing.assert_array_equal(off.data, den.data)


def test_a_simulated_cube_gets_none_unless_asked():
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=1.0), gl.Observation(n_pix=32, n_chan=16,
                                                                 channel_kms=40.0))
    noisy = gl.add_noise(clean, peak_snr=5, rng=0)
    assert "null_check" not in gl.denoise(noisy, "gaussian").record["denoise"]
    asked = gl.denoise(noisy, "gaussian", null_check=2).record["denoise"]["null_check"]
    assert asked["n_null"] == 2 and len(asked["values"]) == 2


def test_a_linear_smoother_invents_nothing_on_average(cube):
    """Gaussian smoothing is linear and unbiased: over 8 nulls the mean flux in units of the
    undenoised spread is within 3 / sqrt(8) of 0 (the smoothed spread is at most 1)."""
    found = gl.denoise(cube, "gaussian", null_check=8).record["denoise"]["null_check"]
    assert abs(found["null_flux_sigma"]) < 3 / np.sqrt(8)


def test_a_method_that_adds_flux_is_flagged(cube, monkeypatch):
    package = importlib.import_module("galcube_lib.denoise")
    gaussian = package.method_function("gaussian")

    @functools.wraps(gaussian)     # the same signature, so denoise passes the same context
    def biased(data, **context):
        out = gaussian(data, **context)
        return out + np.float32(0.5) * np.abs(out).mean()

    monkeypatch.setattr(package, "method_function", lambda method: biased)
    with pytest.warns(UserWarning, match="into pure noise"):
        den = gl.denoise(cube, "gaussian")
    assert den.record["denoise"]["null_check"]["null_flux_sigma"] > 3


def test_null_check_bad_values_are_named(cube):
    for bad in ("always", -1, 1.5):
        with pytest.raises((TypeError, ValueError), match="null_check"):
            gl.denoise(cube, "gaussian", null_check=bad)


def test_no_emission_means_no_aperture_and_says_so(cube, monkeypatch):
    monkeypatch.setattr(emission, "_source_mask", lambda c: np.zeros(c.shape, bool))
    den = gl.denoise(cube, "gaussian")
    assert "no emission" in den.record["denoise"]["null_check"]["skipped"]
    assert any("null check skipped" in card for card in den.header["HISTORY"])
