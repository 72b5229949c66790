"""A user's own (cube, property maps) pairs: FITS maps reprojected onto the cube's sky grid at
the cube's resolution, ready to train on or to score a model's predictions against.

A map's beam (BMAJ, BMIN, BPA in its header) is brought to the cube's with radio_beam: the map
is convolved with the beam that, convolved with its own, gives the cube's. A map without a beam
is taken as sharper than the pixels and convolved with the cube's beam. A map whose beam is
larger than the cube's cannot be sharpened: that is an error. The map is then reprojected onto
the cube's celestial WCS with ``reproject.reproject_interp`` (surface densities are intensive:
interpolated, not summed); pixels the map does not cover are NaN and are not scored.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from galcube_lib._util.conventions import FWHM_PER_SIGMA
from galcube_lib.inference.pairs import Pair
from galcube_lib.io.cube import Cube, read_fits
from galcube_lib.noise.level import sigma_mad
from galcube_lib.sim.properties import PropertyMaps

MAP_NAMES = ("sigma_sfr", "sigma_gas", "sigma_line")


def _beam_matched(data: np.ndarray, header, cube: Cube, name: str) -> np.ndarray:
    import radio_beam
    from radio_beam.utils import BeamError
    from astropy import units as u
    from astropy.convolution import convolve_fft
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales
    target = radio_beam.Beam.from_fits_header(cube.header)
    pixel = float(np.mean(proj_plane_pixel_scales(WCS(header).celestial))) * u.deg
    if "BMAJ" in header:
        own = radio_beam.Beam.from_fits_header(header)
        if own.major > target.major * (1 + 1e-6):
            raise ValueError(f"the {name} map's beam ({own.major.to(u.arcsec):.3g} FWHM) is larger than the "
                             f"cube's ({target.major.to(u.arcsec):.3g}): a map cannot be sharpened; give a map "
                             "at the cube's resolution or finer")
        try:
            kernel_beam = target.deconvolve(own)
        except (BeamError, ValueError):   # the same beam (within round-off): nothing to do
            return data
    else:
        kernel_beam = target
    kernel = kernel_beam.as_kernel(pixel)
    return convolve_fft(data, kernel, normalize_kernel=True, nan_treatment="fill", fill_value=0.0,
                        preserve_nan=True, allow_huge=True)


def reproject_map(path, cube: Cube, name: str = "map") -> np.ndarray:
    """A property-map FITS on the cube's sky grid, at the cube's resolution.

    Parameters
    ----------
    path : str or pathlib.Path
        A 2-D FITS image (degenerate axes of length 1 are dropped) with a celestial WCS.
    cube : Cube
        The cube whose grid and beam the map is brought to.
    name : str
        The map's name, for messages.

    Returns
    -------
    numpy.ndarray
        (y, x) float64 on the cube's pixels; NaN outside the map.

    Raises
    ------
    ValueError
        The file is not a 2-D image with a celestial WCS, or its beam is larger than the cube's.
    """
    from astropy.io import fits
    from astropy.wcs import WCS
    from reproject import reproject_interp
    with fits.open(path) as hdul:
        hdu = next((h for h in hdul if h.data is not None), None)
        if hdu is None:
            raise ValueError(f"{name} map {path}: no image in the file")
        data = np.squeeze(np.asarray(hdu.data, dtype=np.float64))
        header = hdu.header.copy()
    wcs = WCS(header)
    if data.ndim != 2 or not wcs.has_celestial:
        raise ValueError(f"{name} map {path}: a 2-D image with a celestial WCS is needed, got shape "
                         f"{data.shape} and axes {wcs.world_axis_physical_types}")
    header = wcs.celestial.to_header()
    for key in ("BMAJ", "BMIN", "BPA"):
        if key in hdu.header:
            header[key] = hdu.header[key]
    data = _beam_matched(data, header, cube, name)
    out, _ = reproject_interp((data, header), cube.wcs.celestial, shape_out=cube.shape[1:])
    return out


def observed_pair(cube, maps: dict, galaxy: int = 0) -> Pair:
    """A user's cube with its property maps, as a Pair to train on or to score against.

    Parameters
    ----------
    cube : str, pathlib.Path or Cube
        The line cube (a FITS path is read with ``read_fits``).
    maps : dict
        Map name -> FITS path; "sigma_sfr" is needed, "sigma_gas" and "sigma_line" are
        optional (units as the user's; the scores are in log10 of them).
    galaxy : int
        The galaxy's identity: views of one galaxy must share it, so that a split by galaxy
        keeps them together.

    Returns
    -------
    Pair
        With the maps on the cube's grid (NaN where not covered, 0 where a map is absent).
        Without a "sigma_line" map the scored spaxels come from the cube's own moment 0,
        beam-smoothed (its positive part): a relative threshold needs no units.
        ``peak_snr`` is the cube's peak over its median-absolute-deviation noise.

    Raises
    ------
    ValueError
        No "sigma_sfr" map, or an unknown map name.
    """
    cube = cube if isinstance(cube, Cube) else read_fits(Path(cube))
    unknown = set(maps) - set(MAP_NAMES)
    if "sigma_sfr" not in maps or unknown:
        raise ValueError(f"maps must name a 'sigma_sfr' FITS and may name {MAP_NAMES[1:]}; got "
                         f"{sorted(maps)}" + (f" ({sorted(unknown)} unknown)" if unknown else ""))
    on_grid = {name: reproject_map(path, cube, name) for name, path in maps.items()}
    zeros = np.zeros(cube.shape[1:])
    data = np.nan_to_num(np.asarray(cube.data, dtype=np.float64))
    sigma_line = on_grid.get("sigma_line")
    if sigma_line is None:
        from scipy import ndimage
        beam = math.sqrt(cube.beam_fwhm_px[0] * cube.beam_fwhm_px[1])
        sigma_line = np.clip(ndimage.gaussian_filter(data.sum(axis=0), beam / FWHM_PER_SIGMA), 0, None)
    sfr = on_grid["sigma_sfr"]
    sigma_line = np.where(np.isfinite(sfr), sigma_line, 0.0)   # uncovered spaxels are not scored
    record = {"observed": True, "maps": {k: str(v) for k, v in maps.items()}}
    property_maps = PropertyMaps(sigma_line, on_grid.get("sigma_gas", zeros), np.nan_to_num(sfr), zeros, record)
    return Pair(galaxy, cube, property_maps, float(data.max() / sigma_mad(data)))
