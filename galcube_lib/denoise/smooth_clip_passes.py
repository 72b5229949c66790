"""The smooth-and-clip mask, and "smooth_clip" denoising, of a cube larger than memory, in passes
(docs/conventions.md, Large cubes).

:func:`~galcube_lib.denoise.smooth_clip.smooth_clip_mask` holds the whole cube; here every step
runs over spatial tiles of whole spectra:

- a scratch file ``state.u8`` keeps one byte per voxel: 1 + the index of the first kernel that
  detected it, positively or negatively (0: none yet), and a bit for "detected positively by
  some kernel". The replacement before kernel k takes the voxels first detected by a kernel
  before k, as the in-memory function does;
- for each (spatial kernel, spectral boxcar), pass A reads every tile with a halo of the spatial
  kernel's reach, smooths it and gathers the noise statistic of its core ("negative": the sum of
  squares and the count of the negative voxels; "mad": every voxel up to ``MAD_SAMPLES`` voxels
  in the cube, every n-th beyond) and keeps the smoothed cores in a scratch file
  ``smoothed.f32``; pass B reads them back (instead of smoothing again) and records the core's
  new detections;
- the positive detections are labelled across tiles (``dask_image.ndmeasure.label``,
  26-connected), the labels of fewer than ``min_size`` voxels dropped, and the rest dilated tile
  by tile with a halo of ``dilate_xy``.

The smoothing of a tile is the whole cube's to float32 round-off (its FFT is of another size),
so the mask equals the in-memory one voxel for voxel but where a smoothed value lies within that
round-off of a threshold. A work folder holds the scratch files and ``state.json``, rewritten
atomically after each stage; a killed run starts again at the beginning of the stage it was in.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib.denoise import blockwise
from galcube_lib.io.files import as_path, atomic_folder, write_text

#: voxels whose every value goes into the "mad" noise statistic; every n-th beyond
MAD_SAMPLES = 2 ** 22

#: bytes per voxel a tile takes while it is smoothed (the input, its copy, the FFT, the result)
BYTES_PER_VOXEL = 48

_FIRST = np.uint8(0x7F)      # 1 + the index of the first kernel that detected the voxel
_POSITIVE = np.uint8(0x80)   # detected positively by some kernel


class _Step(NamedTuple):
    """Kernel ``index`` (spatial FWHM ``f_xy`` in beams, boxcar ``width``) and the noise
    ``sigma0`` of the unsmoothed cube, for the replacement."""
    index: int
    f_xy: float
    width: int
    sigma0: float


def _kernels(options: dict) -> list[tuple[float, int]]:
    return [(f, w) for f in options["spatial_kernels_beams"]
            for w in options["spectral_kernels_channels"]]


def _reach(options: dict, f_xy: float) -> int:
    """Half-width in pixels of the spatial kernel of ``f_xy`` beams (0: none)."""
    from galcube_lib.denoise.gaussian import beam_kernel

    if f_xy == 0:
        return 0
    bmaj, bmin = options["beam_fwhm_px"]
    return beam_kernel(f_xy * bmaj, f_xy * bmin, options["beam_pa_deg"]).shape[0] // 2


def _state(work: str, shape, mode: str = "r+") -> np.memmap:
    """The per-voxel state (mapped afresh for every tile: its pages count in the process's
    resident memory until the mapping is closed)."""
    return np.memmap(os.path.join(work, "state.u8"), dtype=np.uint8, mode=mode, shape=shape)


def _smoothed_cache(work: str, shape, mode: str = "r+") -> np.memmap:
    """The current kernel's smoothed cube, written by pass A and read by pass B (mapped afresh
    for every tile, as :func:`_state`)."""
    return np.memmap(os.path.join(work, "smoothed.f32"), dtype=np.float32, mode=mode, shape=shape)


def _core(box) -> tuple[slice, slice, slice]:
    """The core of a tile within its read region."""
    core_y, core_x, read_y, read_x = box
    return (slice(None), slice(core_y.start - read_y.start, core_y.stop - read_y.start),
            slice(core_x.start - read_x.start, core_x.stop - read_x.start))


class _Positive:
    """The positive detections of the state file, read on demand (picklable, for dask)."""

    def __init__(self, work: str, shape):
        self.work, self.shape, self.ndim, self.dtype = work, tuple(shape), 3, np.dtype(bool)

    def __getitem__(self, key) -> np.ndarray:
        return (_state(self.work, self.shape, "r")[key] & _POSITIVE) > 0


# --------------------------------------------------------------------------- passes (workers)

def _smoothed(data, gain, work, options, step, box):
    """A tile's core smoothed by the kernel of ``step`` (after the replacement), and where its
    input is measured (not 0)."""
    from scipy import ndimage

    from galcube_lib.denoise import flat_input
    from galcube_lib.denoise.gaussian import beam_kernel, smooth_spatial

    read = (slice(None), box[2], box[3])
    flat = flat_input(data[read], None if gain is None else gain[read])[0]
    values = flat
    if options["replace"] is not None and (step.f_xy > 0 or step.width > 1):
        first = _state(work, data.shape, "r")[read] & _FIRST
        detected = (first > 0) & (first <= step.index)
        if detected.any():
            values = flat.copy()
            values[detected] = (np.sign(flat[detected])
                                * np.float32(options["replace"] * step.sigma0))
    if step.f_xy > 0:
        bmaj, bmin = options["beam_fwhm_px"]
        values = smooth_spatial(values, beam_kernel(step.f_xy * bmaj, step.f_xy * bmin,
                                                    options["beam_pa_deg"]))
    if step.width > 1:
        values = ndimage.uniform_filter1d(values, step.width, axis=0, mode="constant", cval=0.0)
    core = _core(box)
    return values[core], flat[core] != 0


def _noise_parts(data, gain, work, options, step, stride, layout, indices) -> list:
    """Per tile, what the noise statistic needs of its smoothed measured voxels: (sum of
    squares, count) of the negative ones ("negative"), or every ``stride``-th value ("mad")."""
    parts = []
    for i in indices:
        values, measured = _smoothed(data, gain, work, options, step, layout[i])
        if step.f_xy > 0 or step.width > 1:     # kept for pass B
            _smoothed_cache(work, data.shape)[(slice(None), *layout[i][:2])] = values
        x = values[measured]
        if options["noise_statistic"] == "negative":
            neg = x[x < 0].astype(np.float64)
            parts.append(np.array([np.sum(neg * neg), neg.size]))
        else:
            parts.append(x[::stride])
    return parts


def _sigma(parts: list, statistic: str) -> float:
    """The noise from the parts of every tile (:func:`_noise_parts`)."""
    from galcube_lib.noise.level import sigma_by

    if statistic == "mad":
        return sigma_by(np.concatenate(parts), "mad")
    total, count = np.sum(parts, axis=0)
    return math.sqrt(total / count) if count else math.nan


def _detect_tiles(data, gain, work, options, step, limit, layout, indices) -> list[int]:
    """Record the detections of the kernel of ``step`` (beyond +-``limit``) in the cores."""
    for i in indices:
        core = (slice(None), layout[i][0], layout[i][1])
        if step.f_xy > 0 or step.width > 1:     # smoothed by pass A
            values = np.array(_smoothed_cache(work, data.shape, "r")[core])
        else:
            values = _smoothed(data, gain, work, options, step, layout[i])[0]
        positive = values > limit
        state = np.array(_state(work, data.shape, "r")[core])
        state[(positive | (values < -limit)) & ((state & _FIRST) == 0)] |= np.uint8(step.index + 1)
        state[positive] |= _POSITIVE
        _state(work, data.shape)[core] = state
    return list(indices)


def _label_sizes(labels: str, n: int, layout, indices) -> np.ndarray:
    """The voxels of each label 0..n in the cores of the tiles ``indices``."""
    import zarr

    array = zarr.open_array(labels, mode="r")
    return sum(np.bincount(array[:, y, x].ravel(), minlength=n + 1) for y, x, _, _ in
               (layout[i] for i in indices))


def _mask_tiles(work, options, layout, indices) -> list[int]:
    """The mask of the tiles' cores: the labels kept, dilated with the tiles' halos."""
    import zarr

    from galcube_lib.denoise.smooth_clip import dilate

    keep = np.load(os.path.join(work, "keep.npy"))
    labels = zarr.open_array(os.path.join(work, "labels"), mode="r")
    mask = zarr.open_array(os.path.join(work, "mask"), mode="r+")
    for i in indices:
        kept = keep[labels[:, layout[i][2], layout[i][3]]]
        grown = dilate(kept, dilate_xy=options["dilate_xy"], dilate_v=options["dilate_v"])
        mask[:, layout[i][0], layout[i][1]] = grown[_core(layout[i])]
    return list(indices)


def _write_result(data, gain, mask, target, layout, indices) -> list[int]:
    """Data times the mask, in the cube's units with NaN where the input is blank, per tile."""
    import zarr

    from galcube_lib.denoise import flat_input

    inside = zarr.open_array(mask, mode="r")
    out = zarr.open_array(target, mode="r+")
    for y, x, _, _ in (layout[i] for i in indices):
        box = (slice(None), y, x)
        flat, finite, g = flat_input(data[box], None if gain is None else gain[box])
        kept = np.where(inside[box], flat, np.float32(0.0))
        out[box] = np.where(finite, kept / g, np.float32(np.nan))
    return list(indices)


