"""Cubes larger than memory: dask arrays over an uncompressed FITS file or a zarr store.

A lazy :class:`~galcube_lib.Cube` holds dask arrays instead of numpy arrays; nothing is read
until a part of it is computed, and then only the chunks it needs. Its graph names the file by
path, so it can be shipped to the workers of any dask cluster (a numpy memmap would be pickled
with its data).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

#: largest chunk of a lazy cube, in bytes: full spectra over the widest square tile that fits
CHUNK_BYTES = 64 * 2 ** 20


def is_lazy(value) -> bool:
    """Whether ``value`` is a dask array (without importing dask when it is not).

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    bool
        True for a ``dask.array.Array``.
    """
    return type(value).__module__.startswith("dask.") and hasattr(value, "chunks")


def default_chunks(shape) -> tuple[int, int, int]:
    """Chunks of a lazy (v, y, x) cube: whole spectra over square tiles of at most
    ``CHUNK_BYTES`` of float32, a multiple of 16 px a side, from 16 to 512.

    Parameters
    ----------
    shape : tuple of int
        (v, y, x).

    Returns
    -------
    tuple of int
        (v, tile, tile), each at most the cube's size.
    """
    nv, ny, nx = shape
    tile = 16 * int(np.sqrt(CHUNK_BYTES / 4 / max(nv, 1)) // 16)
    tile = max(16, min(512, tile))
    return nv, min(ny, tile), min(nx, tile)


class FitsImage:
    """The array of one uncompressed FITS image HDU, read on demand through memory maps (the
    boxes of a cube that dask asks for, one channel at a time).

    Picklable (it holds the path and the data's place in the file, not the data). Scaled
    integers (BSCALE/BZERO) are scaled, and their BLANK value becomes NaN, as astropy does.

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file.
    offset : int
        Byte offset of the HDU's data in the file.
    shape : tuple of int
        The array's shape, numpy order (FITS axes reversed).
    bitpix : int
        The HDU's BITPIX.
    bscale, bzero : float
        Scaling of the stored values.
    blank : int or None
        The BLANK value of integer data.
    """

    _RAW = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}

    def __init__(self, path, offset: int, shape, bitpix: int, bscale=1.0, bzero=0.0, blank=None):
        self.path, self.offset, self.shape = os.fspath(path), int(offset), tuple(shape)
        self.bitpix, self.bscale, self.bzero, self.blank = bitpix, bscale, bzero, blank
        self.dtype, self.ndim = np.dtype(np.float32), len(self.shape)

    def __getitem__(self, key) -> np.ndarray:
        box = self._box(key)
        if box is not None:
            stored = self._read_box(box)
        else:
            raw = np.memmap(self.path, dtype=self._RAW[self.bitpix], mode="r",
                            offset=self.offset, shape=self.shape)
            stored = raw[key]
        values = stored.astype(np.float32)
        if (self.bscale, self.bzero) != (1.0, 0.0):
            values = values * np.float32(self.bscale) + np.float32(self.bzero)
        if self.bitpix > 0 and self.blank is not None:
            values[stored == self.blank] = np.nan
        return values


    def _box(self, key):
        """((v0, v1), (y0, y1), (x0, x1)) of a key of three contiguous slices of a cube (what
        dask asks for), else None."""
        if (self.ndim != 3 or not isinstance(key, tuple) or len(key) != 3
                or not all(isinstance(k, slice) and k.step in (None, 1) for k in key)):
            return None
        return tuple(k.indices(n)[:2] for k, n in zip(key, self.shape))

    def _read_box(self, box) -> np.ndarray:
        """The stored values of a box, channel by channel, each through its own memory map of
        that channel's rows: a map of the whole box would keep every page it touched (several
        times the box) in the process's memory until it is closed."""
        (v0, v1), (y0, y1), (x0, x1) = box
        raw = np.dtype(self._RAW[self.bitpix])
        _, ny, nx = self.shape
        out = np.empty((max(0, v1 - v0), max(0, y1 - y0), max(0, x1 - x0)), raw)
        if out.size == 0:
            return out
        for k in range(v0, v1):
            rows = np.memmap(self.path, dtype=raw, mode="r", shape=(y1 - y0, nx),
                             offset=self.offset + (k * ny + y0) * nx * raw.itemsize)
            out[k - v0] = rows[:, x0:x1]
            del rows                                  # unmapped: one channel's rows at a time
        return out


