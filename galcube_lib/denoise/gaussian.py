"""Gaussian smoothing matched to the beam: the baseline every other denoiser has to beat.

The kernels are sampled Gaussians normalised to unit sum, so the total flux of a source well
inside the field is conserved; the convolution treats everything outside the cube as 0 (the
value :func:`galcube_lib.denoise` gives blank voxels), so flux near the edges leaks out.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from galcube_lib._util.conventions import FWHM_PER_SIGMA, sky_axes
from galcube_lib._util import checks as check

#: kernels are cut at this many standard deviations (their sum is then renormalised to 1)
TRUNCATE = 4.0


def beam_kernel(fwhm_maj_px: float, fwhm_min_px: float, pa_deg: float = 0.0) -> np.ndarray:
    """Sampled elliptical Gaussian of unit sum, shape (ny, nx) with odd sides, centred.

    Parameters
    ----------
    fwhm_maj_px, fwhm_min_px : float
        FWHM along the major and minor axes, in pixels (> 0).
    pa_deg : float
        Position angle of the major axis, from north (+y, increasing row index) through east
        (-x), as for the beam and the galaxies.

    Returns
    -------
    numpy.ndarray
        float64 kernel, rows = y, columns = x.
    """
    s_maj, s_min = fwhm_maj_px / FWHM_PER_SIGMA, fwhm_min_px / FWHM_PER_SIGMA
    half = max(1, math.ceil(TRUNCATE * max(s_maj, s_min)))
    y, x = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    (ux, uy), (wx, wy) = sky_axes(pa_deg)
    k_maj, k_min = x * ux + y * uy, x * wx + y * wy
    kernel = np.exp(-0.5 * ((k_maj / s_maj) ** 2 + (k_min / s_min) ** 2))
    return kernel / kernel.sum()


def spectral_kernel(fwhm_channels: float) -> np.ndarray:
    """Sampled 1-D Gaussian of unit sum, odd length, centred.

    Parameters
    ----------
    fwhm_channels : float
        FWHM in channels, > 0.

    Returns
    -------
    numpy.ndarray
        float64 kernel, cut at ``TRUNCATE`` standard deviations (at least 3 samples).
    """
    s = fwhm_channels / FWHM_PER_SIGMA
    half = max(1, math.ceil(TRUNCATE * s))
    v = np.arange(-half, half + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (v / s) ** 2)
    return kernel / kernel.sum()


def smooth_spatial(data: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve every channel of a cube with a 2-D kernel (zeros outside the cube).

    Parameters
    ----------
    data : numpy.ndarray
        (v, y, x) cube.
    kernel : numpy.ndarray
        (ny, nx) kernel with odd sides, centred.

    Returns
    -------
    numpy.ndarray
        The smoothed cube, same shape and dtype.
    """
    from scipy import signal  # slow to import: only when a cube is smoothed

    out = signal.fftconvolve(data, kernel[None].astype(data.dtype), mode="same", axes=(1, 2))
    return out.astype(data.dtype, copy=False)


def smooth_spectral(data: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve every spectrum of a cube with a 1-D kernel (zeros outside the cube).

    Parameters
    ----------
    data : numpy.ndarray
        (v, y, x) cube.
    kernel : numpy.ndarray
        1-D kernel of odd length, centred.

    Returns
    -------
    numpy.ndarray
        The smoothed cube, same shape and dtype.
    """
    return ndimage.convolve1d(data, kernel.astype(data.dtype), axis=0, mode="constant", cval=0.0)


def gaussian(data: np.ndarray, *, beam_fwhm_px, beam_pa_deg: float = 0.0,
             spatial_fwhm_beams: float = 1.0, spectral_fwhm_channels: float = 2.0) -> np.ndarray:
    """Smooth a cube with a Gaussian matched to the beam spatially and a few channels spectrally.

    Convolving with the beam itself is the matched filter for an unresolved source in white
    noise; it is the baseline that every other denoiser is compared with.

    Parameters
    ----------
    data : numpy.ndarray
        Finite (v, y, x) cube in Jy/beam.
    beam_fwhm_px : float or (float, float)
        Beam FWHM (bmaj, bmin) in pixels (filled from the cube by :func:`galcube_lib.denoise`).
    beam_pa_deg : float
        Beam position angle (north through east); the kernel is rotated with it.
    spatial_fwhm_beams : float
        Spatial kernel FWHM in units of the beam's (bmaj, bmin), >= 0; 0 means no spatial
        smoothing.
    spectral_fwhm_channels : float
        FWHM of the Gaussian along the spectrum in channels, >= 0; 0 means no spectral smoothing.

    Returns
    -------
    numpy.ndarray
        float32 cube of the same shape. The kernels have unit sum, so ``sum(data)`` is conserved
        for emission further than about twice the kernel FWHM from the cube's edges; the result
        stays in Jy/beam of the original beam (the peak of an unresolved source drops).
    """
    data = finite_cube("data", data)
    bmaj, bmin = check.beam_fwhm("beam_fwhm_px", beam_fwhm_px)
    pa = check.number("beam_pa_deg", beam_pa_deg)
    f_xy = check.number("spatial_fwhm_beams", spatial_fwhm_beams, 0.0, None)
    f_v = check.number("spectral_fwhm_channels", spectral_fwhm_channels, 0.0, None)
    out = data.copy()
    if f_xy > 0:
        out = smooth_spatial(out, beam_kernel(f_xy * bmaj, f_xy * bmin, pa))
    if f_v > 0:
        out = smooth_spectral(out, spectral_kernel(f_v))
    return out.astype(np.float32, copy=False)


def finite_cube(name: str, data) -> np.ndarray:
    """Check the cube a classical denoiser is given.

    Parameters
    ----------
    name : str
        The argument's name, for error messages.
    data : array_like
        A real (v, y, x) array, finite everywhere (:func:`galcube_lib.denoise` sets blank
        voxels to 0 before calling a method).

    Returns
    -------
    numpy.ndarray
        ``data`` as float32: ``data`` itself when it already is a float32 array.

    Raises
    ------
    TypeError
        Not a real numeric array.
    ValueError
        Not 3-D, or NaN or inf voxels (also values beyond the float32 range).
    """
    data = check.real_array(name, data, dtype=np.float32, some_finite=False, copy=False)
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{name} has NaN or inf voxels; galcube_lib.denoise blanks them to 0 first")
    return data