# --------------------------------------------------------------------------- the run

def _label(work: str, shape, tile: int) -> int:
    """Label the positive detections across tiles into the zarr array ``labels``; their number."""
    import dask
    import dask.array as da
    import zarr
    from dask_image.ndmeasure import label

    chunks = (shape[0], tile, tile)
    positive = da.from_array(_Positive(work, shape), chunks=chunks, asarray=False,
                             meta=np.zeros((0, 0, 0), bool))
    labels, n = label(positive, structure=np.ones((3, 3, 3), dtype=bool))
    target = zarr.create_array(os.path.join(work, "labels"), shape=shape, dtype=labels.dtype,
                               chunks=chunks, fill_value=0, overwrite=True)
    return int(dask.compute(da.store(labels, target, lock=False, compute=False), n)[1])


def _detections(cube, work: str, options: dict, tile: int, run, state: dict, save) -> None:
    """The stages "new" (the noise of the unsmoothed cube) and, per kernel, "noise" (pass A)
    and "detect" (pass B)."""
    kernels = _kernels(options)
    args = (cube.data, cube.gain, work, options)
    stride = max(1, math.ceil(math.prod(cube.shape) / MAD_SAMPLES))
    if state["stage"] == "new":
        _state(work, cube.shape, "w+").flush()
        _smoothed_cache(work, cube.shape, "w+").flush()
        layout = blockwise.tiles(cube.shape, tile, 0)
        parts = run(_noise_parts, (*args, _Step(0, 0.0, 0, math.nan), stride, layout),
                    range(len(layout)))
        save(stage="noise", kernel=0,
             sigma0=_sigma([p for batch in parts for p in batch], options["noise_statistic"]))
    while state["stage"] in ("noise", "detect"):
        step = _Step(state["kernel"], *kernels[state["kernel"]], state["sigma0"])
        layout = blockwise.tiles(cube.shape, tile, _reach(options, step.f_xy))
        if state["stage"] == "noise":
            sigma = state["sigma0"]
            if (step.f_xy, step.width) != (0.0, 0):
                parts = run(_noise_parts, (*args, step, stride, layout), range(len(layout)))
                sigma = _sigma([p for batch in parts for p in batch], options["noise_statistic"])
            save(stage="detect", sigma=sigma)
        if math.isfinite(state["sigma"]) and state["sigma"] > 0:
            run(_detect_tiles, (*args, step, options["n_sigma"] * state["sigma"], layout),
                range(len(layout)))
        last = step.index + 1 == len(kernels)
        save(stage="label" if last else "noise", kernel=step.index + 1)


