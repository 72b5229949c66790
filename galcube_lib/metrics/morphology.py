"""Morphology: moment masks, masked moment maps, map RMSE, SSIM and the kinematic position angle."""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from galcube_lib._util import checks as _validate
from galcube_lib._util.conventions import MAD_TO_SIGMA
from galcube_lib.io import lazy
from galcube_lib.metrics._inputs import as_lazy_or_array, as_mask, checked_mask, finite


#: most voxels whose values give a lazy cube's noise level in :func:`moment_mask`: every one
#: up to this many, else those of every s-th spaxel in y and x (all their channels)
MAD_SAMPLES = 2 ** 22


def moment_mask(data, n_sigma=3.0, sigma=None):
    """Voxels above ``n_sigma`` times the noise level.

    Parameters
    ----------
    data : Cube, numpy.ndarray or dask.array.Array
        The cube: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left out. A lazy
        cube gives a lazy mask.
    n_sigma : float, optional
        Threshold in units of ``sigma`` (default 3); one-sided, ``value > n_sigma * sigma``.
    sigma : float, optional
        Noise level in data units; by default MAD_TO_SIGMA times the median absolute
        deviation of the finite data about their median (docs/conventions.md, Noise); of a lazy
        cube larger than ``MAD_SAMPLES`` voxels, of the finite values of every s-th spaxel in
        y and x (one pass over the cube).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        Boolean (v, y, x) mask (False on NaN voxels); a dask array for a lazy cube.
    """
    arr = as_lazy_or_array(data, "data")
    if lazy.is_lazy(arr):
        arr = arr.astype(np.float64)
        step = max(1, math.ceil(math.sqrt(math.prod(arr.shape) / MAD_SAMPLES)))
        sample = lazy.compute(arr[:, ::step, ::step])
    else:
        sample = arr
    if sigma is None:
        values = sample[np.isfinite(sample)]
        sigma = MAD_TO_SIGMA * np.median(np.abs(values - np.median(values)))
    with np.errstate(invalid="ignore"):
        return arr > n_sigma * float(sigma)


def truth_mask(truth, frac=0.05):
    """Voxels where the truth exceeds ``frac`` of its peak: the default mask against a truth.

    Parameters
    ----------
    truth : Cube, numpy.ndarray or dask.array.Array
        The noise-free truth: a (v, y, x) array or a Cube (its ``data``); NaN voxels are left
        out. A lazy truth gives a lazy mask (its peak found in one pass).
    frac : float, optional
        Fraction of the truth's peak (default 0.05).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        Boolean (v, y, x) mask; a dask array for a lazy truth.
    """
    t = as_lazy_or_array(truth, "truth")
    t = t.astype(np.float64) if lazy.is_lazy(t) else t
    with np.errstate(invalid="ignore"):
        return t > frac * float(lazy.compute(np.nanmax(t)))


#: largest block of whole spectra :func:`moments` works on at a time, in bytes as float64 (the
#: arithmetic holds a few arrays of this size per block)
MOMENT_BLOCK_BYTES = 32 * 2 ** 20


def moments(data, velocity_kms, mask=None):
    """Masked moment maps: 0 (Jy/beam km/s), 1 (mean velocity, km/s), 2 (dispersion, km/s).

    moment 0 = sum_v(I) dv; moment 1 = sum(I v) / sum(I); moment 2 = sqrt(sum(I (v - m1)^2) /
    sum(I)), over masked finite voxels. Moments 1 and 2 are NaN where sum(I) <= 0 (or the
    variance is negative, possible with noise). All three are NaN on spaxels with no finite
    voxel (blank, not zero emission); a finite spaxel that the mask leaves out has moment 0 = 0.

    A lazy cube (a dask array, or a lazy Cube), or a dask mask, is worked on block-wise
    (``dask.array.map_blocks``): whole spectra (the channel axis in one chunk, rechunked if
    need be) over spatial tiles of at most ``MOMENT_BLOCK_BYTES`` as float64, with the same
    arithmetic as in memory; only the maps are held. The graph runs on dask's default
    scheduler (threads, or the dask ``Client`` made the default).

    Parameters
    ----------
    data : (v, y, x) array, dask array or Cube
        The cube (a Cube's ``data``).
    velocity_kms : (v,) array
        Channel velocities; dv = |v[1] - v[0]|.
    mask : bool array or dask array, optional
        (v, y, x) or (y, x); default all voxels.

    Returns
    -------
    moment0, moment1, moment2 : numpy.ndarray
        (y, x) float64 maps: moment 0 in the data's units times km/s (Jy/beam km/s), moments
        1 and 2 in km/s.

    Raises
    ------
    ValueError
        ``velocity_kms`` not one value per channel, or a bad or empty mask.
    """
    arr = as_lazy_or_array(data, "data")
    if lazy.is_lazy(arr) or lazy.is_lazy(mask):
        return _moments_blocks(arr, velocity_kms, mask)
    vel, dv = _velocities(velocity_kms, arr.shape)
    keep = finite(arr) if mask is None else as_mask(mask, arr.shape, "mask") & finite(arr)
    return tuple(_moment_planes(arr, keep, vel, dv))


