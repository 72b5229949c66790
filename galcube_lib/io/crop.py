"""Boxes around the source: cropping a cube to one (with its WCS) and padding results back."""
from __future__ import annotations

import numpy as np

from galcube_lib._util import checks as _validate


def as_box(box, shape) -> tuple[slice, slice, slice]:
    """A box of index ranges as three slices, checked against the cube's ``shape``.

    Parameters
    ----------
    box : sequence of three (int, int) pairs or three slices
        ((v0, v1), (y0, y1), (x0, x1)): half-open, 0-based index ranges; None (or a slice's
        missing start or stop) means the edge of the cube.
    shape : tuple of int
        (v, y, x) shape of the cube.

    Returns
    -------
    tuple of slice
        (v, y, x) slices with ``0 <= start < stop <= n`` on each axis.

    Raises
    ------
    ValueError
        Not three ranges, or a range outside the cube or empty.
    """
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
    """The bounding box of ``mask``, grown.

    Parameters
    ----------
    mask : numpy.ndarray
        (v, y, x) boolean mask.
    margin : sequence of three int
        Voxels added on each side along (v, y, x), >= 0 (cut at the cube's edges).
    min_side : int
        Smallest side of the box along every axis, in voxels (or the cube's side where that
        is smaller); a shorter box is widened about its centre.

    Returns
    -------
    tuple of slice or None
        (v, y, x) slices; None when the mask is empty.
    """
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
    """The part of ``cube`` inside ``box``.

    Parameters
    ----------
    cube : Cube
        The cube.
    box : sequence of three (int, int) pairs or three slices
        ((v0, v1), (y0, y1), (x0, x1)) half-open index ranges, as :func:`as_box` takes them.

    Returns
    -------
    Cube
        A new Cube of ``data``, ``clean``, ``noise``, ``uncertainty`` and ``gain`` inside the
        box, whose WCS still places every voxel on the sky and the spectral axis (CRPIX
        shifted, NAXIS updated).

    Raises
    ------
    ValueError
        A box outside the cube.
    """
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
    """``values`` placed at ``box`` in a larger array: the inverse of a crop.

    Parameters
    ----------
    values : numpy.ndarray
        The values inside the box, of the box's shape.
    box : sequence of three (int, int) pairs or three slices
        Where they go, as :func:`as_box` takes it.
    shape : tuple of int
        (v, y, x) shape of the result.
    fill : float
        Value outside the box (e.g. NaN or 0).

    Returns
    -------
    numpy.ndarray
        float32 array of ``shape``.
    """
    out = np.full(shape, fill, dtype=np.float32)
    out[as_box(box, shape)] = values
    return out