def fits_array(path, hdu, chunks=None):
    """A dask array over one image HDU of an uncompressed FITS file, float32.

    Parameters
    ----------
    path : pathlib.Path
        The file (already opened as ``hdu``'s file).
    hdu : astropy.io.fits ImageHDU or PrimaryHDU
        The HDU, whose data has not been read.
    chunks : tuple of int, optional
        Dask chunks; :func:`default_chunks` of the last three axes by default.

    Returns
    -------
    dask.array.Array
        float32, the HDU's shape; a graph naming ``path``, its size and modification time.

    Raises
    ------
    ValueError
        A compressed file (gzip and the like cannot be read at an offset).
    """
    import dask.array as da
    from dask.base import tokenize

    info = hdu.fileinfo()
    if getattr(info["file"], "compression", None):
        raise ValueError(f"{path}: lazy=True reads the data at its place in the file, which a "
                         f"{info['file'].compression} file does not allow; decompress it first "
                         f"(e.g. gunzip) or read it with lazy=False")
    header = hdu.header
    shape = tuple(header[f"NAXIS{k}"] for k in range(header["NAXIS"], 0, -1))
    image = FitsImage(path, info["datLoc"], shape, header["BITPIX"], header.get("BSCALE", 1.0),
                      header.get("BZERO", 0.0), header.get("BLANK"))
    if chunks is None:
        chunks = (1,) * (len(shape) - 3) + default_chunks(shape[-3:]) if len(shape) >= 3 else shape
    stat = os.stat(path)
    name = "fits-" + tokenize(os.path.abspath(path), info["datLoc"], stat.st_size, stat.st_mtime_ns)
    return da.from_array(image, chunks=chunks, name=name, asarray=False,
                         meta=np.empty((0,) * len(shape), np.float32))


def blank_zero_spaxels(data, log):
    """Lazy :func:`galcube_lib.io.header.blank_zero_spaxels`: spaxels exactly 0 in every channel
    become NaN. Finding them reads the whole cube once, chunk by chunk.

    Parameters
    ----------
    data : dask.array.Array
        (v, y, x) data.
    log : galcube_lib.io.header.ReadLog
        Where the blanked voxels are counted and noted.

    Returns
    -------
    dask.array.Array
        The data with those spaxels NaN.
    """
    import dask
    import dask.array as da

    # two per-spaxel counts in one streaming reduction (no chunk is held for a second pass)
    zeros, nans = dask.compute((data == 0).sum(axis=0), da.isnan(data).sum(axis=0))
    spaxels = (zeros + nans == data.shape[0]) & (zeros > 0)
    count = zeros[spaxels].sum()
    if spaxels.any():
        log.blanked += int(count)
        log.note(f"zero-filled blanks -> NaN ({int(spaxels.sum())} spaxels)")
        return da.where(spaxels[None], np.float32(np.nan), data)
    return data


def compute(value):
    """``value`` as a numpy array when it is a dask array; anything else as it is.

    The graph runs in this thread (dask's synchronous scheduler): reading chunks of a file
    gains nothing from threads, and a task on a dask worker must not start another cluster
    computation.

    Parameters
    ----------
    value : object
        An array, a dask array or None.

    Returns
    -------
    object
        ``value`` computed.
    """
    return value.compute(scheduler="synchronous") if is_lazy(value) else value


