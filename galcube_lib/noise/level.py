"""Noise levels of a cube: robust standard deviations, line-free channels, per-channel levels.

Radio line cubes are continuum-subtracted, so the noise has zero mean and the emission is
(almost only) positive: the negative voxels see the noise alone. Public through
:mod:`galcube_lib.noise.estimate`.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from galcube_lib._util.conventions import MAD_TO_SIGMA
from galcube_lib._util import checks as check

#: 1 / Phi^-1(3/4): turns a median absolute deviation into a Gaussian standard deviation


_LAYOUTS = {2: "a 2-D (y, x) map", 3: "a 3-D (v, y, x) cube"}


def real_array(name: str, value, ndim=(3,)) -> np.ndarray:
    """``value`` as a new float64 array, after checking its type, its number of dimensions (one
    of ``ndim``) and that some of it is finite."""
    x = np.asarray(value)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    if x.ndim not in ndim:
        want = " or ".join(_LAYOUTS[n] for n in ndim)
        raise ValueError(f"{name} must be {want}, got shape {x.shape}")
    if not np.isfinite(x).any():
        raise ValueError(f"{name} has no finite value")
    return np.array(x, dtype=np.float64)


def _finite(x) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise TypeError(f"x must be a real numeric array, got dtype {x.dtype}")
    x = x.ravel()
    return x[np.isfinite(x)]


def sigma_negative(x) -> float:
    """Noise standard deviation from the negative values: sqrt(mean(x**2 | x < 0)).

    For zero-mean Gaussian noise this is the standard deviation. Bright positive emission does
    not bias it, because it only removes noise samples; faint emission (below about sigma)
    makes some negative samples less negative and biases it low by a few percent where it
    fills much of the data.

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
    c = float(np.median(x)) if center is None else check.number("center", center)
    return float(MAD_TO_SIGMA * np.median(np.abs(x.astype(np.float64) - c)))


METHODS = ("negative", "mad", "line_free")


def sigma_by(x, method: str) -> float:
    """The noise of ``x`` by one of ``METHODS`` ("line_free": ``x`` holds only such channels)."""
    if method == "negative":
        return sigma_negative(x)
    if method == "mad":
        return sigma_mad(x, center=0.0)
    return float(np.nanstd(x)) if np.isfinite(x).any() else math.nan


def line_free_channels(data, *, k: float = 2.0, z: float = 1.5, guard: int = 1) -> np.ndarray:
    """Channels without line emission: those whose positive tail is no heavier than noise's.

    Noise is symmetric and emission positive. With x in units of its channel's noise
    (:func:`sigma_mad` about 0), each channel's tail excess
    e = (sum(max(x - k, 0)**2) - sum(max(-x - k, 0)**2)) / sqrt(n) (n: its finite voxels;
    squared, so that bright compact emission weighs in) is symmetric about 0 for pure noise
    and larger with emission. The channels with e < 0 are noise-dominated and give the spread
    s = sqrt(mean(e**2 | e < 0)) of the pure-noise excesses; a channel holds emission when
    e > ``z`` s, and its ``guard`` neighbours on each side are then also counted as line
    channels (line wings). The test needs no model of the noise's spatial correlation.

    False alarms: a pure-noise channel is counted as a line channel with probability about
    1 - Phi(z) (6.7 % for z = 1.5; 8 % measured on beam-correlated Gaussian noise, whose
    excesses have heavier tails), which only costs line-free channels. The test errs that way
    on purpose: in a cube whose line fills most channels it returns few or none (none when
    no excess is negative). Emission that adds less tail than the noise's own spread (faint,
    diffuse wings) can pass as line-free.

    Parameters
    ----------
    data : array_like
        (v, y, x) cube, continuum-subtracted; NaN voxels are ignored. Noise that varies
        spatially (primary-beam corrected cubes) should be whitened first (``data * gain``).
    k : float
        Tail threshold in units of the channel's noise (>= 0).
    z : float
        Detection threshold of a channel's excess, in units of the pure-noise spread (> 0).
    guard : int
        Neighbouring channels on each side of a line channel also counted as line (>= 0).

    Returns
    -------
    numpy.ndarray
        Boolean per channel, True when line-free. All False when no channel is consistent with
        pure noise (then measure the noise from negative voxels); channels without finite
        voxels are False.
    """
    x = real_array("data", data)
    k = check.number("k", k, 0.0)
    z = check.number("z", z, 0.0, None, lo_open=True)
    guard = check.integer("guard", guard, 0)
    sigma = np.array([sigma_mad(channel, center=0.0) for channel in x])
    ok = sigma > 0
    u = x[ok] / sigma[ok, None, None]
    n = np.sum(np.isfinite(u), axis=(1, 2))
    excess = (np.nansum(np.maximum(u - k, 0.0) ** 2, axis=(1, 2))
              - np.nansum(np.maximum(-u - k, 0.0) ** 2, axis=(1, 2))) / np.sqrt(n)
    line = np.ones(x.shape[0], bool)
    line[ok] = ~(excess <= z * sigma_negative(excess))  # NaN (no negative excess): all line
    if guard:
        line = ndimage.binary_dilation(line, np.ones(2 * guard + 1, bool))
    return ~line


def noise_level(data, method: str = "negative", per_channel: bool = False):
    """Noise standard deviation of a cube, globally or per channel.

    Parameters
    ----------
    data : array_like
        (v, y, x) cube, continuum-subtracted; NaN voxels are ignored.
    method : {"negative", "mad", "line_free"}
        "negative": :func:`sigma_negative`, robust to positive emission; "mad": 1.4826 *
        median(|x|) (MAD about 0); "line_free": the standard deviation of the channels
        :func:`line_free_channels` finds.
    per_channel : bool
        One value per channel instead of one for the cube.

    Returns
    -------
    float or numpy.ndarray
        The estimate, or a float64 array of length n_chan (NaN for channels without the voxels
        the method needs, e.g. line channels with "line_free").

    Raises
    ------
    ValueError
        For "line_free" when no channel is line-free.
    """
    x = real_array("data", data)
    check.choice("method", method, METHODS)
    per_channel = check.boolean("per_channel", per_channel)
    use = line_free_or_raise(x) if method == "line_free" else np.ones(x.shape[0], bool)
    if not per_channel:
        return sigma_by(x[use], method)
    out = np.full(x.shape[0], np.nan)
    out[use] = [sigma_by(channel, method) for channel in x[use]]
    return out


def line_free_or_raise(x: np.ndarray) -> np.ndarray:
    """:func:`line_free_channels`, or a ValueError pointing to "negative" when there are none."""
    free = line_free_channels(x)
    if not free.any():
        raise ValueError('method="line_free": no channel of this cube is line-free (the line '
                         'fills the band); use method="negative"')
    return free
