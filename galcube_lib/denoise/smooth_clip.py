"""SoFiA-style smooth-and-clip (S+C) source mask, and the cube multiplied by it.

Follows the S+C finder of SoFiA 2 (Serra et al. 2015; Westmeier et al. 2021): the cube is
smoothed with every combination of a spatial Gaussian and a spectral boxcar, the noise of each
smoothed cube is measured, and voxels beyond ``n_sigma`` times that noise are flagged. Before
each smoothing, voxels already detected are replaced by sign(x) * replace * sigma (sigma: the noise
of the unsmoothed cube), so that bright emission does not spread into, and inflate the noise of,
the smoothed cubes. Like SoFiA, positive and negative excursions are flagged (and both are
replaced); only the positive detections form the returned mask, since line emission is positive
and the negative detections are the measure of the false ones.
"""
from __future__ import annotations

from numbers import Real

import numpy as np
from scipy import ndimage

from galcube_lib._util.conventions import beam_area
from galcube_lib._util import checks as check
from galcube_lib.noise.level import sigma_by
from galcube_lib.denoise.gaussian import beam_kernel, finite_cube, smooth_spatial

NOISE_STATISTICS = ("negative", "mad")
#: the deprecated names of the arguments, kept working with a DeprecationWarning
RENAMED = {"threshold": "n_sigma", "noise": "noise_statistic"}


@check.renamed(**RENAMED)
def smooth_clip_mask(data: np.ndarray, *, beam_fwhm_px, beam_pa_deg: float = 0.0,
                     spatial_kernels_beams=(0.0, 1.0, 2.0), spectral_kernels_channels=(0, 3, 7),
                     n_sigma: float = 5.0, noise_statistic: str = "negative",
                     replace: float | None = 2.0, dilate_xy: int = 1, dilate_v: int = 1,
                     min_size: int | None = None) -> np.ndarray:
    """Boolean source mask from SoFiA's smooth-and-clip finder.

    Parameters
    ----------
    data : numpy.ndarray
        Finite (v, y, x) cube. Voxels exactly 0 (blank voxels, as :func:`galcube_lib.denoise`
        passes them) are left out of the noise measurements.
    beam_fwhm_px : float or (float, float)
        Beam FWHM (bmaj, bmin) in pixels.
    beam_pa_deg : float
        Beam position angle (north through east); the spatial kernels follow the beam's shape.
    spatial_kernels_beams : sequence of float
        FWHM of the spatial Gaussian kernels in beams (each >= 0; 0 = no spatial smoothing).
    spectral_kernels_channels : sequence of int
        Widths of the spectral boxcar kernels in channels (each 0 = no smoothing, or odd >= 1).
    n_sigma : float
        Detection threshold in units of each smoothed cube's noise (> 0). The default 5 is
        SoFiA's: at 4, about half of pure beam-correlated noise cubes of 40 x 96 x 96 voxels
        show a false blob. (Formerly ``threshold``, deprecated.)
    noise_statistic : {"negative", "mad"}
        How each cube's noise is measured: "negative" = sqrt(mean(x**2 | x < 0)); "mad" =
        1.4826 * median(|x|) (docs/conventions.md, Noise). (Formerly ``noise``, deprecated.)
    replace : float or None
        Already-detected voxels are replaced by sign(x) * replace * sigma before each later
        smoothing (>= 0); None keeps their values (SoFiA's replacement = -1).
    dilate_xy : int
        Grow the mask by this many pixels in the spatial plane (a disk of that radius), >= 0.
    dilate_v : int
        Grow the mask by this many channels on each side, >= 0.
    min_size : int or None
        Connected groups (26-connectivity) of fewer detected voxels than this are dropped before
        the dilation (>= 0; 0 or 1 keeps everything). None: twice the beam area in pixels
        (a noise spike in the unsmoothed cube covers about one beam in one channel).

    Returns
    -------
    numpy.ndarray
        Boolean (v, y, x) mask of the positive detections, after size filter and dilation.
        :func:`smooth_clip_sigmas` gives the noise measured for each kernel.
    """
    dxy = check.integer("dilate_xy", dilate_xy, 0, None)
    dv = check.integer("dilate_v", dilate_v, 0, None)
    if min_size is not None:
        check.integer("min_size", min_size, 0, None)
    mask, _ = _detect(data, beam_fwhm_px=beam_fwhm_px, beam_pa_deg=beam_pa_deg,
                      spatial_kernels_beams=spatial_kernels_beams,
                      spectral_kernels_channels=spectral_kernels_channels, n_sigma=n_sigma,
                      noise_statistic=noise_statistic, replace=replace)
    if min_size is None:
        min_size = int(np.ceil(2 * beam_area(*check.beam_fwhm("beam_fwhm_px", beam_fwhm_px))))
    if min_size > 1 and mask.any():
        labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= min_size
        keep[0] = False
        mask = keep[labels]
    return dilate(mask, dilate_xy=dxy, dilate_v=dv)


