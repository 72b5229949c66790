"""Boxes around the source: cropping a cube to one (with its WCS) and padding results back."""
from __future__ import annotations

import numpy as np

from galcube_lib._util import checks as _validate


def as_box(box, shape) -> tuple[slice, slice, slice]:
    """``box`` = ((v0, v1), (y0, y1), (x0, x1)) half-open index ranges (or three slices),
    checked against the cube's ``shape``."""
    try:
        pairs = [(s.start, s.stop) if isinstance(s, slice) else tuple(s) for s in box]
        if len(pairs) != 3 or any(len(p) != 2 for p in pairs):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"box={box!r} must be \"auto\" or ((v0, v1), (y0, y1), (x0, x1)) "
                         "index ranges") from None
    out = []
    for axis, ((lo, hi), n) in enumerate(zip(pairs, shape)):
        lo = 0 if lo is None else _validate.integer(f"box[{axis}][0] (an index)", lo)
        hi = n if hi is None else _validate.integer(f"box[{axis}][1] (an index)", hi)
        if not 0 <= lo < hi <= n:
            raise ValueError(f"box range {lo}:{hi} on axis {axis} (v, y, x) is outside the valid "
                             f"range 0 <= start < stop <= {n}")
        out.append(slice(lo, hi))
    return tuple(out)


def mask_box(mask: np.ndarray, margin, min_side: int):
    """The bounding box of ``mask`` grown by ``margin`` (v, y, x) on each side, then to at
    least ``min_side`` along every axis (as the cube allows), as three slices; None when the
    mask is empty."""
    if not mask.any():
        return None
    box = []
    for axis, (n, pad) in enumerate(zip(mask.shape, margin)):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        lo, hi = max(hit[0] - pad, 0), min(hit[-1] + 1 + pad, n)
        want = min(min_side, n)
        if hi - lo < want:
            lo = min(max((lo + hi) // 2 - want // 2, 0), n - want)
            hi = lo + want
        box.append(slice(int(lo), int(hi)))
    return tuple(box)


def crop(cube, box):
    """The part of ``cube`` inside ``box`` as a new Cube whose WCS still places every voxel on
    the sky and the spectral axis (CRPIX shifted)."""
    box = as_box(box, cube.shape)
    header = cube.header.copy()
    for axis, s in zip((3, 2, 1), box):
        if f"CRPIX{axis}" in header:
            header[f"CRPIX{axis}"] = float(header[f"CRPIX{axis}"]) - s.start
        if f"NAXIS{axis}" in header:   # a header read from a file; simulated ones have none
            header[f"NAXIS{axis}"] = s.stop - s.start
    arrays = {name: (None if getattr(cube, name) is None else getattr(cube, name)[box])
              for name in ("clean", "noise", "uncertainty", "gain")}
    return cube.replace(data=cube.data[box], header=header, **arrays)


def pad(values: np.ndarray, box, shape, fill: float) -> np.ndarray:
    """``values`` placed at ``box`` in a float32 array of ``shape`` filled with ``fill``."""
    out = np.full(shape, fill, dtype=np.float32)
    out[as_box(box, shape)] = values
    return out
