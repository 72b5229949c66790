"""Apertures (boolean masks) and the flux in them: the cylinder, the benchmark aperture of
docs/conventions.md, Apertures, and the one of a simulated cube's record."""
from __future__ import annotations

import numpy as np

from galcube_lib.io.cube import Cube, check_cube
from galcube_lib.metrics._inputs import as_array, flux_scale, select


def aperture(shape, center_yx, diameter_px) -> np.ndarray:
    """A cylindrical aperture: pixels within ``diameter_px / 2`` of ``center_yx``, all channels.

    Parameters
    ----------
    shape : tuple of int
        (n_chan, ny, nx) of the cube.
    center_yx : (float, float)
        Centre in 0-based pixel coordinates (y, x); need not be an integer.
    diameter_px : float
        Diameter in pixels (> 0). A pixel is inside when its centre is at distance <= radius.

    Returns
    -------
    numpy.ndarray
        Boolean (v, y, x) mask.
    """
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (n_chan, ny, nx) with positive sizes, got {shape!r}")
    if not (np.isfinite(diameter_px) and diameter_px > 0):
        raise ValueError(f"diameter_px={diameter_px!r} is outside the valid range (0, inf)")
    cy, cx = (float(c) for c in center_yx)
    y, x = np.indices(shape[1:])
    disk = (y - cy) ** 2 + (x - cx) ** 2 <= (diameter_px / 2.0) ** 2
    if not disk.any():
        raise ValueError(f"the aperture at center_yx={center_yx!r} with diameter_px={diameter_px!r} "
                         f"holds no pixel of a {shape[1:]} field")
    return np.broadcast_to(disk, tuple(shape)).copy()


def published_aperture(shape, center_yx, r_eff_px, beam_fwhm_px) -> np.ndarray:
    """The benchmark aperture: a cylinder of diameter 2 * max(2 R_e, FWHM).

    See docs/conventions.md, Apertures.

    Parameters
    ----------
    shape : tuple of int
        (n_chan, ny, nx) of the cube.
    center_yx : (float, float)
        Centre in 0-based pixel coordinates (y, x).
    r_eff_px : float
        Half-light radius R_e in pixels, > 0.
    beam_fwhm_px : float or (float, float)
        Beam FWHM in pixels, > 0; of (bmaj, bmin) the major axis is used.

    Returns
    -------
    numpy.ndarray
        Boolean (v, y, x) mask, as :func:`aperture` gives it.

    Raises
    ------
    ValueError
        R_e or the FWHM not > 0, or an aperture holding no pixel of the field.
    """
    fwhm = float(np.max(np.atleast_1d(beam_fwhm_px)))
    if not (r_eff_px > 0):
        raise ValueError(f"r_eff_px={r_eff_px!r} is outside the valid range (0, inf)")
    if not (fwhm > 0):
        raise ValueError(f"beam_fwhm_px={beam_fwhm_px!r} must be > 0")
    return aperture(shape, center_yx, 2.0 * max(2.0 * r_eff_px, fwhm))


def aperture_from_record(cube: Cube) -> np.ndarray:
    """The published aperture of a simulated cube, centred on its first component.

    The centre is pixel ``n_pix // 2 + offset_kpc / pixel_kpc`` along x and y, R_e is the first
    component's ``r_eff_kpc / pixel_kpc`` and the beam FWHM comes from the record's observation.

    Parameters
    ----------
    cube : Cube
        A simulated cube (its ``record`` has ``components`` and ``observation``).

    Returns
    -------
    numpy.ndarray
        Boolean (v, y, x) mask (:func:`published_aperture`).

    Raises
    ------
    ValueError
        The record does not describe a simulated galaxy.
    """
    check_cube("cube", cube)
    try:
        comp = cube.record["components"][0]
        obs = cube.record["observation"]
        px = float(obs["pixel_kpc"])
        centre = obs["n_pix"] // 2
        dx, dy = (float(o) / px for o in comp["offset_kpc"])
        r_eff = float(comp["r_eff_kpc"]) / px
        fwhm = obs.get("beam_fwhm_px", cube.beam_fwhm_px if "BMAJ" in cube.header else None)
    except (KeyError, IndexError, TypeError) as err:
        raise ValueError(f"cube.record does not describe a simulated galaxy (missing {err}); "
                         "give an aperture mask instead") from None
    return published_aperture(cube.shape, (centre + dy, centre + dx), r_eff, fwhm)


def aperture_flux(data, aperture, *, channel_kms=None, beam_area_px=None) -> float:
    """Flux in an aperture: ``sum_A(data) * channel_kms / beam_area_px`` over finite voxels.

    See docs/conventions.md, Units and Apertures.

    Parameters
    ----------
    data : Cube or numpy.ndarray
        The cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).
    channel_kms : float, optional
        Channel width in km/s, > 0; the Cube's by default, 1 for an array.
    beam_area_px : float, optional
        Beam area in pixels, > 0; the Cube's by default, 1 for an array.

    Returns
    -------
    float
        The flux: Jy km/s for a Cube in Jy/beam, a plain voxel sum for an array with the
        defaults.

    Raises
    ------
    ValueError
        A bad or empty aperture, no finite voxel in it, or a scale not > 0.
    """
    arr = as_array(data, "data")
    (values,) = select(aperture, arr)
    return float(values.sum()) * flux_scale(data, channel_kms, beam_area_px)
