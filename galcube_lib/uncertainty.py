"""Per-voxel uncertainty of a denoised cube by noise re-sampling (a parametric bootstrap).

The denoised cube d = f(x) stands in for the sky. Fresh noise n_k with the power spectra and
spread of a noise template (by default the residual x - d, so that beam and spectral
correlations are kept) is added to it and denoised again: d_k = f(d + n_k). The spread of the
d_k is the variance of the method; their mean offset from d estimates its bias (e.g. a peak flattened by smoothing).
The uncertainty combines both, sigma^2 = var_k(d_k) + (mean_k(d_k) - d)^2, so it covers the
error a denoiser makes, not only its scatter.
"""
from __future__ import annotations

import numpy as np

from . import _validate as check
from .noise import realisations


def resample(denoise_fn, data: np.ndarray, denoised: np.ndarray, *, noise=None,
             n_samples: int = 8, rng=0, progress: bool = False) -> np.ndarray:
    """Uncertainty cube of ``denoised = denoise_fn(data)`` from ``n_samples`` re-samplings.

    Parameters
    ----------
    denoise_fn : callable
        The denoiser, array -> array of the same shape.
    data, denoised : numpy.ndarray
        The (v, y, x) input and its denoised version.
    noise : float, numpy.ndarray or None
        The noise model: a standard deviation (white noise), a noise cube (its power spectra
        and spread are used, e.g. line-free channels or an empty region) or a stack of noise
        realisations; None takes the residual ``data - denoised``.
    n_samples : int
        Re-samplings, >= 2.
    rng : int, None or numpy.random.Generator
        Seed of the noise draws.
    progress : bool
        Show a progress bar.

    Returns
    -------
    numpy.ndarray
        float32 1-sigma uncertainty, same shape as ``data``.
    """
    from tqdm.auto import tqdm

    n_samples = check.integer("n_samples", n_samples, 2)
    template = np.asarray(data, float) - denoised if noise is None else noise
    draws = realisations(template, data.shape, n_samples, rng)
    total = np.zeros(data.shape)
    total_sq = np.zeros(data.shape)
    for draw in tqdm(draws, desc="uncertainty", disable=not progress, leave=False):
        d_k = np.asarray(denoise_fn((denoised + draw).astype(np.float32)), dtype=float)
        total += d_k
        total_sq += d_k * d_k
    n = len(draws)
    mean = total / n
    var = np.clip(total_sq / n - mean * mean, 0.0, None) * n / (n - 1)
    return np.sqrt(var + (mean - denoised) ** 2).astype(np.float32)
