"""Every shipped real cube reads, denoises and writes back, with no NaN leaking into valid
voxels and the input header kept."""
import warnings
from pathlib import Path

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib import __version__

REAL = Path(__file__).parents[2] / "data" / "real"
CUBES = sorted(p.name.removesuffix(".fits.gz") for p in REAL.glob("*.fits.gz")
               if not p.name.endswith("_gain.fits.gz"))
#: what read_fits needs beyond the file: the residual has no beam (it is the image's)
EXTRA = {"pisco_j1342_cii_alma_2d_residual": {"beam": (0.2817, 0.1974, -61.74)},
         "ngc4047_carma_co10_edge_smo7": {"gain": REAL / "ngc4047_carma_co10_edge_smo7_gain.fits.gz"}}


def test_all_shipped_cubes_are_covered():
    assert len(CUBES) == 8


@pytest.mark.slow
@pytest.mark.parametrize("name", CUBES)
def test_real_cube_denoises_and_writes_back(name, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # unit and high-redshift notes of read_fits
        cube = gl.read_fits(REAL / f"{name}.fits.gz", **EXTRA.get(name, {}))
    den = gl.denoise(cube, "ist")
    assert np.isfinite(den.data[cube.valid]).all()
    assert np.isnan(den.data[~cube.valid]).all()
    path = den.to_fits(tmp_path / f"{name}_ist.fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = gl.read_fits(path)
    np.testing.assert_array_equal(back.data, den.data)
    for key in ("CTYPE1", "CTYPE2", "CTYPE3", "CRVAL1", "CDELT2", "CRPIX3", "BMAJ", "BMIN",
                "BPA", "BUNIT"):
        if isinstance(cube.header.get(key), str):
            assert back.header[key] == cube.header[key], key
        elif key in cube.header:                  # FITS cards keep 16 significant digits
            assert back.header[key] == pytest.approx(cube.header[key], rel=1e-14), key
    history = str(back.header["HISTORY"])
    assert f"galcube {__version__} denoise: method=ist" in history
    np.testing.assert_allclose(back.velocity_kms, cube.velocity_kms)
