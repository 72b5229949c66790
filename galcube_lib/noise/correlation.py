"""Spatial and spectral correlation of the noise of a cube.

Interferometric noise is correlated spatially (white noise seen through the dirty beam) and often
spectrally (Hanning smoothing by the correlator). Both are measured here as normalised
autocorrelations, NaN-aware and pooled over the whole cube.

On a cube with line emission the correlation can be measured on the negative side alone: the
emission is positive, so the negative parts ``y = min(x, 0)`` of the voxels are (almost only)
noise. For a zero-mean Gaussian pair of correlation rho, E[y1 y2] / E[y**2] =
(rho (pi/2 + arcsin rho) + sqrt(1 - rho**2)) / pi, a monotonic map from [-1, 1] onto [0, 1] that
is inverted here (white noise gives 1/pi, not 0, before the inversion).

Public through :mod:`galcube_lib.noise.estimate`.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import fft, ndimage

from galcube_lib._util.conventions import FWHM_PER_SIGMA, beam_area
from galcube_lib._util import checks as check
from galcube_lib._util.checks import real_array

#: the central lobe of an autocorrelation, fitted by a Gaussian, is where it exceeds this (as
#: CASA's tclean fits the restoring beam to the dirty beam: psfcutoff = 0.35)
LOBE_LEVEL = 0.35

_RHO = np.linspace(-1.0, 1.0, 4001)
_NEGATIVE_PART_CORRELATION = (_RHO * (np.pi / 2 + np.arcsin(_RHO)) + np.sqrt(1 - _RHO ** 2)) / np.pi


def _negative_parts(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), np.minimum(x, 0.0), np.nan)


def _from_negative_parts(acf: np.ndarray) -> np.ndarray:
    return np.interp(acf, _NEGATIVE_PART_CORRELATION, _RHO)


def spatial_autocorrelation(noise, max_lag_px: int | None = None, *,
                            negative: bool = False) -> np.ndarray:
    """Normalised 2-D autocorrelation of a noise region, pooled over channels.

    rho(dy, dx) = sum(x[y, x] x[y + dy, x + dx]) / (number of pairs), over every channel and every
    pair of finite voxels, divided by its value at zero lag (FFT-based; NaN voxels count as
    absent, so blanked or masked regions do not bias it). No mean is removed: the noise of a
    continuum-subtracted cube has zero mean.

    Parameters
    ----------
    noise : array_like
        (v, y, x) cube or (y, x) map of noise; NaN marks blank or masked voxels.
    max_lag_px : int, optional
        Largest lag kept on each axis (>= 1); default a quarter of the smaller image side.
    negative : bool
        Measure on the negative parts min(x, 0) only and convert back to the noise correlation
        through the Gaussian relation (module docstring): use this on a cube with (positive)
        line emission, at the cost of more scatter.

    Returns
    -------
    numpy.ndarray
        (2 L + 1, 2 L + 1) float64 with L = ``max_lag_px``, zero lag at the centre (value 1),
        rows = dy, columns = dx.
    """
    x = real_array("noise", noise, ndim=(2, 3))
    if x.ndim == 2:
        x = x[None]
    ny, nx = x.shape[1:]
    if min(ny, nx) < 2:
        raise ValueError(f"noise is {ny} x {nx} px: its spatial autocorrelation needs an image "
                         "of at least 2 x 2 px")
    lag = max(1, min(ny, nx) // 4) if max_lag_px is None else check.integer(
        "max_lag_px", max_lag_px, 1, min(ny, nx) - 1)
    if check.boolean("negative", negative):
        x = _negative_parts(x)
    finite = np.isfinite(x)
    shape = (ny + lag, nx + lag)  # zero padding: no wrap-around up to the largest lag

    def pair_sums(a):
        f = fft.rfft2(a, s=shape)
        full = fft.irfft2(np.sum(f * f.conj(), axis=0), s=shape)
        return np.roll(full, (lag, lag), axis=(0, 1))[:2 * lag + 1, :2 * lag + 1]

    products = pair_sums(np.where(finite, x, 0.0))
    counts = np.rint(pair_sums(finite.astype(np.float64)))
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = np.where(counts > 0, products / counts, np.nan)
    acf /= acf[lag, lag]
    return _from_negative_parts(acf) if negative else acf


def correlation_fwhm_px(acf) -> tuple[float, float, float]:
    """FWHM of a 2-D Gaussian fitted to the central lobe of an autocorrelation.

    The fit is a weighted least-squares fit of a quadratic form to log(acf) on the connected
    region around the centre where acf > 0.35, the part of the dirty beam CASA fits the
    restoring beam to (so its shelf and sidelobes are left out). For noise that is white noise
    convolved with a Gaussian beam of FWHM b, the result is sqrt(2) b; the noise of an
    interferometric image has about the dirty beam as its autocorrelation, so there the result
    is close to the restoring beam.

    Parameters
    ----------
    acf : array_like
        (2 L + 1, 2 L + 1) autocorrelation with zero lag at the centre, as from
        :func:`spatial_autocorrelation`.

    Returns
    -------
    (fwhm_major_px, fwhm_minor_px, pa_deg) : tuple of float
        FWHMs in pixels and position angle of the major axis from north (+y) through east
        (-x), in [0, 180). All NaN when the lobe is narrower than the pixel grid can resolve
        (fewer than 5 pixels above 0.35: spatially white noise).
    """
    a = real_array("acf", acf, ndim=(2,))
    n = a.shape[0]
    if a.shape != (n, n) or n % 2 == 0:
        raise ValueError(f"acf must be square with odd sides (zero lag at the centre), got shape {a.shape}")
    c = n // 2
    labels, _ = ndimage.label(np.nan_to_num(a, nan=0.0) > LOBE_LEVEL)
    lobe = labels == labels[c, c]
    if labels[c, c] == 0 or lobe.sum() < 5:
        return (math.nan,) * 3
    dy, dx = (np.nonzero(lobe)[i] - c for i in range(2))
    v = a[lobe]
    # log(acf) = c0 - q_yy dy^2 - 2 q_xy dy dx - q_xx dx^2, weighted by acf (the log's scatter
    # grows as 1/acf)
    design = np.stack([np.ones_like(v), -dy * dy, -2.0 * dy * dx, -dx * dx], axis=1) * v[:, None]
    (_, qyy, qxy, qxx), *_ = np.linalg.lstsq(design, np.log(v) * v, rcond=None)
    q, axes = np.linalg.eigh([[qyy, qxy], [qxy, qxx]])  # q = 1 / (2 sigma**2) along the axes
    if q[0] <= 0:  # not a peak
        return (math.nan,) * 3
    vy, vx = axes[:, 0]
    pa = math.degrees(math.atan2(-vx, vy)) % 180.0
    return (FWHM_PER_SIGMA * math.sqrt(0.5 / q[0]), FWHM_PER_SIGMA * math.sqrt(0.5 / q[1]), pa)


def spectral_correlation(data, max_lag: int | None = None) -> np.ndarray:
    """Noise correlation between channels ``lag = 1 .. max_lag`` apart.

    Measured on the negative parts of the voxels (see the module docstring), pooled over all
    spaxels, so line emission does not masquerade as correlation. No mean is removed
    (a continuum-subtracted cube has zero-mean noise; removing a per-spectrum mean would bias
    short spectra). Hanning-smoothed white noise gives 2/3 at lag 1 and 1/6 at lag 2.

    Parameters
    ----------
    data : array_like
        (v, y, x) cube with at least 2 channels; NaN voxels are ignored.
    max_lag : int, optional
        Largest lag, in [1, n_chan - 1]; default 3, or n_chan - 1 when fewer.

    Returns
    -------
    numpy.ndarray
        float64 correlations at lags 1 .. ``max_lag``.
    """
    x = real_array("data", data)
    n_chan = x.shape[0]
    if n_chan < 2:
        raise ValueError("data has 1 channel: the spectral correlation of the noise needs a cube "
                         "with at least 2 channels")
    max_lag = min(3, n_chan - 1) if max_lag is None else check.integer(
        "max_lag", max_lag, 1, n_chan - 1)
    y = _negative_parts(x)
    finite = np.isfinite(y)
    y = np.where(finite, y, 0.0)
    power = np.sum(y * y) / np.sum(finite)
    ratio = [np.sum(y[k:] * y[:-k]) / np.sum(finite[k:] & finite[:-k]) / power
             for k in range(1, max_lag + 1)]
    return _from_negative_parts(np.array(ratio))


def noise_blob_pixels(data: np.ndarray) -> int | None:
    """Pixels a noise blob covers, from the noise's spatial autocorrelation.

    For white noise convolved with a beam this is twice the beam area (smooth_clip's default
    size cut; :func:`galcube_lib.denoise.source_mask` uses this instead); interferometric
    noise is correlated like the dirty beam, about one restoring beam (0.9-1.4 beams on the
    shipped real cubes), so its blobs are smaller.

    Parameters
    ----------
    data : numpy.ndarray
        (v, y, x) cube; the autocorrelation is measured on its negative parts, so the
        emission does not widen it (docs/conventions.md, Noise).

    Returns
    -------
    int or None
        The area pi a b / (4 ln 2) in pixels, rounded up, of the Gaussian (FWHM a, b)
        fitted to the autocorrelation; None when it cannot be fitted (spatially white noise,
        or an image one pixel wide).
    """
    if min(np.shape(data)[1:]) < 2:
        return None
    major, minor, _ = correlation_fwhm_px(spatial_autocorrelation(data, negative=True))
    if not (np.isfinite(major) and np.isfinite(minor)):
        return None
    return int(np.ceil(beam_area(major, minor)))
