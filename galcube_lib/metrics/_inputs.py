"""Checks and selections shared by the metrics: cubes as arrays, masks, finite voxels, flux scale."""
from __future__ import annotations

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib.io import lazy
from galcube_lib.io.cube import Cube


def as_array(x, name: str) -> np.ndarray:
    """The data of a Cube or array as float64 (a new array: inputs are never modified)."""
    return check.real_array(name, x.data if isinstance(x, Cube) else x, some_finite=False)


def as_lazy_or_array(x, name: str):
    """The data of a Cube or array: a dask array (a lazy cube's) checked as :func:`as_array`
    checks, and left as it is; anything else through :func:`as_array` (float64)."""
    value = x.data if isinstance(x, Cube) else x
    if not lazy.is_lazy(value):
        return as_array(value, name)
    check.real_array(name, np.empty((0,) * value.ndim, value.dtype), some_finite=False)
    return value


def same_shape(arrays: dict) -> None:
    """Raise a ValueError naming every shape when the (non-None) arrays differ in shape."""
    shapes = {name: a.shape for name, a in arrays.items() if a is not None}
    if len(set(shapes.values())) > 1:
        text = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"shapes do not match: {text}")


def checked_mask(mask, shape, name: str = "aperture"):
    """A boolean (y, x) or (v, y, x) mask for a cube of ``shape``, checked but not broadcast; a
    dask array stays lazy (and is not checked for a True voxel), anything else is a numpy
    array."""
    if isinstance(mask, Cube):
        raise TypeError(f"{name} must be a boolean array, not a Cube")
    m = mask if lazy.is_lazy(mask) else np.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"{name} must be a boolean array, got dtype {m.dtype}")
    if m.shape not in (tuple(shape[1:]), tuple(shape)):
        raise ValueError(f"{name} has shape {m.shape}; expected {tuple(shape[1:])} (y, x) "
                         f"or {tuple(shape)} (v, y, x)")
    return m


def as_mask(mask, shape, name: str = "aperture") -> np.ndarray:
    """A (y, x) or (v, y, x) boolean mask as a (v, y, x) boolean array; non-empty."""
    m = np.broadcast_to(np.asarray(checked_mask(mask, shape, name)), shape)
    if not m.any():
        raise ValueError(f"{name} is empty (no True voxel)")
    return m


def finite(*arrays) -> np.ndarray:
    """Voxels finite in every array given (None entries are skipped)."""
    ok = np.ones(arrays[0].shape, dtype=bool)
    for a in arrays:
        if a is not None:
            ok &= np.isfinite(a)
    return ok


def not_finite(*arrays):
    """Voxels that are not finite in some array given, or None when there are none."""
    bad = ~finite(*[a for a in arrays if a is not None])
    return bad if bad.any() else None


def select(mask, *arrays, name="aperture"):
    """The values of each array in ``mask`` (or everywhere), restricted to voxels finite in all."""
    shape = arrays[0].shape
    sel = finite(*arrays) if mask is None else as_mask(mask, shape, name) & finite(*arrays)
    if not sel.any():
        raise ValueError(f"{name} holds no finite voxel")
    return [a[sel] for a in arrays]


def flux_scale(x, channel_kms, beam_area_px) -> float:
    """channel_kms / beam_area_px, taken from a Cube when not given (1 for plain arrays)."""
    if channel_kms is None:
        channel_kms = x.channel_kms if isinstance(x, Cube) else 1.0
    if beam_area_px is None:
        beam_area_px = x.beam_area_px if isinstance(x, Cube) else 1.0
    if not (channel_kms > 0 and beam_area_px > 0):
        raise ValueError(f"channel_kms={channel_kms!r} and beam_area_px={beam_area_px!r} must be > 0")
    return float(channel_kms) / float(beam_area_px)