def mask_in_passes(cube, work, options: dict, *, tile: int, run, progress: bool = True) -> str:
    """The smooth-and-clip mask of ``cube`` in passes, into the zarr array ``work``/mask.

    Parameters
    ----------
    cube : Cube
        The cube (lazy or in memory); masked in flat-noise units (data x gain, blanks 0), as
        ``gl.denoise(cube, "smooth_clip")`` does.
    work : str or os.PathLike
        The work folder (made by the caller); a ``state.json`` there resumes a killed run.
    options : dict
        :func:`checked` options.
    tile : int
        Side of the spatial tiles (and of the mask's chunks), in pixels.
    run : callable
        ``run(func, args, items)`` -> list of results: runs ``func(*args, batch)`` over batches
        of ``items`` (in this process or on a cluster).
    progress : bool
        Show a progress bar of the stages.

    Returns
    -------
    str
        The path of the boolean (v, y, x) zarr array, chunked (v, tile, tile).
    """
    import zarr
    from tqdm.auto import tqdm

    work = os.fspath(work)
    path = os.path.join(work, "state.json")
    state = json.loads(Path(path).read_text()) if os.path.exists(path) else {"stage": "new"}
    n_kernels = len(_kernels(options))
    bar = tqdm(total=3 + 2 * n_kernels, desc="smooth_clip passes", disable=not progress)

    def save(**changes):
        state.update(changes)
        write_text(path, json.dumps(state))
        bar.update(1)

    bar.update({"new": 0, "noise": 1, "detect": 2, "label": 1, "mask": 2, "done": 3}[state["stage"]]
               + 2 * state.get("kernel", 0))
    _detections(cube, work, options, tile, run, state, save)
    if state["stage"] == "label":
        n = _label(work, cube.shape, tile)
        cores = blockwise.tiles(cube.shape, tile, 0)
        sizes = sum(run(_label_sizes, (os.path.join(work, "labels"), n, cores), range(len(cores))))
        keep = sizes >= options["min_size"]
        keep[0] = False
        np.save(os.path.join(work, "keep.npy"), keep)
        save(stage="mask")
    if state["stage"] == "mask":
        zarr.create_array(os.path.join(work, "mask"), shape=cube.shape, dtype=bool,
                          chunks=(cube.shape[0], tile, tile), fill_value=False, overwrite=True)
        layout = blockwise.tiles(cube.shape, tile, options["dilate_xy"])
        run(_mask_tiles, (work, options, layout), range(len(layout)))
        os.remove(os.path.join(work, "state.u8"))
        os.remove(os.path.join(work, "smoothed.f32"))
        shutil.rmtree(os.path.join(work, "labels"))
        save(stage="done")
    bar.close()
    return os.path.join(work, "mask")


