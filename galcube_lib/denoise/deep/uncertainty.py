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
(:func:`calibrate_floor`, stored in the model card). That error changes with the signal: at low
SNR it is mostly erased line, at high SNR mostly relative, so one beta over-covers bright sources
and under-covers faint ones. A U-Net adapted to a cube calibrates one beta per bin of the local
peak of the denoised cube instead (:func:`calibrate_peak_floor`, :func:`peak_floor`).
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
    floor : float or callable
        Error added in quadrature to every voxel, in the cube's units; or a function of the
        denoised cube that returns it per voxel (e.g. from :func:`peak_floor`).
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
    floor = floor(out) if callable(floor) else floor
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
    floor : float or numpy.ndarray
        Error added in quadrature (>= 0), in the cube's units: one for every voxel or one per
        voxel (the data's shape).
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
    if np.ndim(floor) == 0:
        floor = check.number("floor", floor, 0.0)
    else:
        floor = np.asarray(floor, float)
        if floor.shape != data.shape or not np.all(floor >= 0):
            raise ValueError(f"floor must be a number >= 0 or an array of them in the data's "
                             f"shape {data.shape}, got shape {floor.shape}")
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
                    coverage: float = 0.68, weights=None) -> float:
    """The beta for which sqrt(sigma^2 + (beta * s)^2) covers ``coverage`` of the errors.

    Voxel i is covered when errors_i^2 <= sigmas_i^2 + beta^2 s_i^2, i.e. when beta^2 >=
    (errors_i^2 - sigmas_i^2) / s_i^2: beta is the ``coverage`` quantile of that quantity
    (0 when re-sampling alone already covers enough), weighted by ``weights``.

    Parameters
    ----------
    errors, sigmas, scales : numpy.ndarray
        Pooled over calibration voxels: |denoised - truth|, the re-sampling sigma (floor 0), and
        the noise level s of each voxel's cube.
    coverage : float
        Target fraction in (0, 1).
    weights : numpy.ndarray, optional
        Non-negative weight of each voxel (default equal). With 1 / (the voxels of its source)
        every source counts once, and the mean coverage per source is ``coverage``: what the
        real-noise benchmark scores, where a large disk would otherwise outweigh many small ones.

    Returns
    -------
    float
        beta, >= 0.
    """
    coverage = check.number("coverage", coverage, 0.0, 1.0, lo_open=True, hi_open=True)
    need = (np.asarray(errors, float) ** 2 - np.asarray(sigmas, float) ** 2) / np.asarray(scales, float) ** 2
    if weights is not None:
        weights = np.asarray(weights, float)
        if weights.shape != need.shape or not np.all(weights >= 0) or not weights.sum() > 0:
            raise ValueError(f"weights must be {need.size} non-negative numbers, not all 0, one "
                             "per error")
    quantile = np.quantile(need, coverage, weights=weights,
                           method="linear" if weights is None else "inverted_cdf")
    return float(np.sqrt(max(0.0, quantile)))


#: bins of the local peak in :func:`calibrate_peak_floor`, with equal shares of the calibration
#: sources
PEAK_BINS = 4


def local_peak(denoised: np.ndarray, window_px: int) -> np.ndarray:
    """The brightest denoised emission near each sky position, for every voxel there.

    Parameters
    ----------
    denoised : numpy.ndarray
        The (v, y, x) denoised cube, in noise units.
    window_px : int
        Side of the square window (px, >= 1) over which the peak is taken, about two beams.

    Returns
    -------
    numpy.ndarray
        The maximum over channels and over the window around each pixel, broadcast to the
        cube's shape (read-only).
    """
    from scipy import ndimage

    window_px = check.integer("window_px", window_px, 1)
    denoised = real_array("denoised", denoised, copy=False)
    peak = ndimage.maximum_filter(np.max(denoised, axis=0), size=window_px, mode="nearest")
    return np.broadcast_to(peak, denoised.shape)


def calibrate_peak_floor(errors, sigmas, peaks, weights, window_px: int,
                         coverage: float = 0.68, n_bins: int = PEAK_BINS) -> dict:
    """One floor beta per bin of the local peak, each covering ``coverage`` of its errors.

    The bins' edges are weighted quantiles of the peaks, so that each bin holds an equal share
    of the calibration sources (with weights 1 / voxels of the source); the beta of a bin is
    :func:`calibrate_floor` on its voxels.

    Parameters
    ----------
    errors, sigmas : numpy.ndarray
        Pooled over calibration voxels, in noise units: |denoised - truth| and the re-sampling
        sigma (floor 0).
    peaks : numpy.ndarray
        :func:`local_peak` of the denoised cube at those voxels.
    weights : numpy.ndarray
        Weight of each voxel (non-negative, not all 0).
    window_px : int
        The window of ``peaks``, kept in the result for :func:`peak_floor`.
    coverage : float
        Target fraction in (0, 1).
    n_bins : int
        Number of bins, >= 1.

    Returns
    -------
    dict
        ``window_px``, ``edges`` (the n_bins - 1 bins' upper edges, inclusive, in noise units)
        and ``beta`` (n_bins).
    """
    n_bins = check.integer("n_bins", n_bins, 1)
    errors, sigmas, peaks, weights = (np.asarray(a, float) for a in (errors, sigmas, peaks, weights))
    edges = np.quantile(peaks, np.arange(1, n_bins) / n_bins, weights=weights,
                        method="inverted_cdf")
    group = np.searchsorted(edges, peaks, side="left")
    pooled = calibrate_floor(errors, sigmas, np.ones_like(errors), coverage, weights)
    beta = [calibrate_floor(errors[group == k], sigmas[group == k],
                            np.ones(int((group == k).sum())), coverage, weights[group == k])
            if weights[group == k].sum() > 0 else pooled for k in range(n_bins)]
    return {"window_px": int(window_px), "edges": [float(e) for e in edges], "beta": beta}


def peak_floor(table: dict, denoised: np.ndarray) -> np.ndarray:
    """The floor beta of each voxel from :func:`calibrate_peak_floor`'s ``table``.

    Parameters
    ----------
    table : dict
        ``window_px``, ``edges`` and ``beta``.
    denoised : numpy.ndarray
        The (v, y, x) denoised cube, in noise units.

    Returns
    -------
    numpy.ndarray
        beta per voxel, in noise units (the cube's shape).
    """
    group = np.searchsorted(table["edges"], local_peak(denoised, table["window_px"]),
                            side="left")
    return np.asarray(table["beta"], float)[group]
