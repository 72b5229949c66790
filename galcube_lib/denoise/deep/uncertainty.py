"""Per-voxel uncertainty of a denoised cube by noise re-sampling (a parametric bootstrap).

The denoised cube d = f(x) stands in for the sky. Fresh noise n_k with the power spectra and
spread of a noise template (by default the residual x - d, so that beam and spectral
correlations are kept) is added to it and denoised again: d_k = f(d + n_k). The spread of the
d_k is the variance of the method; their mean offset from d estimates its bias (e.g. a peak flattened by smoothing).
The uncertainty combines both, sigma^2 = var_k(d_k) + (mean_k(d_k) - d)^2 + floor^2.

Re-sampling cannot see signal that the denoiser erased: where d is ~0 at low SNR, f(d + n_k)
is ~0 too, and the spread says nothing of the lost line. The ``floor`` term covers that error.
For the U-Net it is ``beta * s`` (s the cube's noise level), with beta calibrated on held-out
simulated cubes so that the truth lies within 1 sigma for 68% of the source voxels
(:func:`calibrate_floor`, stored in the model card).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib._util.checks import real_array
from galcube_lib.noise.realise import realisations


class Denoised(NamedTuple):
    """What a deep method with an ``uncertainty`` option returns, whatever that option.

    Attributes
    ----------
    data : numpy.ndarray
        The denoised cube, float32, the input's shape.
    uncertainty : numpy.ndarray or None
        Its per-voxel 1-sigma uncertainty (float32, same shape); None when no re-samplings
        were asked for.
    """

    data: np.ndarray
    uncertainty: np.ndarray | None = None


def with_uncertainty(denoise_fn, data: np.ndarray, n_samples: int, *, floor: float = 0.0, rng=0,
                     progress: bool = False) -> Denoised:
    """``denoise_fn(data)`` and, for ``n_samples`` >= 2, its uncertainty from :func:`resample`.

    Parameters
    ----------
    denoise_fn : callable
        The denoiser, array -> array of the same shape.
    data : numpy.ndarray
        The (v, y, x) input.
    n_samples : int
        Noise re-samplings (0: no uncertainty), with the residual as the noise model.
    floor : float
        Error added in quadrature to every voxel, in the cube's units.
    rng : int, None, numpy SeedSequence or Generator
        The re-sampling noise.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Denoised
        The denoised cube and its uncertainty (None for ``n_samples=0``).
    """
    out = denoise_fn(np.asarray(data, np.float32))
    if not n_samples:
        return Denoised(out)
    return Denoised(out, resample(denoise_fn, data, out, n_samples=n_samples, floor=floor,
                                  rng=rng, progress=progress))


def check_samples(name: str, value) -> int:
    """A method's number of re-samplings for an uncertainty cube: 0 (none) or >= 2.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : int
        Its value.

    Returns
    -------
    int
        ``value``; a ValueError names 1 and negative numbers.
    """
    value = check.integer(name, value, 0)
    if value == 1:
        raise ValueError(f"{name}=1 is outside the valid range: 0 (no uncertainty) or >= 2 "
                         "re-samplings (their spread is the uncertainty)")
    return value


def resample(denoise_fn, data: np.ndarray, denoised: np.ndarray, *, noise=None, sigma=None,
             n_samples: int = 8, floor: float = 0.0, rng=0, progress: bool = False) -> np.ndarray:
    """Uncertainty cube of ``denoised = denoise_fn(data)`` from ``n_samples`` re-samplings.

    Parameters
    ----------
    denoise_fn : callable
        The denoiser, array -> array of the same shape.
    data, denoised : numpy.ndarray
        The (v, y, x) input and its denoised version.
    noise : numpy.ndarray or None
        The noise model: a noise cube (its power spectra and spread are used, e.g. line-free
        channels or an empty region) or a stack of noise realisations; None (and no ``sigma``)
        takes the residual ``data - denoised``.
    sigma : float or None
        White noise of this standard deviation (data units) instead of ``noise``.
    n_samples : int
        Re-samplings, >= 2.
    floor : float
        Error added in quadrature to every voxel (>= 0), in the cube's units.
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

    if not callable(denoise_fn):
        raise TypeError(f"denoise_fn must be a function (array -> array), got "
                        f"{type(denoise_fn).__name__}")
    data, denoised = (real_array(name, a) for name, a in [("data", data), ("denoised", denoised)])
    if denoised.shape != data.shape:
        raise ValueError(f"denoised has shape {denoised.shape}; it must be the data's {data.shape}")
    n_samples = check.integer("n_samples", n_samples, 2)
    floor = check.number("floor", floor, 0.0)
    progress = check.boolean("progress", progress)
    template = data - denoised if noise is None and sigma is None else noise
    draws = realisations(template, data.shape, n_samples, rng, sigma=sigma)
    total = np.zeros(data.shape)
    total_sq = np.zeros(data.shape)
    for draw in tqdm(draws, desc="uncertainty", disable=not progress, leave=False):
        d_k = np.asarray(denoise_fn((denoised + draw).astype(np.float32)), dtype=float)
        total += d_k
        total_sq += d_k * d_k
    n = len(draws)
    mean = total / n
    var = np.clip(total_sq / n - mean * mean, 0.0, None) * n / (n - 1)
    return np.sqrt(var + (mean - denoised) ** 2 + floor ** 2).astype(np.float32)


def calibrate_floor(errors: np.ndarray, sigmas: np.ndarray, scales: np.ndarray,
                    coverage: float = 0.68) -> float:
    """The beta for which sqrt(sigma^2 + (beta * s)^2) covers ``coverage`` of the errors.

    Voxel i is covered when errors_i^2 <= sigmas_i^2 + beta^2 s_i^2, i.e. when beta^2 >=
    (errors_i^2 - sigmas_i^2) / s_i^2: beta is the ``coverage`` quantile of that quantity
    (0 when re-sampling alone already covers enough).

    Parameters
    ----------
    errors, sigmas, scales : numpy.ndarray
        Pooled over calibration voxels: |denoised - truth|, the re-sampling sigma (floor 0), and
        the noise level s of each voxel's cube.
    coverage : float
        Target fraction in (0, 1).

    Returns
    -------
    float
        beta, >= 0.
    """
    coverage = check.number("coverage", coverage, 0.0, 1.0, lo_open=True, hi_open=True)
    need = (np.asarray(errors, float) ** 2 - np.asarray(sigmas, float) ** 2) / np.asarray(scales, float) ** 2
    return float(np.sqrt(max(0.0, np.quantile(need, coverage))))
