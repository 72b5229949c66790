"""The cubes on the browser test's page, built by the notebook (widgets.ipynb) and by the test
that checks what the page shows against them."""
from pathlib import Path

import numpy as np

import galcube_lib as gl

#: a real cube with a standard RA---SIN header (CDELT1 < 0: east at small x)
REAL = Path(__file__).resolve().parents[3] / "data" / "real" / "ngc4324_carma_co10.fits.gz"
#: how far east of the field's centre the sources are
EAST_KPC = 6.0
EAST_ARCSEC = 20.0


def simulated() -> gl.Cube:
    """A compact face-on disk EAST_KPC east of the centre (``offset_kpc`` -x is east), noise-free
    so that the sky around it is exactly 0."""
    obs = gl.Observation(n_pix=48, n_chan=16, channel_kms=40.0, pixel_kpc=0.5, beam_fwhm_px=3.0)
    galaxy = gl.Galaxy(r_eff_kpc=1.0, inclination_deg=0.0, offset_kpc=(-EAST_KPC, 0.0))
    return gl.simulate([galaxy], obs)


def observed() -> gl.Cube:
    """The real cube as observed."""
    return gl.read_fits(REAL)


def real_with_east_source() -> gl.Cube:
    """The real cube's header and WCS holding only a beam-sized source EAST_ARCSEC east of the
    central pixel, in every channel."""
    cube = observed()
    _, ny, nx = cube.shape
    x = (nx - 1) / 2 - EAST_ARCSEC / cube.pixel_arcsec * np.sign(-cube.header["CDELT1"])
    yy, xx = np.mgrid[:ny, :nx]
    sigma = cube.beam_fwhm_px[1] / 2.3548
    blob = np.exp(-((xx - x) ** 2 + (yy - (ny - 1) / 2) ** 2) / (2 * sigma ** 2))
    return cube.replace(data=np.broadcast_to(blob, cube.shape).astype(np.float32), noise=None)


#: the PropertyExplorer's predictions: the true log Sigma_SFR plus this offset (dex) on each
#: view, with a sigma of PROPERTY_SIGMA, so its scatter on a view is the offset and its coverage
#: 1 or 0
PROPERTY_OFFSETS = (0.1, 0.25)
PROPERTY_SIGMA = 0.15


def property_views():
    """Two test views of simulated galaxies with their true maps, and one method's predictions."""
    from galcube_lib.inference.pairs import draw_pairs
    pairs = draw_pairs(2, views=1, rng=3, progress=False)
    predictions = [(np.log10(np.where(p.maps.sigma_sfr > 0, p.maps.sigma_sfr, 1.0)) + offset,
                    np.full(p.maps.sigma_sfr.shape, PROPERTY_SIGMA)) for p, offset in zip(pairs, PROPERTY_OFFSETS)]
    return pairs, {"offset": predictions}


#: the PdrExplorer's scene: line maps of a known (log n, log G0) on a 12 x 16 grid, log n rising
#: along x, fitted through an analytic forward model of three lines
PDR_BOUNDS = [[1.0, 7.0], [-0.5, 6.5]]


def pdr_truth() -> np.ndarray:
    yy, xx = np.mgrid[:12, :16]
    return np.stack([2.0 + 0.2 * xx, 1.0 + 0.3 * yy])


def pdr_forward(points):
    x, y = (np.asarray(points, dtype=float) - [4.0, 3.0]).T
    return np.stack([-4 + 0.6 * x + 0.3 * y, -5 + 0.9 * y - 0.1 * x ** 2, -6 + 1.1 * x - 0.4 * y], 1)


def pdr_fit():
    """The PdrExplorer's arguments: lines, noise-free intensities, 5 % uncertainties, the fit
    and its forward model (no beam filling)."""
    from galcube_lib.pdr.posterior import ParameterGrid, parameter_maps
    intensity = 10 ** pdr_forward(pdr_truth().reshape(2, -1).T).T.reshape(3, 12, 16)
    grid = ParameterGrid(pdr_forward, PDR_BOUNDS)
    result = parameter_maps(intensity, 0.05 * intensity, grid, fit_scale=False, progress=False)
    return ["A", "B", "C"], intensity, 0.05 * intensity, result, grid, False
