"""Denoising a cube of any size block by block (docs/conventions.md, Large cubes and block-wise
denoising).

Methods with a local reach (``HALO_METHODS``) cut the cube into spatial tiles of whole spectra.
Each tile is read with the halo its method needs, denoised, and its core written into a zarr
store as soon as it is done, with a marker that says so; a killed run started again with the
same arguments skips the tiles already done and ends with the same values as an uninterrupted
one (each tile's result depends only on the input). IST, PCA, ICA, smooth_clip and the deep
methods run in passes instead (``PASS_METHODS``). The finished result is written to ``out`` atomically. The
work runs in this process, on a LocalCluster of ``workers`` processes, or on any dask
``Client``.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib._util.parallel import check_workers, cluster, run_batches
from galcube_lib.io import lazy
from galcube_lib.io.cube import Cube, check_cube
from galcube_lib.io.files import as_path, write_text

#: methods that run on tiles with halos
HALO_METHODS = ("gaussian",)
#: methods that run in passes over the cube: name -> the module (in galcube_lib.denoise) that
#: gives ``checked(cube, kwargs, *, method)`` (all options, checked), ``tile_for(shape,
#: options)`` and ``denoise_in_passes(cube, work, options, *, method, tile, run, progress)``,
#: which writes the result into the zarr array ``work``/data and may keep its own state in
#: ``work`` to resume
PASS_METHODS = {"ist": "ist_passes", "pca": "component_passes", "ica": "component_passes",
                "smooth_clip": "smooth_clip_passes", "unet": "deep.passes",
                "spectral": "deep.passes", "noise2self": "deep.passes", "lcae": "deep.passes"}
#: every method that runs block-wise
BLOCKWISE = (*HALO_METHODS, *PASS_METHODS)

#: memory a tile may take while it is denoised (its halo included), in bytes
TILE_BYTES = 1.0e9

#: bytes per voxel a method holds while it denoises a tile (measured peaks, rounded up)
_BYTES_PER_VOXEL = {"gaussian": 40}


def halo_px(method: str, cube: Cube, options: dict) -> int:
    """The spatial halo, in pixels, that a tile of ``cube`` is read with for ``method``.

    gaussian: the half-width of its spatial kernel (so tiles give the whole-cube result).

    Parameters
    ----------
    method : str
        One of ``HALO_METHODS``.
    cube : Cube
        The cube.
    options : dict
        The method's options (``spatial_fwhm_beams``).

    Returns
    -------
    int
        The halo in pixels.
    """
    from galcube_lib.denoise.gaussian import beam_kernel

    bmaj, bmin = cube.beam_fwhm_px
    f = options.get("spatial_fwhm_beams", 1.0)
    return 0 if f == 0 else beam_kernel(f * bmaj, f * bmin, cube.beam_pa_deg).shape[0] // 2


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

    The core is never narrower than the halo (a narrower one would read most voxels many
    times); when such a tile needs more than ``TILE_BYTES``, a warning says how much.

    Parameters
    ----------
    method : str
        One of ``HALO_METHODS``.
    shape : tuple of int
        (v, y, x) of the cube.
    halo : int
        The halo read around each core, in pixels.

    Returns
    -------
    int
        A multiple of 16 px, at least 32 and the halo, at most the cube's larger side.
    """
    per_px = _BYTES_PER_VOXEL[method] * shape[0]
    side = math.sqrt(TILE_BYTES / per_px) - 2 * halo
    tile = int(min(max(shape[1:]), max(32, halo, 16 * math.floor(side / 16))))
    need = per_px * min(shape[1], tile + 2 * halo) * min(shape[2], tile + 2 * halo)
    if need > TILE_BYTES:
        warnings.warn(f"{method} needs a {halo} px halo around each tile on this cube: a tile of "
                      f"{tile} px takes about {need / 1e9:.1f} GB while it is denoised",
                      UserWarning, stacklevel=3)
    return tile


def _run_tiles(data, gain, method, kwargs, work, layout, indices) -> list[int]:
    """Denoise the tiles ``indices`` and write their cores into the store ``work``."""
    import zarr

    from galcube_lib.denoise import flat_input, method_function

    func = method_function(method)
    target = zarr.open_array(os.path.join(work, "data"), mode="r+")
    for i in indices:
        core_y, core_x, read_y, read_x = layout[i]
        box = (slice(None), read_y, read_x)
        flat, finite, g = flat_input(data[box], None if gain is None else gain[box])
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