def _velocities(velocity_kms, shape) -> tuple[np.ndarray, float]:
    """The channel velocities as float64, checked against the cube's ``shape``, and dv."""
    vel = np.asarray(velocity_kms, dtype=float)
    if vel.shape != tuple(shape[:1]):
        raise ValueError(f"velocity_kms has shape {vel.shape}; the cube has {shape[0]} channels")
    return vel, abs(vel[1] - vel[0]) if vel.size > 1 else 1.0


def _moment_planes(arr, keep, vel, dv) -> np.ndarray:
    """Moments 0, 1, 2 as a (3, y, x) float64 array of the float64 (v, y, x) ``arr`` over the
    voxels ``keep``: the arithmetic of :func:`moments`, on a whole cube or on one block."""
    w = np.where(keep, arr, 0.0)
    total = w.sum(axis=0)
    pos = total > 0
    safe = np.where(pos, total, 1.0)
    m1 = np.tensordot(vel, w, axes=1) / safe
    var = (((vel[:, None, None] - m1) ** 2) * w).sum(axis=0) / safe
    with np.errstate(invalid="ignore"):
        m2 = np.where(pos & (var >= 0), np.sqrt(np.clip(var, 0, None)), np.nan)
    blank = ~np.isfinite(arr).any(axis=0)
    return np.stack([np.where(blank, np.nan, total * dv), np.where(pos, m1, np.nan), m2])


def _block_moments(block, mask_block, vel, dv) -> np.ndarray:
    """One block of whole spectra: its (3, y, x) moment planes, and a fourth plane, 1 where the
    mask holds a True voxel (to refuse an empty mask without a second pass)."""
    arr = np.asarray(block, dtype=np.float64)
    keep = np.isfinite(arr)
    if mask_block is None:
        masked = np.ones(arr.shape[1:])
    else:
        keep &= mask_block
        masked = mask_block.any(axis=0) if mask_block.ndim == 3 else mask_block
    return np.concatenate([_moment_planes(arr, keep, vel, dv), masked[None].astype(np.float64)])


