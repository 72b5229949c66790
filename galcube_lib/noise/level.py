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
from galcube_lib._util.checks import real_array


def _finite(x) -> np.ndarray:
    x = check.real_array("x", x, ndim=None, dtype=None, some_finite=False, copy=False).ravel()
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


#: the names of the noise statistics (docs/conventions.md, Noise)
NOISE_STATISTICS = ("negative", "mad", "line_free")


def sigma_by(x, noise_statistic: str) -> float:
    """The noise standard deviation of ``x`` by one of ``NOISE_STATISTICS``.

    Parameters
    ----------
    x : numpy.ndarray
        Values, any shape; NaN ignored.
    noise_statistic : {"negative", "mad", "line_free"}
        "negative": :func:`sigma_negative`; "mad": :func:`sigma_mad` about 0; "line_free":
        the standard deviation (``x`` must hold only line-free channels).

    Returns
    -------
    float
        The estimate, in the units of ``x``; NaN when there are no values to use.
    """
    if noise_statistic == "negative":
        return sigma_negative(x)
    if noise_statistic == "mad":
        return sigma_mad(x, center=0.0)
    return float(np.nanstd(x)) if np.isfinite(x).any() else math.nan


@check.renamed(k="n_sigma")
def line_free_channels(data, *, n_sigma: float = 2.0, z: float = 1.5,
                       guard: int = 1) -> np.ndarray:
    """Channels without line emission: those whose positive tail is no heavier than noise's.

    Noise is symmetric and emission positive. With x in units of its channel's noise
    (:func:`sigma_mad` about 0), each channel's tail excess
    e = (sum(max(x - n_sigma, 0)**2) - sum(max(-x - n_sigma, 0)**2)) / sqrt(n) (n: its finite
    voxels;
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
    n_sigma : float
        Tail threshold in units of the channel's noise (>= 0). (Formerly ``k``, deprecated.)
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
    n_sigma = check.number("n_sigma", n_sigma, 0.0)
    z = check.number("z", z, 0.0, None, lo_open=True)
    guard = check.integer("guard", guard, 0)
    sigma = np.array([sigma_mad(channel, center=0.0) for channel in x])
    ok = sigma > 0
    u = x[ok] / sigma[ok, None, None]
    n = np.sum(np.isfinite(u), axis=(1, 2))
    excess = (np.nansum(np.maximum(u - n_sigma, 0.0) ** 2, axis=(1, 2))
              - np.nansum(np.maximum(-u - n_sigma, 0.0) ** 2, axis=(1, 2))) / np.sqrt(n)
    line = np.ones(x.shape[0], bool)
    line[ok] = ~(excess <= z * sigma_negative(excess))  # NaN (no negative excess): all line
    if guard:
        line = ndimage.binary_dilation(line, np.ones(2 * guard + 1, bool))
    return ~line


@check.renamed(method="noise_statistic")
def noise_level(data, noise_statistic: str = "negative", per_channel: bool = False):
    """Noise standard deviation of a cube, globally or per channel.

    Parameters
    ----------
    data : array_like
        (v, y, x) cube, continuum-subtracted; NaN voxels are ignored.
    noise_statistic : {"negative", "mad", "line_free"}
        "negative": :func:`sigma_negative`, robust to positive emission; "mad": 1.4826 *
        median(|x|) (MAD about 0); "line_free": the standard deviation of the channels
        :func:`line_free_channels` finds. (Formerly ``method``, deprecated.)
    per_channel : bool
        One value per channel instead of one for the cube.

    Returns
    -------
    float or numpy.ndarray
        The estimate, or a float64 array of length n_chan (NaN for channels without the voxels
        the statistic needs, e.g. line channels with "line_free").

    Raises
    ------
    ValueError
        For "line_free" when no channel is line-free.
    """
    x = real_array("data", data)
    check.choice("noise_statistic", noise_statistic, NOISE_STATISTICS)
    per_channel = check.boolean("per_channel", per_channel)
    use = line_free_or_raise(x) if noise_statistic == "line_free" else np.ones(x.shape[0], bool)
    if not per_channel:
        return sigma_by(x[use], noise_statistic)
    out = np.full(x.shape[0], np.nan)
    out[use] = [sigma_by(channel, noise_statistic) for channel in x[use]]
    return out


def line_free_or_raise(x: np.ndarray) -> np.ndarray:
    """The line-free channels of a cube, which must have some.

    Parameters
    ----------
    x : numpy.ndarray
        (v, y, x) cube.

    Returns
    -------
    numpy.ndarray
        :func:`line_free_channels` with its defaults: boolean per channel, True when line-free.

    Raises
    ------
    ValueError
        No channel is line-free (the message points to ``noise_statistic="negative"``).
    """
    free = line_free_channels(x)
    if not free.any():
        raise ValueError('noise_statistic="line_free": no channel of this cube is line-free '
                         '(the line fills the band); use noise_statistic="negative"')
    return free
