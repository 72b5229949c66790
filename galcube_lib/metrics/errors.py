"""Errors against a truth: flux conservation, RMSE, normalised RMSE, PSNR, SNR gain, Pearson r."""
from __future__ import annotations

import math

import numpy as np

from galcube_lib.metrics._inputs import as_array, same_shape, select


def flux_conservation(denoised, truth, aperture) -> float:
    """Flux conservation F = 100 * sum_A(denoised) / sum_A(truth), in per cent.

    Parameters
    ----------
    denoised : Cube or numpy.ndarray
        The denoised cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    truth : Cube or numpy.ndarray
        The noise-free truth: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).

    Returns
    -------
    float
        F in per cent (100: flux conserved), over the voxels finite in both cubes.

    Raises
    ------
    ValueError
        Shapes that differ, a bad or empty aperture, or no finite voxel in it, or a truth with zero flux in the aperture.
    """
    d, t = as_array(denoised, "denoised"), as_array(truth, "truth")
    same_shape({"denoised": d, "truth": t})
    d, t = select(aperture, d, t)
    total = t.sum()
    if total == 0:
        raise ValueError("truth has zero flux in the aperture: flux conservation is undefined")
    return float(100.0 * d.sum() / total)


def rmse(data, truth, aperture=None) -> float:
    """Root-mean-square error of ``data`` against ``truth`` in an aperture.

    Parameters
    ----------
    data : Cube or numpy.ndarray
        The cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    truth : Cube or numpy.ndarray
        The noise-free truth: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray, optional
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures);
        None: the whole cube.

    Returns
    -------
    float
        The RMSE in the cube's units, over the voxels finite in both.

    Raises
    ------
    ValueError
        Shapes that differ, a bad or empty aperture, or no finite voxel in it.
    """
    d, t = as_array(data, "data"), as_array(truth, "truth")
    same_shape({"data": d, "truth": t})
    d, t = select(aperture, d, t)
    return float(np.sqrt(np.mean((d - t) ** 2)))


def normalised_rmse(denoised, truth, noisy, aperture=None) -> float:
    """Normalised RMSE = RMSE_A(denoised, truth) / RMSE_A(noisy, truth); < 1 is an improvement.

    The three cubes are compared on the same voxels (those finite in all three).

    Parameters
    ----------
    denoised : Cube or numpy.ndarray
        The denoised cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    truth : Cube or numpy.ndarray
        The noise-free truth: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    noisy : Cube or numpy.ndarray
        The noisy cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray, optional
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures);
        None: the whole cube.

    Returns
    -------
    float
        The ratio, >= 0.

    Raises
    ------
    ValueError
        Shapes that differ, a bad or empty aperture, or no finite voxel in it, or noisy equal to truth there.
    """
    d, t, n = as_array(denoised, "denoised"), as_array(truth, "truth"), as_array(noisy, "noisy")
    same_shape({"denoised": d, "truth": t, "noisy": n})
    d, t, n = select(aperture, d, t, n)
    ref = np.sqrt(np.mean((n - t) ** 2))
    if ref == 0:
        raise ValueError("noisy equals truth in the aperture: normalised RMSE is undefined")
    return float(np.sqrt(np.mean((d - t) ** 2)) / ref)


def psnr(data, truth) -> float:
    """Peak signal-to-noise ratio of the whole cube, 20 log10(max(truth) / RMSE(data, truth)).

    Parameters
    ----------
    data : Cube or numpy.ndarray
        The cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    truth : Cube or numpy.ndarray
        The noise-free truth: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.

    Returns
    -------
    float
        PSNR in dB; inf when ``data`` equals ``truth``.
    """
    t = as_array(truth, "truth")
    err = rmse(data, t)
    peak = float(np.nanmax(t))
    return float(20.0 * math.log10(peak / err)) if err > 0 else math.inf


def snr_gain(denoised, truth, noisy, aperture=None) -> float:
    """SNR gain on simulations: std_A(noisy - truth) / std_A(denoised - truth).

    At fixed signal (the truth), the SNR rises by the factor by which the noise falls. The
    standard deviations are over the voxels of the aperture (None: whole cube); a constant
    bias is not noise here (flux conservation reports it).

    Parameters
    ----------
    denoised : Cube or numpy.ndarray
        The denoised cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    truth : Cube or numpy.ndarray
        The noise-free truth: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    noisy : Cube or numpy.ndarray
        The noisy cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray, optional
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures);
        None: the whole cube.

    Returns
    -------
    float
        The gain (> 1: the noise fell); inf when ``denoised`` equals ``truth`` up to a constant.

    Raises
    ------
    ValueError
        Shapes that differ, a bad or empty aperture, or no finite voxel in it.
    """
    d, t, n = as_array(denoised, "denoised"), as_array(truth, "truth"), as_array(noisy, "noisy")
    same_shape({"denoised": d, "truth": t, "noisy": n})
    d, t, n = select(aperture, d, t, n)
    residual = np.std(d - t)
    return float(np.std(n - t) / residual) if residual > 0 else math.inf


def pearson_r(a, b) -> float:
    """Pearson correlation coefficient of two arrays.

    Parameters
    ----------
    a, b : array_like
        Values of the same size (flattened); only entries finite in both are used.

    Returns
    -------
    float
        r in [-1, 1]; NaN when either has no spread.

    Raises
    ------
    ValueError
        Arrays of different sizes.
    """
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"a has {x.size} values, b has {y.size}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    denom = math.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else math.nan
