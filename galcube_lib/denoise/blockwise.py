"""Denoising a cube of any size block by block (docs/conventions.md, Block-wise denoising).

The cube is cut into spatial tiles of whole spectra. Each tile is read with the halo its
method needs, denoised, and its core written into a zarr store as soon as it is done, with a
marker that says so; a killed run started again with the same arguments skips the tiles already
done and ends with the same values as an uninterrupted one (each tile's result depends only on
the input). The finished store is renamed into place, or written to FITS, atomically. Tiles run
in this process, on a LocalCluster of ``workers`` processes, or on any dask ``Client``.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib._util.parallel import check_workers, run_batches
from galcube_lib.io import lazy
from galcube_lib.io.cube import Cube, check_cube
from galcube_lib.io.files import as_path, write_text

#: methods that run block-wise, with the halo each needs
BLOCKWISE = ("gaussian", "ist")

#: memory a tile may take while it is denoised (its halo included), in bytes
TILE_BYTES = 1.0e9

#: bytes per voxel a method holds while it denoises a tile (measured peaks, rounded up)
_BYTES_PER_VOXEL = {"gaussian": 40, "ist": 240}

#: coefficients per band kept to measure IST's noise sigmas on a large cube
_SIGMA_SAMPLES = 2 ** 22


def halo_px(method: str, cube: Cube, options: dict) -> int:
    """The spatial halo, in pixels, that a tile of ``cube`` is read with for ``method``.

    - gaussian: the half-width of its spatial kernel (so tiles give the whole-cube result);
    - ist: the reach of one analysis and one synthesis of its starlet (:func:`starlet_reach`).

    Parameters
    ----------
    method : str
        One of ``BLOCKWISE``.
    cube : Cube
        The cube.
    options : dict
        The method's options (``spatial_fwhm_beams``; ``n_scales_xy``).

    Returns
    -------
    int
        The halo in pixels.
    """
    bmaj, bmin = cube.beam_fwhm_px
    if method == "gaussian":
        from galcube_lib.denoise.gaussian import beam_kernel

        f = options.get("spatial_fwhm_beams", 1.0)
        return 0 if f == 0 else beam_kernel(f * bmaj, f * bmin, cube.beam_pa_deg).shape[0] // 2
    analysis, synthesis = starlet_reach(options["n_scales_xy"])
    return analysis + synthesis


def starlet_reach(n_scales: int) -> tuple[int, int]:
    """How far, in pixels, the second-generation starlet of ``n_scales`` scales reaches.

    Analysis: the coarse plane c_J is J smoothings (taps 2 * 2**j out) of the image, 2 (2**J - 1)
    px; the last detail w_(J-1) = c_(J-1) - H c_J smooths once more, 3 * 2**J - 2 px in all.
    Synthesis, c_j = H c_(j+1) + w_j from the coarse plane down: 2 (2**J - 1) px.

    Parameters
    ----------
    n_scales : int
        Spatial detail scales J.

    Returns
    -------
    (int, int)
        The analysis and synthesis reaches.
    """
    return 3 * 2 ** n_scales - 2, 2 * (2 ** n_scales - 1)


def tiles(shape, tile: int, halo: int) -> list[tuple[slice, slice, slice, slice]]:
    """The tiles of a (v, y, x) cube: (y, x) slices of each core and of the core with its halo.

    Parameters
    ----------
    shape : tuple of int
        (v, y, x).
    tile : int
        Core side in pixels; the last row and column of tiles are narrower.
    halo : int
        Pixels read around each core (fewer at the cube's edges).

    Returns
    -------
    list of (slice, slice, slice, slice)
        (core_y, core_x, read_y, read_x), row by row.
    """
    _, ny, nx = shape
    out = []
    for y0 in range(0, ny, tile):
        for x0 in range(0, nx, tile):
            y1, x1 = min(ny, y0 + tile), min(nx, x0 + tile)
            out.append((slice(y0, y1), slice(x0, x1), slice(max(0, y0 - halo), min(ny, y1 + halo)),
                        slice(max(0, x0 - halo), min(nx, x1 + halo))))
    return out


def default_tile(method: str, shape, halo: int) -> int:
    """The widest core side whose tile fits ``TILE_BYTES`` while ``method`` denoises it.

    Parameters
    ----------
    method : str
        One of ``BLOCKWISE``.
    shape : tuple of int
        (v, y, x) of the cube.
    halo : int
        The halo read around each core, in pixels.

    Returns
    -------
    int
        A multiple of 16 px, at least 32 and at most the cube's larger side.
    """
    side = math.sqrt(TILE_BYTES / _BYTES_PER_VOXEL[method] / shape[0]) - 2 * halo
    return int(min(max(shape[1:]), max(32, 16 * math.floor(side / 16))))


def _read(data, gain, read_y, read_x):
    """A tile of a (lazy) cube in flat-noise units: (values with blanks 0, finite, gain)."""
    box = (slice(None), read_y, read_x)
    values = np.asarray(lazy.compute(data[box]), dtype=np.float32)
    g = np.float32(1.0) if gain is None else np.asarray(lazy.compute(gain[box]), np.float32)
    flat = values * g
    finite = np.isfinite(flat)
    return np.where(finite, flat, np.float32(0.0)), finite, g


def _run_tiles(data, gain, method, kwargs, work, layout, indices) -> list[int]:
    """Denoise the tiles ``indices`` and write their cores into the store ``work``."""
    import zarr

    from galcube_lib.denoise import method_function

    func = method_function(method)
    target = zarr.open_array(os.path.join(work, "data"), mode="r+")
    for i in indices:
        core_y, core_x, read_y, read_x = layout[i]
        flat, finite, g = _read(data, gain, read_y, read_x)
        if finite.any():
            out = np.asarray(func(flat, **kwargs), dtype=np.float32) / g
            out = np.where(finite, out, np.float32(np.nan))
        else:
            out = np.full(flat.shape, np.nan, np.float32)
        inner = (slice(None), slice(core_y.start - read_y.start, core_y.stop - read_y.start),
                 slice(core_x.start - read_x.start, core_x.stop - read_x.start))
        target[:, core_y, core_x] = out[inner]
        write_text(os.path.join(work, "done", str(i)), "")
    return list(indices)


def _ist_options(cube: Cube, options: dict, halo: int | None, tile: int | None,
                 progress: bool) -> dict:
    """IST's options for tiles: the whole cube's scales, and its band sigmas measured once on
    tiles that cover the cube (every one when there are at most 16, else 16 spread over it)."""
    from galcube_lib.denoise.ist import band_sigmas_of_tiles, default_scales

    spectral = options.get("spectral", "bior")
    j_xy, j_v = default_scales(cube.shape, cube.beam_fwhm_px, spectral)
    fixed = {"n_scales_xy": options.get("n_scales_xy", j_xy),
             "n_scales_v": options.get("n_scales_v", j_v)}
    if "band_sigmas" in options or "noise" in options:
        return {**options, **fixed}
    forward_halo = starlet_reach(fixed["n_scales_xy"])[0]
    layout = tiles(cube.shape, tile or default_tile("ist", cube.shape, halo or 0), forward_halo)
    chosen = layout if len(layout) <= 16 else [layout[k] for k in
                                              np.linspace(0, len(layout) - 1, 16).astype(int)]
    voxels = sum((c_y.stop - c_y.start) * (c_x.stop - c_x.start) for c_y, c_x, _, _ in chosen)
    stride = max(1, math.ceil(voxels * cube.shape[0] / _SIGMA_SAMPLES))

    def sampled():
        for core_y, core_x, read_y, read_x in _progress(chosen, progress, "ist noise"):
            flat = _read(cube.data, cube.gain, read_y, read_x)[0]
            yield flat, (slice(core_y.start - read_y.start, core_y.stop - read_y.start),
                         slice(core_x.start - read_x.start, core_x.stop - read_x.start))

    sigmas = band_sigmas_of_tiles(sampled(), fixed["n_scales_xy"], fixed["n_scales_v"],
                                  spectral, stride)
    return {**options, **fixed, "band_sigmas": sigmas}


def _progress(items, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="tile", disable=not progress)


def _open_work(work: Path, job: dict, shape, tile: int):
    """The work store of a run: made fresh, or an earlier run's with the same job (resumed)."""
    import zarr

    if (work / "job.json").is_file():
        old = json.loads((work / "job.json").read_text())
        if old != job:
            changed = sorted(k for k in set(old) | set(job) if old.get(k) != job.get(k))
            raise ValueError(f"{work} holds an unfinished run with other arguments "
                             f"({', '.join(changed)} differ); run again with the same ones to "
                             "resume it, or remove that folder to start afresh")
        return {int(p.name) for p in (work / "done").iterdir() if p.name.isdigit()}
    shutil.rmtree(work, ignore_errors=True)
    (work / "done").mkdir(parents=True)
    zarr.create_array(work / "data", shape=shape, dtype="float32", chunks=(shape[0], tile, tile),
                      fill_value=np.nan)
    write_text(work / "job.json", json.dumps(job))
    return set()


def denoise_blocks(cube: Cube, method: str = "ist", out=None, *, options: dict | None = None,
                   tile_px: int | None = None, halo: int | None = None, workers: int = 1,
                   client=None, progress: bool = True) -> Cube:
    """Denoise a cube of any size tile by tile, writing the result as it goes.

    ``gl.denoise`` calls this for a lazy cube (:attr:`Cube.lazy`). The cube is cut into
    square tiles of whole spectra; each is read with a halo of ``halo`` pixels, denoised with
    the blanks and primary-beam gain handled as ``gl.denoise`` does, and its core written to
    a work store ``.<out name>.partial`` beside ``out``, with a marker. Run again with the same
    arguments after an interruption, it skips the tiles already done and gives the same result
    as an uninterrupted run. When every tile is done, the result replaces ``out`` atomically.

    Methods (``BLOCKWISE``):

    - "gaussian": the halo is the kernel's half-width, so the result equals the whole-cube
      one to float32 round-off;
    - "ist": the scales and the noise sigma of every band are those of the whole cube
      (measured once on tiles with the analysis's reach as halo, every tile when there are
      at most 16, else 16 spread over the cube); the default halo is the reach of one
      analysis and one synthesis (:func:`starlet_reach`). Every residual iteration reaches
      further, so the result differs slightly from the whole-cube one (at most 0.0012 noise
      sigma on the test cube of ``tests/denoise/test_blockwise.py``; less with a wider halo).

    Parameters
    ----------
    cube : Cube
        The cube, lazy or in memory (NaN for blanks; with a gain, denoised in flat-noise
        units).
    method : str
        One of ``BLOCKWISE``.
    out : str or os.PathLike
        The result: a zarr store (``.zarr``) or a FITS file (``.fits``).
    options : dict, optional
        The method's options (as for ``gl.denoise``).
    tile_px : int, optional
        Core side of a tile in pixels, >= 16; default: the widest that keeps a tile and its
        halo within about 1 GB while it is denoised (:func:`default_tile`).
    halo : int, optional
        Pixels read around each core, >= 0; default :func:`halo_px`.
    workers : int
        Processes of a dask LocalCluster to run the tiles on (default 1: this process).
    client : dask.distributed.Client, optional
        A cluster to run them on instead (its workers must see the input file and ``out``).
    progress : bool
        Show a progress bar of tiles done (tqdm).

    Returns
    -------
    Cube
        The denoised cube, lazy, read from ``out``; its record's ``denoise`` entry names the
        method, its options, and the tile and halo used.

    Raises
    ------
    ValueError
        A method that does not run block-wise, an ``out`` that is neither ``.zarr`` nor
        ``.fits``, or a work store left by a run with other arguments.
    """
    from galcube_lib.denoise import (denoised_metadata, describe_option, method_context,
                                     method_function)

    check_cube("cube", cube)
    check.choice("method", method, BLOCKWISE)
    out = as_path("out", out)
    if out.suffix not in (".zarr", ".fits"):
        raise ValueError(f"out must end in .zarr or .fits, got {out.name!r}")
    options = dict(options or {})
    workers = check_workers(workers, client)
    progress = check.boolean("progress", progress)
    kwargs = {**method_context(cube, method, method_function(method), options), **options}
    if method == "ist":
        kwargs = _ist_options(cube, kwargs, halo, tile_px, progress)
    halo = halo_px(method, cube, kwargs) if halo is None else check.integer("halo", halo, 0)
    tile = (default_tile(method, cube.shape, halo) if tile_px is None
            else check.integer("tile_px", tile_px, 16))
    layout = tiles(cube.shape, tile, halo)
    work = out.parent / f".{out.name}.partial"
    job = json.loads(json.dumps({
        "method": method, "options": {k: describe_option(v) for k, v in kwargs.items()},
        "shape": cube.shape, "tile": tile, "halo": halo, "input": lazy.token(cube)}))
    done = _open_work(work, job, cube.shape, tile)
    todo = [i for i in range(len(layout)) if i not in done]
    with _progress(range(len(layout)), progress, method) as bar:
        bar.update(len(done))
        run_batches(_run_tiles, (cube.data, cube.gain, method, kwargs, str(work), layout), todo,
                    workers=workers, client=client, batch_size=1,
                    on_result=lambda finished: bar.update(len(finished)))
    header, record = denoised_metadata(cube, method, options)
    header["HISTORY"] = f"galcube denoise: block-wise, {tile} px tiles with {halo} px halos"
    record["denoise"]["blockwise"] = {"tile_px": tile, "halo_px": halo}
    import dask.array as da

    result = Cube(da.from_zarr(str(work / "data")), header, clean=cube.clean, gain=cube.gain,
                  record=record)
    if out.suffix == ".fits":
        result.to_fits(out)
        shutil.rmtree(work)
        from galcube_lib.io.cube import read_fits

        return read_fits(out, lazy=True)
    lazy.to_zarr(result, out)
    shutil.rmtree(work)
    return lazy.read_zarr(out)
