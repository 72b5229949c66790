"""Hallucination: flux a denoiser puts where there is no source, in units of the noisy flux noise,
on pure-noise cubes (:func:`null_test`) or at off-source placements
(:func:`offsource_hallucination`)."""
from __future__ import annotations

import numpy as np

from galcube_lib.metrics._inputs import as_array, same_shape
from galcube_lib.metrics.apertures import aperture_flux
from galcube_lib.metrics.offsource import offsource_placements


def detections(flux_sigma, n_sigma: float) -> dict:
    """The mean and the detection rate of fluxes given in units of sigma.

    Parameters
    ----------
    flux_sigma : array_like
        Fluxes in units of the flux noise.
    n_sigma : float
        Detection threshold; one-sided, ``flux > n_sigma``.

    Returns
    -------
    dict
        ``mean_flux_sigma`` and ``detection_fraction`` (in [0, 1]).
    """
    z = np.asarray(flux_sigma)
    return {"mean_flux_sigma": float(z.mean()), "detection_fraction": float(np.mean(z > n_sigma))}


def null_test(denoise_fn, noise_cubes, aperture, *, n_sigma=3.0, flux_noise=None) -> dict:
    """Hallucination on pure noise: the denoised aperture flux in units of the noisy flux noise.

    Parameters
    ----------
    denoise_fn : callable
        Cube or array -> Cube or array.
    noise_cubes : sequence of Cubes or arrays
        Pure-noise cubes (no source), all of one shape.
    aperture : bool array
        (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).
    n_sigma : float
        Detection threshold (one-sided: flux > n_sigma * noise is a false detection).
    flux_noise : float, optional
        The noisy cubes' aperture-flux noise; default the std (ddof=1) over ``noise_cubes`` of
        their aperture flux (needs >= 2 cubes). ``offsource_flux_noise`` of one cube also fits.

    Returns
    -------
    dict
        ``flux_sigma`` (per cube), ``mean_flux_sigma``, ``detection_fraction``, ``flux_noise``.
    """
    cubes = list(noise_cubes)
    if not cubes:
        raise ValueError("noise_cubes is empty")
    noisy_flux = np.array([aperture_flux(as_array(c, "noise_cubes"), aperture) for c in cubes])
    if flux_noise is None:
        if len(cubes) < 2:
            raise ValueError("noise_cubes needs >= 2 cubes to estimate flux_noise; or give it")
        flux_noise = float(np.std(noisy_flux, ddof=1))
    if not flux_noise > 0:
        raise ValueError(f"flux_noise={flux_noise!r} must be > 0")
    den = np.array([aperture_flux(as_array(denoise_fn(c), "denoise_fn(...)"), aperture) for c in cubes])
    z = den / flux_noise
    return {"flux_sigma": z, **detections(z, n_sigma), "flux_noise": float(flux_noise)}


def offsource_hallucination(denoised, noisy, aperture, n_placements=200, rng=0, *,
                            exclude=None, n_sigma=3.0) -> dict:
    """Flux the denoiser puts where there is no source, in units of the noisy flux noise.

    The aperture is placed at random off-source positions (as
    :func:`~galcube_lib.metrics.offsource_shifts`); the denoised flux there is divided by the
    std of the noisy cube's flux at the same places.

    Parameters
    ----------
    denoised : Cube or numpy.ndarray
        The denoised cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    noisy : Cube or numpy.ndarray
        The noisy cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).
    n_placements : int, optional
        Placements to draw (default 200; all of them when fewer fit, at least 2 must).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Randomness of the placements (default 0, repeatable).
    exclude : numpy.ndarray, optional
        Boolean (y, x) or (v, y, x) voxels the placements must avoid besides the source
        aperture.
    n_sigma : float, optional
        Detection threshold (default 3; one-sided).

    Returns
    -------
    dict
        ``mean_flux_sigma`` and ``detection_fraction`` (placements with flux > n_sigma).
    """
    d, n = as_array(denoised, "denoised"), as_array(noisy, "noisy")
    same_shape({"denoised": d, "noisy": n})
    placed = offsource_placements([d, n], aperture, n_placements, rng, exclude=exclude)
    return detections(placed.flux_sigma(0, reference=1), n_sigma)