def smooth_clip_mask_blocks(cube, out, *, options: dict | None = None, tile_px: int | None = None,
                            workers: int = 1, client=None, progress: bool = True):
    """The smooth-and-clip mask of a cube of any size, written to a zarr store and read lazily.

    The mask of :func:`~galcube_lib.denoise.smooth_clip.smooth_clip_mask` on the cube in
    flat-noise units (data x gain, blanks 0), computed in passes over tiles
    (:func:`mask_in_passes`) in a work folder ``.<out name>.partial`` beside ``out``. Run again
    with the same arguments after an interruption, it resumes at the stage it was in; when done,
    the mask replaces ``out`` atomically.

    Parameters
    ----------
    cube : Cube
        The cube, lazy or in memory.
    out : str or os.PathLike
        The zarr store of the mask (a boolean array).
    options : dict, optional
        Options of :func:`~galcube_lib.denoise.smooth_clip.smooth_clip_mask` (the beam comes
        from the cube).
    tile_px : int, optional
        Side of the tiles in pixels, >= 16; default :func:`tile_for`.
    workers : int
        Processes of a dask LocalCluster to run the tiles on (default 1: this process).
    client : dask.distributed.Client, optional
        A cluster to run them on instead (its workers must see the input file and ``out``).
    progress : bool
        Show a progress bar of the stages.

    Returns
    -------
    dask.array.Array
        The boolean (v, y, x) mask, read from ``out``.

    Raises
    ------
    ValueError
        An unknown option or one out of range, or a work folder left by a run with other
        arguments.
    """
    import dask.array as da

    from galcube_lib._util.parallel import check_workers, cluster
    from galcube_lib.denoise import describe_option, method_context, method_function
    from galcube_lib.io import lazy
    from galcube_lib.io.cube import check_cube

    check_cube("cube", cube)
    out = as_path("out", out)
    options = dict(options or {})
    workers = check_workers(workers, client)
    progress = check.boolean("progress", progress)
    kwargs = checked(cube, {**method_context(cube, "smooth_clip", method_function("smooth_clip"),
                                             options), **options})
    tile = tile_for(cube.shape, kwargs) if tile_px is None else check.integer("tile_px", tile_px, 16)
    work = out.parent / f".{out.name}.partial"
    job = json.loads(json.dumps({
        "method": "smooth_clip_mask", "options": {k: describe_option(v) for k, v in kwargs.items()},
        "shape": cube.shape, "tile": tile, "input": lazy.token(cube)}))
    blockwise._open_work(work, job, cube.shape, tile)
    with cluster(workers, client) as on:
        mask = mask_in_passes(cube, work, kwargs, tile=tile, run=blockwise._runner(on),
                              progress=progress)
    with atomic_folder(out) as tmp:
        tmp.rmdir()
        os.replace(mask, tmp)
    shutil.rmtree(work)
    return da.from_zarr(str(out))


