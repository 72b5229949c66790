"""Robust estimates of the noise level of a cube (or any array).

Radio line cubes are continuum-subtracted, so the noise has zero mean and the emission is
(almost only) positive: the negative voxels see the noise alone. Both estimators ignore NaN.
"""
from __future__ import annotations

import numpy as np

#: 1 / Phi^-1(3/4): turns a median absolute deviation into a Gaussian standard deviation
MAD_TO_SIGMA = 1.482602218505602


def _finite(x) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise TypeError(f"x must be a real numeric array, got dtype {x.dtype}")
    x = x.ravel()
    return x[np.isfinite(x)]


def sigma_negative(x) -> float:
    """Noise standard deviation from the negative values: sqrt(mean(x**2 | x < 0)).

    For zero-mean Gaussian noise this is the standard deviation; positive emission does not
    bias it, because it only removes (or makes positive) some noise samples.

    Parameters
    ----------
    x : array_like
        Values, any shape; NaN and inf are ignored.

    Returns
    -------
    float
        The estimate; NaN when ``x`` has no finite negative value.
    """
    x = _finite(x)
    neg = x[x < 0].astype(np.float64)
    if neg.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean(neg * neg)))


def sigma_mad(x, center: float | None = None) -> float:
    """Noise standard deviation from the median absolute deviation: 1.4826 * median(|x - c|).

    Parameters
    ----------
    x : array_like
        Values, any shape; NaN and inf are ignored.
    center : float, optional
        The centre ``c`` of the deviations; the median of ``x`` when None. Use 0.0 for
        continuum-subtracted cubes (as SoFiA does).

    Returns
    -------
    float
        The estimate; NaN when ``x`` has no finite value.
    """
    x = _finite(x)
    if x.size == 0:
        return float("nan")
    c = float(np.median(x)) if center is None else float(center)
    return float(MAD_TO_SIGMA * np.median(np.abs(x.astype(np.float64) - c)))