def token(cube) -> str:
    """A name for a cube's data that changes when the data do: the dask name of a lazy cube's
    data (its file's path, size and modification time, or its zarr store), else a hash of the
    values.

    Parameters
    ----------
    cube : Cube
        The cube.

    Returns
    -------
    str
        The token.
    """
    from dask.base import tokenize

    parts = [cube.data, cube.gain]
    return tokenize(*[p.name if is_lazy(p) else p for p in parts])


def _regular_chunks(value) -> tuple[int, ...]:
    """A dask array's own chunks when zarr can hold them (equal along each axis but the last,
    which may be smaller), so that a store copies chunk to chunk: a rechunk between two grids
    holds more of the array at once as the array grows. Else :func:`default_chunks`."""
    if all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in value.chunks):
        return tuple(c[0] for c in value.chunks)
    return default_chunks(value.shape)


def to_zarr(cube, path, overwrite: bool = True) -> Path:
    """Write a cube to a zarr (v3) store, atomically.

    Parameters
    ----------
    cube : Cube
        The cube, in memory or lazy.
    path : str or os.PathLike
        The store (a folder).
    overwrite : bool, optional
        Replace an existing store (default True).

    Returns
    -------
    pathlib.Path
        ``path``; see :meth:`galcube_lib.Cube.to_zarr`.
    """
    import dask.array as da
    import zarr

    from galcube_lib.io.files import as_path, atomic_folder
    from galcube_lib.io.records import record_json

    path = as_path("path", path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists and overwrite=False")
    meta = {"kind": "cube", "header": cube.header.tostring(), "record": record_json(cube.record)}
    with atomic_folder(path) as tmp:
        group = zarr.open_group(tmp, mode="w")
        for name in ("data", "clean", "noise", "uncertainty", "gain"):
            value = getattr(cube, name)
            if value is None:
                continue
            chunks = _regular_chunks(value) if is_lazy(value) else default_chunks(value.shape)
            target = group.create_array(name, shape=value.shape, dtype="float32", chunks=chunks,
                                        fill_value=np.nan)
            if is_lazy(value):
                da.store(value.rechunk(chunks), target, lock=False)
            else:
                target[...] = value
        group.attrs["galcube"] = meta
    return path


def read_zarr(path):
    """Read a cube written by :meth:`Cube.to_zarr`, lazily.

    Parameters
    ----------
    path : str or os.PathLike
        The zarr store.

    Returns
    -------
    Cube
        A lazy cube (:attr:`Cube.lazy`): dask arrays over the store's arrays, read chunk by
        chunk when computed, with the header and record as written.

    Raises
    ------
    FileNotFoundError
        No zarr store at ``path``.
    ValueError
        A zarr store that :meth:`Cube.to_zarr` did not write.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> cube = gl.simulate(gl.Galaxy(r_eff_kpc=1.0),
    ...                    gl.Observation(n_pix=32, n_chan=16, channel_kms=40.0))
    >>> path = cube.to_zarr(pathlib.Path(folder.name) / "galaxy.zarr")
    >>> back = gl.read_zarr(path)
    >>> back.lazy, bool(np.array_equal(back.data.compute(), cube.data))
    (True, True)
    >>> folder.cleanup()
    """
    import dask.array as da
    import zarr
    from astropy.io import fits

    from galcube_lib.io.cube import Cube
    from galcube_lib.io.files import as_path

    path = as_path("path", path)
    if not (path / "zarr.json").is_file():
        raise FileNotFoundError(f"{path}: no zarr store there (no zarr.json)")
    group = zarr.open_group(path, mode="r")
    meta = group.attrs.get("galcube")
    if not isinstance(meta, dict) or meta.get("kind") != "cube":
        raise ValueError(f"{path} is a zarr store but not a galcube cube (written by Cube.to_zarr)")
    arrays = {name: da.from_zarr(group[name]) for name in group.array_keys()}
    header = fits.Header.fromstring(meta["header"])
    return Cube(arrays.pop("data"), header, record=json.loads(meta["record"]), **arrays)