@check.renamed(**RENAMED)
def smooth_clip_sigmas(data: np.ndarray, *, beam_fwhm_px, beam_pa_deg: float = 0.0,
                       spatial_kernels_beams=(0.0, 1.0, 2.0),
                       spectral_kernels_channels=(0, 3, 7), n_sigma: float = 5.0,
                       noise_statistic: str = "negative", replace: float | None = 2.0) -> dict:
    """The noise :func:`smooth_clip_mask` measures in each smoothed cube.

    Its parameters are those of :func:`smooth_clip_mask` that act before the size filter and
    the dilation (``n_sigma`` and ``replace`` matter: detected voxels are replaced before each
    later smoothing).

    Parameters
    ----------
    data : numpy.ndarray
        Finite (v, y, x) cube; voxels exactly 0 are left out of the noise measurements.
    beam_fwhm_px : float or (float, float)
        Beam FWHM (bmaj, bmin) in pixels.
    beam_pa_deg : float
        Beam position angle in degrees, north through east.
    spatial_kernels_beams : sequence of float
        FWHM of the spatial Gaussian kernels in beams (each >= 0; 0 = no spatial smoothing).
    spectral_kernels_channels : sequence of int
        Widths of the spectral boxcar kernels in channels (each 0 = no smoothing, or odd >= 1).
    n_sigma : float
        Detection threshold in units of each smoothed cube's noise (> 0, default 5).
        (Formerly ``threshold``, deprecated.)
    noise_statistic : {"negative", "mad"}
        How each cube's noise is measured (docs/conventions.md, Noise). (Formerly ``noise``,
        deprecated.)
    replace : float or None
        Already-detected voxels are replaced by sign(x) * replace * sigma before each later
        smoothing (>= 0); None keeps their values.

    Returns
    -------
    dict
        ``{(spatial_fwhm_beams, spectral_channels): sigma}`` of every smoothed cube (the
        unsmoothed cube is ``(0.0, 0)``), in data units; empty when every voxel is 0.
    """
    return _detect(data, beam_fwhm_px=beam_fwhm_px, beam_pa_deg=beam_pa_deg,
                   spatial_kernels_beams=spatial_kernels_beams,
                   spectral_kernels_channels=spectral_kernels_channels, n_sigma=n_sigma,
                   noise_statistic=noise_statistic, replace=replace)[1]


def _detect(data, *, beam_fwhm_px, beam_pa_deg, spatial_kernels_beams, spectral_kernels_channels,
            n_sigma, noise_statistic, replace) -> tuple[np.ndarray, dict]:
    """(positive detections before size filter and dilation, noise of each smoothed cube)."""
    data = finite_cube("data", data)
    bmaj, bmin = check.beam_fwhm("beam_fwhm_px", beam_fwhm_px)
    pa = check.number("beam_pa_deg", beam_pa_deg)
    spatial = _kernel_list("spatial_kernels_beams", spatial_kernels_beams, integer=False)
    spectral = _kernel_list("spectral_kernels_channels", spectral_kernels_channels, integer=True)
    thr = check.number("n_sigma", n_sigma, 0.0, None, lo_open=True)
    check.choice("noise_statistic", noise_statistic, NOISE_STATISTICS)
    rep = None if replace is None else check.number("replace", replace, 0.0, None)

    measured = data != 0          # blank voxels (0) stay out of the noise statistics
    positive = np.zeros(data.shape, dtype=bool)
    if not measured.any():
        return positive, {}
    sigma0 = sigma_by(data[measured], noise_statistic)
    negative = np.zeros(data.shape, dtype=bool)
    noises = {}
    for f_xy in spatial:
        for width in spectral:
            work = data
            detected = positive | negative
            if rep is not None and detected.any() and (f_xy > 0 or width > 1):
                work = data.copy()
                work[detected] = np.sign(data[detected]) * np.float32(rep * sigma0)
            if f_xy > 0:
                work = smooth_spatial(work, beam_kernel(f_xy * bmaj, f_xy * bmin, pa))
            if width > 1:
                work = ndimage.uniform_filter1d(work, width, axis=0, mode="constant", cval=0.0)
            sigma = sigma_by(work[measured], noise_statistic)
            noises[(f_xy, width)] = sigma
            if not np.isfinite(sigma) or sigma <= 0:
                continue            # no noise to measure (e.g. a noise-free cube): no detections
            positive |= work > thr * sigma
            negative |= work < -thr * sigma
    return positive, noises