def _runner(on):
    """``run(func, args, items)``: ``func(*args, batch)`` over ``items``, in this process (one
    batch) or on the client ``on`` (:func:`run_batches`); the list of results."""
    def run(func, args, items):
        items, results = list(items), []
        run_batches(func, args, items, workers=1, client=on, on_result=results.append,
                    batch_size=None if on else max(1, len(items)))
        return results
    return run


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

    - "gaussian": tiles with a halo of the kernel's half-width, so the result equals the
      whole-cube one to float32 round-off;
    - "ist" (hard mode): in passes over slabs of channels and tiles of spaxels, with the
      starlet planes in a scratch file (:mod:`.ist_passes`): no halo, and the same result as
      the whole-cube IST to the bit where the cube has at most about 2 million voxels (above,
      the band noise sigmas are measured on every n-th coefficient). A killed run resumes at
      the start of the pass it was in;
    - "pca", "ica": a streaming fit (PCA from the exact channel covariance, ICA on a sample of
      spaxels), the component count in one pass, then a block-wise projection
      (:mod:`.component_passes`): the in-memory result to round-off where the fit sees every
      spaxel;
    - "unet", "spectral", "noise2self", "lcae": in passes (:mod:`.deep.passes`): the noise
      scale of the whole cube, what the method needs of it (a level map, noise2self's
      fine-tuning, lcae's mask and training), then tile by tile with the U-Net's tiles of the
      whole cube: the in-memory result to float32 round-off where the cube has at most
      ``deep.passes.SAMPLE_VOXELS`` voxels. A killed run resumes with the tiles not done;
    - "smooth_clip": in passes over tiles with the halo of each kernel, the mask labelled
      across tiles (:mod:`.smooth_clip_passes`): the in-memory mask voxel for voxel (but where
      a smoothed value lies within float32 round-off of a threshold). A killed run resumes at
      the start of the stage it was in.

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
        halo within about 1 GB while it is denoised (:func:`default_tile`; for IST
        :func:`.ist_passes.default_tile`).
    halo : int, optional
        Pixels read around each core, >= 0; default :func:`halo_px` (not used by IST).
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
    passes = None
    if method in PASS_METHODS:
        passes = importlib.import_module(f"galcube_lib.denoise.{PASS_METHODS[method]}")
        kwargs = passes.checked(cube, kwargs, method=method)
        halo = 0
        tile = (passes.tile_for(cube.shape, kwargs) if tile_px is None
                else check.integer("tile_px", tile_px, 16))
    else:
        halo = halo_px(method, cube, kwargs) if halo is None else check.integer("halo", halo, 0)
        tile = (default_tile(method, cube.shape, halo) if tile_px is None
                else check.integer("tile_px", tile_px, 16))
    work = out.parent / f".{out.name}.partial"
    job = json.loads(json.dumps({
        "method": method, "options": {k: describe_option(v) for k, v in kwargs.items()},
        "shape": cube.shape, "tile": tile, "halo": halo, "input": lazy.token(cube)}))
    done = _open_work(work, job, cube.shape, tile)
    with cluster(workers, client) as on:
        if passes is not None:
            passes.denoise_in_passes(cube, work, kwargs, method=method, tile=tile,
                                     run=_runner(on), progress=progress)
        else:
            layout = tiles(cube.shape, tile, halo)
            todo = [i for i in range(len(layout)) if i not in done]
            with _progress(range(len(layout)), progress, method) as bar:
                bar.update(len(done))
                run_batches(_run_tiles, (cube.data, cube.gain, method, kwargs, str(work), layout),
                            todo, workers=1, client=on, batch_size=1,
                            on_result=lambda finished: bar.update(len(finished)))
    header, record = denoised_metadata(cube, method, options)
    if passes is not None:
        header["HISTORY"] = f"galcube denoise: in passes, {tile} px spaxel tiles"
        record["denoise"]["blockwise"] = {"tile_px": tile, "passes": True}
    else:
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
