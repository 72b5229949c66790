"""A real cube's emission and the noise around it: where the emission may be, the aperture its
flux is measured in, and noise cubes like its own (docs/conventions.md, Apertures and Noise).

They live with the denoisers because the default null check of :func:`galcube_lib.denoise`
needs them; :mod:`galcube_lib.metrics.real` measures with them.
"""
from __future__ import annotations

import math

import numpy as np

from galcube_lib._util import checks as _validate
from galcube_lib.denoise.smooth_clip import dilate
from galcube_lib.io.cube import Cube
from galcube_lib.noise.estimate import sigma_negative
from galcube_lib.noise.realise import realisations


def _source_mask(cube: Cube) -> np.ndarray:
    from galcube_lib.denoise import source_mask  # the package imports this module

    return source_mask(cube)


def voxel_mask(name: str, value, cube: Cube, default) -> np.ndarray:
    """``value`` as a (v, y, x) boolean array of the cube's shape, or ``default(cube)`` if None.

    Parameters
    ----------
    name : str
        The argument's name, for the error.
    value : array_like or None
        The mask.
    cube : Cube
        The cube it must fit.
    default : callable
        ``default(cube)`` gives the mask when ``value`` is None.

    Returns
    -------
    numpy.ndarray
        Boolean (v, y, x).
    """
    if value is None:
        return default(cube)
    mask = np.asarray(value, dtype=bool)
    if mask.shape != cube.shape:
        raise ValueError(f"{name} has shape {mask.shape}; it must be a (v, y, x) boolean array of "
                         f"the cube's shape {cube.shape}")
    return mask


def _beam_disk(cube: Cube, beams: float) -> int:
    return max(1, int(math.ceil(beams * cube.beam_fwhm_px[0])))


def emission_zone(cube: Cube, mask=None, dilate_v: int = 2) -> np.ndarray:
    """The voxels a cube's own emission could still touch: its source mask grown by one beam
    FWHM across the sky and ``dilate_v`` channels (docs/conventions.md, Apertures).

    Parameters
    ----------
    cube : Cube
        The real cube.
    mask : bool array, optional
        (v, y, x) emission mask of the cube's shape; default
        :func:`galcube_lib.denoise.source_mask` (smooth and clip at 5 sigma).
    dilate_v : int, optional
        Channels the mask grows by along the spectrum, >= 0 (default 2).

    Returns
    -------
    numpy.ndarray
        Boolean (v, y, x): True where the cube's emission may be.
    """
    dilate_v = _validate.integer("dilate_v", dilate_v, 0)
    mask = voxel_mask("mask", mask, cube, _source_mask)
    return dilate(mask, dilate_xy=_beam_disk(cube, 1.0), dilate_v=dilate_v)


def flux_aperture(cube: Cube, mask=None, grow_beams: float = 1.0) -> np.ndarray:
    """The aperture real-cube fluxes are measured in (docs/conventions.md, Apertures).

    Parameters
    ----------
    cube : Cube
        The real cube (NaN = blank).
    mask : bool array, optional
        (v, y, x) source mask of the cube's shape; default
        :func:`galcube_lib.denoise.source_mask`.
    grow_beams : float, optional
        How far the mask's footprint is grown, in beam FWHM, >= 0 (default 1).

    Returns
    -------
    numpy.ndarray
        Boolean (v, y, x): the footprint of the source mask grown by ``grow_beams`` beam FWHM,
        over the channels with emission grown by 2 channels.

    Raises
    ------
    ValueError
        An empty source mask, or a mask of the wrong shape.
    """
    grow_beams = _validate.number("grow_beams", grow_beams, 0.0)
    mask = voxel_mask("mask", mask, cube, _source_mask)
    if not mask.any():
        raise ValueError("the source mask is empty: no emission to put an aperture on; "
                         "give aperture= (a (v, y, x) boolean mask) yourself")
    grown = dilate(mask, dilate_xy=_beam_disk(cube, grow_beams), dilate_v=2)
    return grown.any(axis=0)[None] & grown.any(axis=(1, 2))[:, None, None]


