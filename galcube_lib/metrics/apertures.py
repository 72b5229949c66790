"""Apertures (boolean masks) and the flux in them: the cylinder, the benchmark aperture of
docs/conventions.md, Apertures, and the one of a simulated cube's record."""
from __future__ import annotations

import numpy as np

from galcube_lib._util import checks as _validate
from galcube_lib.io.cube import Cube
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
    """The benchmark aperture: a cylinder of diameter 2 * max(2 R_e, FWHM)
    (docs/conventions.md, Apertures).

    ``beam_fwhm_px`` may be a number or (bmaj, bmin); the major axis is used.
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
    """
    _validate.cube("cube", cube)
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

    For a Cube the channel width and beam area default to the cube's (Jy km/s for Jy/beam data);
    for an array both default to 1 (a plain voxel sum).
    """
    arr = as_array(data, "data")
    (values,) = select(aperture, arr)
    return float(values.sum()) * flux_scale(data, channel_kms, beam_area_px)
