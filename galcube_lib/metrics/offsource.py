"""Off-source placements: the aperture moved to where there is no source, the spread of its flux
there (the aperture-flux noise, with the noise's spatial and spectral correlations) and the SNR
it gives (docs/conventions.md, Apertures and SNR).

:func:`offsource_placements` is the one implementation; :func:`offsource_flux_noise`,
:func:`snr_offsource`, :func:`snr_gain_offsource`, the hallucination figures,
:func:`galcube_lib.metrics.evaluate` and the real-data evaluation read their figures off it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from galcube_lib._util import rng as _rng
from galcube_lib.metrics._inputs import as_array, as_mask, finite, flux_scale, not_finite, same_shape


def offsource_shifts(shape, aperture, n_placements=200, rng=0, *, exclude=None, invalid=None,
                     spectral=False):
    """Random shifts that place the aperture off source, inside the cube, off NaN.

    Parameters
    ----------
    shape : tuple of int
        (n_chan, ny, nx) of the cube.
    aperture : bool array
        (y, x) or (v, y, x) source aperture.
    n_placements : int
        Number of placements; fewer (all there are) when the cube holds fewer.
    rng : None, int, numpy SeedSequence or Generator
        Draws the placements (without replacement among all allowed ones).
    exclude : bool array, optional
        (y, x) or (v, y, x) voxels a placement must not touch (e.g. other sources).
    invalid : bool array, optional
        (v, y, x) or (y, x) voxels that are not data (NaN): a placement may not touch them.
    spectral : bool
        False (default): the aperture's footprint (its pixels in any channel) moves across the
        sky, (dy, dx) shifts. True: the (v, y, x) aperture moves along the spectrum too, with
        (dv, dy, dx) shifts, so that a source filling the field can still be placed in its
        line-free channels; only the voxels of ``aperture``, ``exclude`` and ``invalid``
        themselves (not their footprints) must not overlap.

    Returns
    -------
    numpy.ndarray
        int array (n, 2), or (n, 3) when ``spectral``; placement k covers ``aperture`` moved by
        ``shifts[k]``.
    """
    from scipy.signal import correlate  # here, so that importing the metrics stays light

    n_placements = int(n_placements)
    if n_placements < 2:
        raise ValueError(f"n_placements={n_placements!r} is outside the valid range [2, inf)")
    mask = as_mask(aperture, shape)
    body = mask if spectral else mask.any(axis=0)
    forbidden = body.copy()
    for name, extra in (("exclude", exclude), ("invalid", invalid)):
        if extra is not None and np.asarray(extra).any():
            extra = as_mask(np.asarray(extra, dtype=bool), shape, name)
            forbidden |= extra if spectral else extra.any(axis=0)
    hit = [np.flatnonzero(body.any(axis=tuple(a for a in range(body.ndim) if a != ax)))
           for ax in range(body.ndim)]
    origin = np.array([h[0] for h in hit])
    crop = body[tuple(slice(h[0], h[-1] + 1) for h in hit)].astype(float)
    allowed = np.argwhere(correlate(forbidden.astype(float), crop, mode="valid") < 0.5)
    if len(allowed) < 2:
        raise ValueError("fewer than 2 off-source placements fit in the cube for this aperture")
    gen, _ = _rng.generator(rng)
    pick = gen.choice(len(allowed), size=min(n_placements, len(allowed)), replace=False)
    return allowed[pick] - origin


def offsource_fluxes(data, aperture, shifts, *, channel_kms=None, beam_area_px=None):
    """Aperture fluxes (as :func:`aperture_flux`) at each placement of :func:`offsource_shifts`.

    Parameters
    ----------
    data : Cube or numpy.ndarray
        The cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).
    shifts : array_like of int
        (n, 2) (dy, dx) or (n, 3) (dv, dy, dx) shifts, as :func:`offsource_shifts` gives them.
    channel_kms : float, optional
        Channel width in km/s; the Cube's by default, 1 for an array.
    beam_area_px : float, optional
        Beam area in pixels; the Cube's by default, 1 for an array.

    Returns
    -------
    numpy.ndarray
        One flux per placement (NaN voxels count as 0).
    """
    arr = as_array(data, "data")
    voxels = np.nonzero(as_mask(aperture, arr.shape))
    shifts = np.asarray(shifts, dtype=int)
    shifts = shifts.reshape(-1, shifts.shape[-1] if shifts.ndim > 1 else 2)
    if shifts.shape[1] == 2:
        shifts = np.column_stack([np.zeros(len(shifts), int), shifts])
    sums = np.array([np.nansum(arr[tuple(i + d for i, d in zip(voxels, shift))])
                     for shift in shifts])
    return sums * flux_scale(data, channel_kms, beam_area_px)


@dataclass(frozen=True)
class OffsourcePlacements:
    """The aperture at the same off-source placements in one or more cubes.

    Attributes
    ----------
    shifts : numpy.ndarray
        The placements, as :func:`offsource_shifts` returns them.
    fluxes : tuple of numpy.ndarray
        Per cube, the aperture flux at each placement.
    flux : tuple of float
        Per cube, the aperture flux at the source (voxels finite in every cube).
    """

    shifts: np.ndarray
    fluxes: tuple
    flux: tuple

    @property
    def flux_noise(self) -> tuple:
        """Per cube, the aperture-flux noise: the std (ddof=1) of the fluxes at the placements."""
        return tuple(np.std(f, ddof=1) for f in self.fluxes)

    def snr(self, k: int = 0) -> float:
        """Aperture SNR of cube ``k``: its flux over its flux noise.

        Parameters
        ----------
        k : int, optional
            Index of the cube, in the order given (default 0).

        Returns
        -------
        float
            The SNR; inf when the flux noise is 0.
        """
        noise = self.flux_noise[k]
        return self.flux[k] / noise if noise > 0 else math.inf

    def flux_sigma(self, k: int = 0, reference: int = -1) -> np.ndarray:
        """Fluxes of cube ``k`` at the placements in units of cube ``reference``'s flux noise.

        Parameters
        ----------
        k : int, optional
            Index of the cube whose fluxes are given (default 0).
        reference : int, optional
            Index of the cube whose flux noise is the unit (default -1, the last).

        Returns
        -------
        numpy.ndarray
            One value per placement.
        """
        return self.fluxes[k] / self.flux_noise[reference]


def offsource_placements(cubes, aperture, n_placements=200, rng=0, *, exclude=None,
                         spectral=False, channel_kms=None, beam_area_px=None) -> OffsourcePlacements:
    """Place the aperture off source and measure every cube there, at the same places.

    Parameters
    ----------
    cubes : sequence of Cubes or (v, y, x) arrays
        Cubes of one shape (e.g. the denoised and the noisy cube).
    aperture : bool array
        (y, x) or (v, y, x) source aperture.
    n_placements, rng, exclude, spectral
        As :func:`offsource_shifts`; placements avoid voxels that are not finite in any cube.
    channel_kms, beam_area_px : float, optional
        Flux scale, as :func:`aperture_flux` (default from each Cube, or 1 for arrays).

    Returns
    -------
    OffsourcePlacements
        The shifts, each cube's fluxes there and at the source; ``flux_noise``, ``snr(k)`` and
        ``flux_sigma(k, reference)`` follow from them.
    """
    cubes = list(cubes)
    arrays = [as_array(c, "cubes") for c in cubes]
    same_shape({f"cubes[{k}]": a for k, a in enumerate(arrays)})
    shape = arrays[0].shape
    shifts = offsource_shifts(shape, aperture, n_placements, rng, exclude=exclude,
                              invalid=not_finite(*arrays), spectral=spectral)
    sel = as_mask(aperture, shape) & finite(*arrays)
    scales = [flux_scale(c, channel_kms, beam_area_px) for c in cubes]
    fluxes = tuple(offsource_fluxes(a, aperture, shifts) * s for a, s in zip(arrays, scales))
    return OffsourcePlacements(shifts, fluxes, tuple(a[sel].sum() * s for a, s in zip(arrays, scales)))


def offsource_flux_noise(data, aperture, n_placements=200, rng=0, *, exclude=None,
                         channel_kms=None, beam_area_px=None) -> float:
    """Aperture-flux noise: the std (ddof=1) of the aperture's flux at random off-source places.

    Placing the same aperture shape elsewhere measures the noise of the aperture flux
    including its spatial and spectral correlations (docs/conventions.md, Apertures).
    Placements avoid the source aperture, ``exclude``, the field edge and NaN voxels; ``rng``
    draws them.

    Parameters
    ----------
    data : Cube or numpy.ndarray
        The cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).
    n_placements : int, optional
        Placements to draw, >= 2 (default 200; all of them when fewer fit, at least 2 must).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Randomness of the placements (default 0, repeatable; docs/conventions.md,
        Randomness).
    exclude : numpy.ndarray, optional
        Boolean (y, x) or (v, y, x) voxels the placements must not touch besides the source
        aperture (e.g. other sources).
    channel_kms : float, optional
        Channel width in km/s; the Cube's by default, 1 for an array.
    beam_area_px : float, optional
        Beam area in pixels; the Cube's by default, 1 for an array.

    Returns
    -------
    float
        The aperture-flux noise, in the units of :func:`aperture_flux`.

    Raises
    ------
    ValueError
        A bad aperture, or fewer than 2 placements that fit.
    """
    placed = offsource_placements([data], aperture, n_placements, rng, exclude=exclude,
                                  channel_kms=channel_kms, beam_area_px=beam_area_px)
    return float(placed.flux_noise[0])


def snr_offsource(data, aperture, n_placements=200, rng=0, *, exclude=None) -> float:
    """SNR of the aperture flux: aperture flux / :func:`offsource_flux_noise`.

    See docs/conventions.md, SNR (aperture SNR).

    Parameters
    ----------
    data : Cube or numpy.ndarray
        The cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).
    n_placements : int, optional
        Placements to draw, >= 2 (default 200; all of them when fewer fit, at least 2 must).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Randomness of the placements (default 0, repeatable; docs/conventions.md,
        Randomness).
    exclude : numpy.ndarray, optional
        Boolean (y, x) or (v, y, x) voxels the placements must not touch besides the source
        aperture (e.g. other sources).

    Returns
    -------
    float
        The SNR (unit-free); inf when the flux noise is 0.

    Raises
    ------
    ValueError
        A bad aperture, or fewer than 2 placements that fit.
    """
    arr = as_array(data, "data")  # flux and noise both as plain sums: the ratio is unit-free
    return float(offsource_placements([arr], aperture, n_placements, rng, exclude=exclude).snr(0))


def snr_gain_offsource(denoised, noisy, aperture, n_placements=200, rng=0, *, exclude=None) -> float:
    """SNR gain on real data: SNR_offsource(denoised) / SNR_offsource(noisy).

    Both cubes use the same placements (drawn once from ``rng``, avoiding voxels that are NaN in
    either). Caution: methods that threshold drive the denoised cube's off-source flux to ~0,
    and hence this gain to very large values; :func:`snr_gain_reinjection` measures the
    denoised noise by re-denoising instead.

    Parameters
    ----------
    denoised : Cube or numpy.ndarray
        The denoised cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    noisy : Cube or numpy.ndarray
        The noisy cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).
    n_placements : int, optional
        Placements to draw, >= 2 (default 200; all of them when fewer fit, at least 2 must).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Randomness of the placements (default 0, repeatable; docs/conventions.md,
        Randomness).
    exclude : numpy.ndarray, optional
        Boolean (y, x) or (v, y, x) voxels the placements must not touch besides the source
        aperture (e.g. other sources).

    Returns
    -------
    float
        The gain (> 1: the SNR rose); inf when the denoised flux noise is 0.

    Raises
    ------
    ValueError
        Shapes that differ, a bad aperture, or fewer than 2 placements that fit.
    """
    d, n = as_array(denoised, "denoised"), as_array(noisy, "noisy")
    same_shape({"denoised": d, "noisy": n})
    placed = offsource_placements([d, n], aperture, n_placements, rng, exclude=exclude)
    snr_d = placed.snr(0)
    return float(snr_d / placed.snr(1)) if math.isfinite(snr_d) else math.inf
