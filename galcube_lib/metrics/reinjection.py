"""Aperture-flux noise of a denoiser by re-injecting noise into the cube and denoising again, and
the SNR gain it gives (docs/conventions.md, SNR)."""
from __future__ import annotations

import math

import numpy as np

from galcube_lib._util import checks as _validate
from galcube_lib.io.cube import Cube
from galcube_lib.metrics._inputs import as_array, flux_scale
from galcube_lib.metrics.apertures import aperture_flux
from galcube_lib.noise.realise import realisations


def _denoised_array(denoise_fn, cube, template):
    arg = template.replace(data=cube, noise=None) if isinstance(template, Cube) else cube
    return as_array(denoise_fn(arg), "denoise_fn(...)")


def reinjection_flux_noise(denoise_fn, noisy, aperture, noise=None, n_realisations=8, rng=0,
                           *, sigma=None, channel_kms=None, beam_area_px=None) -> dict:
    """Aperture-flux noise of a denoiser by re-injection of the cube's own noise.

    Each of ``n_realisations`` extra noise cubes is added to ``noisy`` and the sum re-denoised;
    the spread of the aperture flux of those outputs is the denoised flux noise. The injected
    noise adds its variance to the cube's own, so compare with the same spread for the
    identity (see :func:`snr_gain_reinjection`), not with the noise of ``noisy`` itself.

    Parameters
    ----------
    denoise_fn : callable
        Cube or array -> Cube or array (it receives a Cube when ``noisy`` is one).
    noisy : Cube or array
        The noisy (v, y, x) cube.
    aperture : bool array
        (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).
    noise : 3-D array or sequence of 3-D arrays, optional
        A noise cube (realisations with its spatial and spectral power spectra are drawn, as
        ``gl.add_noise(..., kind=noise_cube)`` does), or the realisations themselves (e.g. from
        ``gl.add_noise``), used as given. A number here is taken as ``sigma``, with a
        DeprecationWarning.
    n_realisations : int
        Number of realisations drawn (>= 2); ignored when realisations are given.
    rng : None, int, numpy SeedSequence or Generator
        Randomness of the realisations (default 0, repeatable).
    sigma : float, optional
        Instead of ``noise``: white noise of this standard deviation (data units).
    channel_kms, beam_area_px : float, optional
        Flux scale, as :func:`~galcube_lib.metrics.aperture_flux`.

    Returns
    -------
    dict
        ``flux_noise`` (std, ddof=1, of the fluxes), ``fluxes`` (array), ``flux`` (of denoise(noisy)).
    """
    if not callable(denoise_fn):
        raise TypeError("denoise_fn must be callable")
    n_realisations = _validate.integer("n_realisations", n_realisations, 2)
    arr = as_array(noisy, "noisy")
    extras = realisations(noise, arr.shape, n_realisations, rng, sigma=sigma)
    scale = flux_scale(noisy, channel_kms, beam_area_px)
    flux = lambda cube: aperture_flux(cube, aperture) * scale
    fluxes = np.array([flux(_denoised_array(denoise_fn, arr + e, noisy)) for e in extras])
    return {"flux_noise": float(np.std(fluxes, ddof=1)), "fluxes": fluxes,
            "flux": flux(_denoised_array(denoise_fn, arr, noisy))}


def snr_gain_reinjection(denoise_fn, noisy, aperture, noise=None, n_realisations=8, rng=0, *,
                         sigma=None) -> float:
    """SNR gain by re-injection: (F_d / sigma_d) / (F_n / sigma_n).

    F_d is the aperture flux of denoise(noisy), sigma_d the spread of the flux of
    denoise(noisy + extra noise); F_n and sigma_n the same for the identity (no denoising),
    with the same noise realisations (drawn once from ``rng``).

    Parameters
    ----------
    denoise_fn : callable
        Cube or array -> Cube or array (it receives a Cube when ``noisy`` is one).
    noisy : Cube or array
        The noisy (v, y, x) cube.
    aperture : bool array
        (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).
    noise : 3-D array or sequence of 3-D arrays, optional
        A noise cube to draw realisations like, or the realisations, as for
        :func:`reinjection_flux_noise`.
    n_realisations : int
        Number of realisations drawn (>= 2, default 8); ignored when realisations are given.
    rng : None, int, numpy SeedSequence or Generator
        Randomness of the realisations (default 0, repeatable).
    sigma : float, optional
        Instead of ``noise``: white noise of this standard deviation (data units).

    Returns
    -------
    float
        The gain (> 1: the SNR rose); inf when the denoised flux noise is 0.
    """
    n_realisations = _validate.integer("n_realisations", n_realisations, 2)
    extras = realisations(noise, as_array(noisy, "noisy").shape, n_realisations, rng, sigma=sigma)
    den = reinjection_flux_noise(denoise_fn, noisy, aperture, extras)
    ref = reinjection_flux_noise(lambda c: c, noisy, aperture, extras)
    if den["flux_noise"] == 0:
        return math.inf
    return float((den["flux"] / den["flux_noise"]) / (ref["flux"] / ref["flux_noise"]))
