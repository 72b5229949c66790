"""Spectra: the aperture spectrum and its line width, Gaussian FWHM and centroid."""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import optimize

from galcube_lib._util.conventions import FWHM_PER_SIGMA
from galcube_lib.metrics._inputs import as_array, as_mask, finite, flux_scale


def aperture_spectrum(data, aperture, beam_area_px=None) -> np.ndarray:
    """The aperture spectrum S(v) = sum over the aperture's finite pixels / beam_area_px.

    Parameters
    ----------
    data : Cube or numpy.ndarray
        The cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out.
    aperture : numpy.ndarray
        Boolean (y, x) or (v, y, x) mask, not empty (docs/conventions.md, Apertures).
    beam_area_px : float, optional
        Beam area in pixels, > 0; the Cube's by default, 1 for an array.

    Returns
    -------
    numpy.ndarray
        float64 spectrum, one value per channel: Jy for a Cube in Jy/beam
        (docs/conventions.md, Units).

    Raises
    ------
    ValueError
        A bad or empty aperture.
    """
    arr = as_array(data, "data")
    mask = as_mask(aperture, arr.shape) & finite(arr)
    return np.where(mask, arr, 0.0).sum(axis=(1, 2)) * flux_scale(data, 1.0, beam_area_px)


def _crossing(spec, vel, peak, level, step):
    i = peak
    while 0 <= i + step < spec.size and spec[i + step] > level:
        i += step
    j = i + step
    if not 0 <= j < spec.size:
        return math.nan  # the line does not fall to the level inside the band
    return vel[i] + (level - spec[i]) / (spec[j] - spec[i]) * (vel[j] - vel[i])


def line_width(spectrum, velocity_kms, level=0.5) -> float:
    """Width of the line at ``level`` of its peak (W50 for 0.5), km/s.

    From the peak channel outwards, the first channel at or below level * peak on each side;
    the crossing is interpolated linearly between it and its neighbour.

    Parameters
    ----------
    spectrum : array_like
        1-D spectrum (e.g. :func:`aperture_spectrum`); NaN channels are left out.
    velocity_kms : array_like
        Velocity of each channel in km/s, same length.
    level : float, optional
        Fraction of the peak, in (0, 1) (default 0.5).

    Returns
    -------
    float
        The width in km/s; NaN when the peak is not positive or the line does not fall that
        low inside the band.

    Raises
    ------
    ValueError
        Arrays that are not 1-D or differ in length, or a level outside (0, 1).
    """
    s, v = np.asarray(spectrum, dtype=float), np.asarray(velocity_kms, dtype=float)
    if s.shape != v.shape or s.ndim != 1:
        raise ValueError(f"spectrum {s.shape} and velocity_kms {v.shape} must be 1-D and match")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} is outside the valid range (0, 1)")
    s = np.where(np.isfinite(s), s, -np.inf)
    peak = int(np.argmax(s))
    if not s[peak] > 0:
        return math.nan
    cut = level * s[peak]
    return float(abs(_crossing(s, v, peak, cut, 1) - _crossing(s, v, peak, cut, -1)))


def gaussian_fwhm(spectrum, velocity_kms) -> float:
    """FWHM of a least-squares Gaussian fit to a spectrum.

    Parameters
    ----------
    spectrum : array_like
        1-D spectrum (e.g. :func:`aperture_spectrum`); NaN channels are left out.
    velocity_kms : array_like
        Velocity of each channel in km/s, same length.

    Returns
    -------
    float
        The FWHM in km/s; NaN with fewer than 4 finite channels, no positive value, or a fit
        that fails.

    Raises
    ------
    ValueError
        Arrays that are not 1-D or differ in length.
    """
    s, v = np.asarray(spectrum, dtype=float), np.asarray(velocity_kms, dtype=float)
    if s.shape != v.shape or s.ndim != 1:
        raise ValueError(f"spectrum {s.shape} and velocity_kms {v.shape} must be 1-D and match")
    ok = np.isfinite(s)
    s, v = s[ok], v[ok]
    if s.size < 4 or not s.max() > 0:
        return math.nan
    w = np.clip(s, 0, None)
    mu = (w * v).sum() / w.sum()
    sig = max(math.sqrt(max((w * (v - mu) ** 2).sum() / w.sum(), 0.0)), abs(v[1] - v[0]) / 2)
    gauss = lambda x, a, m, sd: a * np.exp(-0.5 * ((x - m) / sd) ** 2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            p, _ = optimize.curve_fit(gauss, v, s, p0=(s.max(), mu, sig), maxfev=2000)
    except RuntimeError:
        return math.nan
    return float(FWHM_PER_SIGMA * abs(p[2]))


def centroid(spectrum, velocity_kms, channels=None) -> float:
    """Flux-weighted mean velocity sum(S v) / sum(S) of a spectrum.

    Parameters
    ----------
    spectrum : array_like
        1-D spectrum (e.g. :func:`aperture_spectrum`); NaN channels are left out.
    velocity_kms : array_like
        Velocity of each channel in km/s, same length.
    channels : array_like of bool, optional
        The channels to use; all by default.

    Returns
    -------
    float
        The centroid in km/s; NaN when the selected flux sums to 0.

    Raises
    ------
    ValueError
        Arrays that are not 1-D or differ in length.
    """
    s, v = np.asarray(spectrum, dtype=float), np.asarray(velocity_kms, dtype=float)
    if s.shape != v.shape or s.ndim != 1:
        raise ValueError(f"spectrum {s.shape} and velocity_kms {v.shape} must be 1-D and match")
    keep = np.isfinite(s) if channels is None else np.isfinite(s) & np.asarray(channels, bool)
    total = s[keep].sum()
    return float((s[keep] * v[keep]).sum() / total) if total != 0 else math.nan