# --------------------------------------------------------------------------- the protocol

def checked(cube, kwargs: dict, *, method: str = "smooth_clip") -> dict:
    """Every option of smooth_clip for a run in passes, checked, with ``min_size`` resolved.

    Parameters
    ----------
    cube : Cube
        The cube.
    kwargs : dict
        The options given, with the context from the cube (``beam_fwhm_px``, ``beam_pa_deg``).
    method : str
        "smooth_clip" (the protocol of ``blockwise.PASS_METHODS`` names it).

    Returns
    -------
    dict
        Every parameter of :func:`~galcube_lib.denoise.smooth_clip.smooth_clip_mask` but
        ``data``: the beam as (bmaj, bmin), the kernel lists sorted without repeats (boxcar
        widths 0 and 1 both 0), ``min_size`` None replaced by twice the beam area in pixels.

    Raises
    ------
    TypeError, ValueError
        An option of the wrong type or range, naming it; more than 127 kernel pairs.
    """
    import inspect

    from galcube_lib._util.conventions import beam_area
    from galcube_lib.denoise.smooth_clip import NOISE_STATISTICS, _kernel_list, smooth_clip_mask

    params = inspect.signature(smooth_clip_mask).parameters
    given = {**{k: p.default for k, p in params.items() if k != "data"}, **kwargs}
    beam = check.beam_fwhm("beam_fwhm_px", given["beam_fwhm_px"])
    options = {
        "beam_fwhm_px": beam, "beam_pa_deg": check.number("beam_pa_deg", given["beam_pa_deg"]),
        "spatial_kernels_beams": _kernel_list("spatial_kernels_beams",
                                              given["spatial_kernels_beams"], integer=False),
        "spectral_kernels_channels": _kernel_list("spectral_kernels_channels",
                                                  given["spectral_kernels_channels"], integer=True),
        "n_sigma": check.number("n_sigma", given["n_sigma"], 0.0, None, lo_open=True),
        "noise_statistic": check.choice("noise_statistic", given["noise_statistic"],
                                        NOISE_STATISTICS),
        "replace": (None if given["replace"] is None
                    else check.number("replace", given["replace"], 0.0, None)),
        "dilate_xy": check.integer("dilate_xy", given["dilate_xy"], 0, None),
        "dilate_v": check.integer("dilate_v", given["dilate_v"], 0, None),
        "min_size": (math.ceil(2 * beam_area(*beam)) if given["min_size"] is None
                     else check.integer("min_size", given["min_size"], 0, None))}
    if len(_kernels(options)) > _FIRST:
        raise ValueError(f"{len(_kernels(options))} pairs of spatial and spectral kernels: at most "
                         f"{int(_FIRST)} run in passes")
    return options


def tile_for(shape, options: dict) -> int:
    """The side of the tiles: a tile with the halo of the widest spatial kernel takes about
    ``blockwise.TILE_BYTES`` while it is smoothed; a multiple of 16 px, at least 32 and that
    halo, at most the cube's larger side.

    Parameters
    ----------
    shape : tuple of int
        (v, y, x).
    options : dict
        :func:`checked` options.

    Returns
    -------
    int
        The side in pixels.
    """
    halo = _reach(options, max(options["spatial_kernels_beams"]))
    side = math.sqrt(blockwise.TILE_BYTES / (BYTES_PER_VOXEL * shape[0])) - 2 * halo
    return int(min(max(shape[1:]), max(32, halo, 16 * math.floor(side / 16))))


def denoise_in_passes(cube, work, options: dict, *, method: str = "smooth_clip", tile: int, run,
                      progress: bool) -> None:
    """smooth_clip in passes: data times the mask, written tile by tile to the zarr array
    ``work``/data in the cube's units with NaN where the input is blank.

    Parameters
    ----------
    cube : Cube
        The cube.
    work : pathlib.Path
        The work folder, holding the zarr array "data" (chunked by ``tile``).
    options : dict
        :func:`checked` options.
    method : str
        "smooth_clip".
    tile : int
        Side of the tiles.
    run : callable
        As for :func:`mask_in_passes`.
    progress : bool
        Show a progress bar.

    Returns
    -------
    None
    """
    mask = mask_in_passes(cube, work, options, tile=tile, run=run, progress=progress)
    layout = blockwise.tiles(cube.shape, tile, 0)
    run(_write_result, (cube.data, cube.gain, mask, os.path.join(work, "data"), layout),
        range(len(layout)))