def _moments_blocks(data, velocity_kms, mask):
    """:func:`moments` of a dask (or numpy) cube, block by block over whole spectra."""
    import dask.array as da

    if not lazy.is_lazy(data):   # a lazy mask on a cube in memory
        data = da.from_array(data, chunks=lazy.default_chunks(data.shape))
    vel, dv = _velocities(velocity_kms, data.shape)
    nv = data.shape[0]
    ty, tx = max(data.chunks[1]), max(data.chunks[2])
    if nv * ty * tx * 8 > MOMENT_BLOCK_BYTES:
        side = max(1, math.isqrt(MOMENT_BLOCK_BYTES // (8 * nv)))
        data = data.rechunk((nv, min(ty, side), min(tx, side)))
    else:
        data = data.rechunk({0: nv})
    args = [data]
    if mask is not None:
        mask = checked_mask(mask, data.shape, "mask")
        chunks = data.chunks[3 - mask.ndim:]
        args.append(mask.rechunk(chunks) if lazy.is_lazy(mask) else
                    da.from_array(np.asarray(mask), chunks=chunks))
    planes = da.map_blocks(_block_moments, *args, *([None] if mask is None else []), vel, dv,
                           chunks=((4,),) + data.chunks[1:], dtype=np.float64,
                           meta=np.empty((0, 0, 0))).compute()
    if not planes[3].any():
        raise ValueError("mask is empty (no True voxel)")
    return planes[0], planes[1], planes[2]


def map_rmse(image, reference) -> float:
    """RMSE between two maps over the pixels finite in both.

    Parameters
    ----------
    image : array_like
        The 2-D map to score.
    reference : array_like
        The true map, same shape.

    Returns
    -------
    float
        The RMSE in the maps' units; NaN when no pixel is finite in both.

    Raises
    ------
    ValueError
        Maps of different shapes.
    """
    a, b = np.asarray(image, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"image has shape {a.shape}, reference has {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))) if ok.any() else math.nan


@_validate.renamed(sigma="window_sigma")
def ssim(image, reference, data_range=None, window_sigma=1.5) -> float:
    """Structural similarity (Wang et al. 2004) of two 2-D maps, Gaussian-weighted.

    Local means, variances and covariance use a Gaussian window of standard deviation
    ``window_sigma`` px (truncated at 3.5 times that, reflecting edges); K1 = 0.01, K2 = 0.03,
    L = ``data_range`` (default: the reference's max - min); the SSIM map is averaged away from
    a border of the window's half width, as scikit-image's ``structural_similarity(
    gaussian_weights=True, use_sample_covariance=False)`` does. Both maps must be finite. The
    window's width was called ``sigma``, a name the project keeps for noise levels; that name
    still works, with a DeprecationWarning.

    Parameters
    ----------
    image : array_like
        The 2-D map to score.
    reference : array_like
        The true map, same shape.
    data_range : float, optional
        L, > 0; the reference's max - min by default.
    window_sigma : float, optional
        Standard deviation of the Gaussian window in px (default 1.5).

    Returns
    -------
    float
        The mean SSIM, at most 1 (1: identical maps).

    Raises
    ------
    ValueError
        Maps that are not 2-D of one shape or not finite, or a range not > 0.
    """
    x, y = np.asarray(image, dtype=float), np.asarray(reference, dtype=float)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"image {x.shape} and reference {y.shape} must be 2-D of the same shape")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("image and reference must be finite (fill NaN first)")
    L = float(np.ptp(y)) if data_range is None else float(data_range)
    if not L > 0:
        raise ValueError(f"data_range={data_range!r} must be > 0 (the reference is constant)")
    blur = lambda a: ndimage.gaussian_filter(a, window_sigma, mode="reflect", truncate=3.5)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    pad = int(3.5 * window_sigma + 0.5)
    if min(x.shape) > 2 * pad:
        smap = smap[pad:-pad, pad:-pad]
    return float(smap.mean())


def kinematic_pa(moment1, mask=None) -> float:
    """Kinematic position angle (deg, north through east) of the receding side.

    A plane v = v0 + a x + b y is fitted by least squares to the finite (masked) pixels of the
    moment-1 map; the velocity rises fastest along (a, b), so PA = atan2(-a, b) mod 360
    (PA 0 is +y, PA 90 is -x; docs/conventions.md, Angles).

    Parameters
    ----------
    moment1 : array_like
        2-D moment-1 map in km/s; NaN pixels are left out.
    mask : array_like of bool, optional
        (y, x) pixels to fit; all finite pixels by default.

    Returns
    -------
    float
        The PA in degrees, in [0, 360).

    Raises
    ------
    ValueError
        A map that is not 2-D, or fewer than 3 pixels to fit.
    """
    m1 = np.asarray(moment1, dtype=float)
    if m1.ndim != 2:
        raise ValueError(f"moment1 must be a 2-D map, got shape {m1.shape}")
    sel = np.isfinite(m1) if mask is None else np.isfinite(m1) & np.asarray(mask, dtype=bool)
    if sel.sum() < 3:
        raise ValueError("moment1 has fewer than 3 finite (masked) pixels for the plane fit")
    y, x = np.nonzero(sel)
    design = np.stack([np.ones(x.size), x, y], axis=1)
    _, a, b = np.linalg.lstsq(design, m1[sel], rcond=None)[0]
    return float(math.degrees(math.atan2(-a, b)) % 360.0 % 360.0)  # -1e-17 -> 0, not 360