def own_noise(cube: Cube, n_realisations: int, mask=None, rng=0) -> list[np.ndarray]:
    """Noise cubes like the cube's own.

    Gaussian noise with the spatial and spectral power spectra of its emission-free voxels
    (the source mask grown by a beam; blanks set to 0), scaled to their noise level (negative
    voxels). A primary-beam corrected cube is measured in flat-noise units (data x gain) and
    the draws divided by the gain, so they rise towards the field edge as the cube's noise
    does.

    Parameters
    ----------
    cube : Cube
        The real cube (NaN = blank).
    n_realisations : int
        How many to draw, >= 1.
    mask : bool array, optional
        (v, y, x) source mask of the cube's shape; default
        :func:`galcube_lib.denoise.source_mask`.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Randomness (default 0, repeatable).

    Returns
    -------
    list of numpy.ndarray
        float32 (v, y, x) noise cubes in the cube's units, NaN where the cube is blank.

    Raises
    ------
    ValueError
        No emission-free negative voxel to measure the noise on.
    """
    mask = voxel_mask("mask", mask, cube, _source_mask)
    gain = np.float32(1.0) if cube.gain is None else cube.gain
    flat = cube.data * gain
    free = ~emission_zone(cube, mask) & np.isfinite(flat)
    sigma = sigma_negative(flat[free])
    if not sigma > 0:
        raise ValueError("the cube has no emission-free negative voxels to measure its noise on")
    template = np.where(free, flat, 0.0)
    scale = sigma / float(np.std(template))
    blank = ~np.isfinite(flat)
    return [np.where(blank, np.nan, r * scale / gain).astype(np.float32)
            for r in realisations(template, cube.shape, n_realisations, rng)]


#: undenoised own-noise draws that measure the spread of the aperture flux in a null check
NULL_SPREAD_DRAWS = 16


def null_check(cube: Cube, denoise_noise, n_null: int, rng=0, mask=None) -> dict:
    """How much flux a denoiser puts into pure noise like the cube's own.

    ``n_null`` own-noise cubes (:func:`own_noise`) are denoised by ``denoise_noise``; the flux
    in the cube's source aperture (:func:`flux_aperture`) of each is divided by the spread of
    that flux over :data:`NULL_SPREAD_DRAWS` undenoised draws. Units cancel, so sums suffice.

    Parameters
    ----------
    cube : Cube
        The real cube.
    denoise_noise : callable
        ``denoise_noise(noise_cube)`` -> the denoised (v, y, x) array.
    n_null : int
        Nulls to denoise, >= 1.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Randomness of the draws (default 0, repeatable).
    mask : bool array, optional
        The cube's (v, y, x) source mask, when already found; default
        :func:`galcube_lib.denoise.source_mask`.

    Returns
    -------
    dict
        ``null_flux_sigma`` (mean over the nulls), ``values`` and ``n_null``; or ``skipped``
        with the reason when the cube shows no emission to put an aperture on.
    """
    n_null = _validate.integer("n_null", n_null, 1)
    mask = voxel_mask("mask", mask, cube, _source_mask)
    if not mask.any():
        return {"skipped": "no emission found (empty source mask): no aperture to measure in"}
    aperture = flux_aperture(cube, mask)
    draws = own_noise(cube, n_null + NULL_SPREAD_DRAWS, mask, rng)
    spread = float(np.std([np.nansum(d[aperture]) for d in draws[n_null:]], ddof=1))
    values = [float(np.nansum(denoise_noise(cube.replace(data=d))[aperture]) / spread)
              for d in draws[:n_null]]
    return {"null_flux_sigma": float(np.mean(values)), "values": values, "n_null": n_null}


def with_null_check(denoised: Cube, found: dict) -> Cube:
    """``denoised`` with a null check's result in ``record["denoise"]["null_check"]`` and a
    HISTORY card (the one place both :func:`galcube_lib.denoise` and
    :func:`galcube_lib.metrics.real.evaluate_real` write it).

    Parameters
    ----------
    denoised : Cube
        A cube :func:`galcube_lib.denoise` returned.
    found : dict
        What :func:`null_check` returns (``null_flux_sigma``, ``values``, ``n_null``, or
        ``skipped``).

    Returns
    -------
    Cube
        A new Cube; ``denoised`` is left as it is.
    """
    header = denoised.header.copy()
    if "null_flux_sigma" in found:
        header["HISTORY"] = (f"galcube null check: {found['null_flux_sigma']:+.2f} sigma of flux "
                             f"in the source aperture of {found['n_null']} denoised own-noise "
                             "cube(s)")
    else:
        header["HISTORY"] = f"galcube null check skipped: {found['skipped']}"
    record = {**denoised.record, "denoise": {**denoised.record["denoise"], "null_check": found}}
    return denoised.replace(header=header, record=record)