@check.renamed(**RENAMED)
def smooth_clip(data: np.ndarray, *, beam_fwhm_px, beam_pa_deg: float = 0.0,
                spatial_kernels_beams=(0.0, 1.0, 2.0), spectral_kernels_channels=(0, 3, 7),
                n_sigma: float = 5.0, noise_statistic: str = "negative",
                replace: float | None = 2.0, dilate_xy: int = 1, dilate_v: int = 1,
                min_size: int | None = None) -> np.ndarray:
    """The cube times its smooth-and-clip source mask: ``data * smooth_clip_mask(data, ...)``.

    Parameters
    ----------
    data : numpy.ndarray
        Finite (v, y, x) cube; voxels exactly 0 are left out of the noise measurements.
    beam_fwhm_px : float or (float, float)
        Beam FWHM (bmaj, bmin) in pixels.
    beam_pa_deg : float
        Beam position angle in degrees, north through east.
    spatial_kernels_beams : sequence of float
        FWHM of the spatial Gaussian kernels in beams (each >= 0; 0 = no spatial smoothing).
    spectral_kernels_channels : sequence of int
        Widths of the spectral boxcar kernels in channels (each 0 = no smoothing, or odd >= 1).
    n_sigma : float
        Detection threshold in units of each smoothed cube's noise (> 0, default 5).
        (Formerly ``threshold``, deprecated.)
    noise_statistic : {"negative", "mad"}
        How each cube's noise is measured (docs/conventions.md, Noise). (Formerly ``noise``,
        deprecated.)
    replace : float or None
        Already-detected voxels are replaced by sign(x) * replace * sigma before each later
        smoothing (>= 0); None keeps their values.
    dilate_xy : int
        Grow the mask by a disk of this radius in pixels, >= 0.
    dilate_v : int
        Grow the mask by this many channels on each side, >= 0.
    min_size : int or None
        Connected groups of fewer detected voxels are dropped before the dilation (>= 0);
        None: twice the beam area in pixels.
        (See :func:`smooth_clip_mask` for each in full.)

    Returns
    -------
    numpy.ndarray
        float32 cube: the input values inside the mask, exactly 0 outside.
    """
    mask = smooth_clip_mask(data, beam_fwhm_px=beam_fwhm_px, beam_pa_deg=beam_pa_deg,
                            spatial_kernels_beams=spatial_kernels_beams,
                            spectral_kernels_channels=spectral_kernels_channels,
                            n_sigma=n_sigma, noise_statistic=noise_statistic, replace=replace,
                            dilate_xy=dilate_xy, dilate_v=dilate_v, min_size=min_size)
    return np.where(mask, np.asarray(data, dtype=np.float32), np.float32(0.0))


def dilate(mask: np.ndarray, *, dilate_xy: int = 1, dilate_v: int = 1) -> np.ndarray:
    """Grow a (v, y, x) boolean mask spatially, then spectrally.

    Parameters
    ----------
    mask : array_like
        Boolean (v, y, x) mask.
    dilate_xy : int, optional
        Radius in px of the disk the mask grows by in every channel, >= 0 (default 1).
    dilate_v : int, optional
        Channels the mask grows by on either side, >= 0 (default 1).

    Returns
    -------
    numpy.ndarray
        The grown boolean mask (the input itself, as a boolean array, when both sizes
        are 0).
    """
    mask = np.asarray(mask, dtype=bool)
    dxy = check.integer("dilate_xy", dilate_xy, 0, None)
    dv = check.integer("dilate_v", dilate_v, 0, None)
    if not mask.any():
        return mask.copy()
    if dxy > 0:
        y, x = np.mgrid[-dxy:dxy + 1, -dxy:dxy + 1]
        mask = ndimage.binary_dilation(mask, structure=(x * x + y * y <= dxy * dxy)[None])
    if dv > 0:
        mask = ndimage.binary_dilation(mask, structure=np.ones((2 * dv + 1, 1, 1), dtype=bool))
    return mask


def _kernel_list(name: str, values, *, integer: bool) -> list:
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1 or len(values) == 0:
        raise ValueError(f"{name}={values!r} must be a non-empty sequence of kernel sizes")
    out = []
    for v in values:
        if integer:
            v = check.integer(name, v, 0, None)
            if v > 1 and v % 2 == 0:
                raise ValueError(f"{name} has {v!r}: boxcar widths must be 0 or odd (1, 3, 5, ...)")
            out.append(0 if v <= 1 else v)   # 0 and 1 both mean no smoothing
        else:
            if isinstance(v, bool) or not isinstance(v, Real):
                raise TypeError(f"{name} must hold real numbers, got {v!r}")
            out.append(check.number(name, v, 0.0, None))
    return sorted(set(out))
