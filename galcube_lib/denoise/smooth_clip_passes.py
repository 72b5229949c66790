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
  in the cube, every n-th beyond). It keeps the core's candidates, the voxels beyond
  ``CANDIDATE_FRACTION`` of the threshold its own noise would give, in a small file; pass B
  thresholds them at the whole cube's noise (a tile whose candidates do not reach down to that
  threshold, where the noise is far from even, is smoothed again);
- the positive detections are labelled per tile (``scipy.ndimage.label``, 26-connected) and the
  labels joined where they touch across a tile border, found by labelling the two-pixel strips
  along each border; the groups of fewer than ``min_size`` voxels are dropped, and the rest
  dilated tile by tile with a halo of ``dilate_xy``.

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

#: pass A keeps the voxels of a core beyond this fraction of the threshold of the core's own noise
#: (Gaussian noise: about 0.3 % of the voxels at the default 5 sigma)
CANDIDATE_FRACTION = 0.6

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


def _candidates_path(work: str, i: int) -> str:
    """The file of tile ``i``'s candidates for the current kernel (pass A writes, pass B reads)."""
    return os.path.join(work, "candidates", f"{i}.npz")


def _core(box) -> tuple[slice, slice, slice]:
    """The core of a tile within its read region."""
    core_y, core_x, read_y, read_x = box
    return (slice(None), slice(core_y.start - read_y.start, core_y.stop - read_y.start),
            slice(core_x.start - read_x.start, core_x.stop - read_x.start))


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
    squares, count) of the negative ones ("negative"), or every ``stride``-th value ("mad").
    A smoothed core's candidates go to its file (:func:`_candidates_path`) for pass B."""
    parts = []
    for i in indices:
        values, measured = _smoothed(data, gain, work, options, step, layout[i])
        x = values[measured]
        neg = x[x < 0].astype(np.float64)
        squares = np.sum(neg * neg)
        if step.f_xy > 0 or step.width > 1:
            # no noise of its own (a blank core): no candidates, pass B smooths it again
            floor = (CANDIDATE_FRACTION * options["n_sigma"] * math.sqrt(squares / neg.size)
                     if neg.size else math.inf)
            where = np.flatnonzero(np.abs(values) > floor)
            np.savez(_candidates_path(work, i), kernel=step.index, floor=floor,
                     where=where.astype(np.int64), values=values.ravel()[where])
        if options["noise_statistic"] == "negative":
            parts.append(np.array([squares, neg.size]))
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


def _core_values(data, gain, work, options, step, limit, box, i):
    """Where the smoothed core of tile ``i`` lies beyond +-``limit``: (positive, negative)
    flat indices into the core, from pass A's candidates or, where they do not reach down to
    ``limit`` (or the step smooths nothing), from the tile smoothed again."""
    if step.f_xy > 0 or step.width > 1:
        path = _candidates_path(work, i)
        if os.path.exists(path):
            with np.load(path) as kept:
                if int(kept["kernel"]) == step.index and float(kept["floor"]) <= limit:
                    where, values = kept["where"], kept["values"]
                    return where[values > limit], where[values < -limit]
    values = _smoothed(data, gain, work, options, step, box)[0].ravel()
    return np.flatnonzero(values > limit), np.flatnonzero(values < -limit)


def _detect_tiles(data, gain, work, options, step, limit, layout, indices) -> list[int]:
    """Record the detections of the kernel of ``step`` (beyond +-``limit``) in the cores."""
    for i in indices:
        positive, negative = _core_values(data, gain, work, options, step, limit, layout[i], i)
        if positive.size == 0 and negative.size == 0:
            continue
        core = (slice(None), layout[i][0], layout[i][1])
        state = np.array(_state(work, data.shape, "r")[core])
        flat = state.reshape(-1)
        for where in (positive, negative):
            new = where[(flat[where] & _FIRST) == 0]
            flat[new] |= np.uint8(step.index + 1)
        flat[positive] |= _POSITIVE
        _state(work, data.shape)[core] = state
    return list(indices)


def _label_tiles(work: str, shape, cores, indices) -> list:
    """Label the positive detections in the cores of the tiles ``indices`` (26-connected,
    numbered from 1 in each core) into the zarr array ``labels``; per tile, its index, the
    voxels of each label 0..n and the labels on the core's four sides (first and last row,
    first and last column)."""
    import zarr
    from scipy import ndimage

    store = zarr.open_array(os.path.join(work, "labels"), mode="r+")
    found = []
    for i in indices:
        core = (slice(None), cores[i][0], cores[i][1])
        positive = (np.array(_state(work, shape, "r")[core]) & _POSITIVE) > 0
        labels, n = ndimage.label(positive, structure=np.ones((3, 3, 3), dtype=bool))
        if n:
            store[core] = labels
        found.append((i, np.bincount(labels.ravel(), minlength=n + 1),
                      tuple(side.copy() for side in (labels[:, 0], labels[:, -1],
                                                     labels[:, :, 0], labels[:, :, -1]))))
    return found


def _border_pairs(strip: np.ndarray) -> np.ndarray:
    """(2, n) pairs of labels in one 26-connected group of a two-pixel strip across a border."""
    from scipy import ndimage

    groups, _ = ndimage.label(strip > 0, structure=np.ones((3, 3, 3), dtype=bool))
    inside = groups > 0
    ids, group = strip[inside], groups[inside]
    first = np.zeros(group.max(initial=0) + 1, dtype=ids.dtype)
    first[group[::-1]] = ids[::-1]            # the first label met in each group
    return np.stack([ids, first[group]])


def _joined_labels(shape, tile: int, found: list, min_size: int):
    """The global number of each tile's labels and which to keep: (offsets, keep), with
    global id ``offsets[i] + k`` for label k > 0 of tile i and ``keep`` indexed by global id
    (0: background). Labels touching across a tile border are one group; a group is kept when
    its voxels over all its tiles are at least ``min_size``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nv, ny, nx = shape
    cols = math.ceil(nx / tile)
    found = sorted(found, key=lambda f: f[0])
    counts = [len(sizes) - 1 for _, sizes, _ in found]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    sides = [[np.where(s > 0, s + offsets[i], 0) for s in f[2]] for i, f in enumerate(found)]
    pairs = []
    for c in range(1, cols):                      # the borders between columns of tiles
        strip = np.zeros((nv, ny, 2), np.int64)
        for r in range(math.ceil(ny / tile)):
            y = slice(r * tile, min(ny, (r + 1) * tile))
            strip[:, y, 0], strip[:, y, 1] = sides[r * cols + c - 1][3], sides[r * cols + c][2]
        pairs.append(_border_pairs(strip))
    for r in range(1, math.ceil(ny / tile)):      # the borders between rows of tiles
        strip = np.zeros((nv, 2, nx), np.int64)
        for c in range(cols):
            x = slice(c * tile, min(nx, (c + 1) * tile))
            strip[:, 0, x], strip[:, 1, x] = sides[(r - 1) * cols + c][1], sides[r * cols + c][0]
        pairs.append(_border_pairs(strip))
    edges = np.concatenate(pairs, axis=1) if pairs else np.zeros((2, 0), np.int64)
    total = int(offsets[-1]) + 1
    graph = coo_matrix((np.ones(edges.shape[1]), (edges[0], edges[1])), shape=(total, total))
    group = connected_components(graph, directed=False)[1]
    sizes = np.concatenate([[0]] + [s[1:] for _, s, _ in found])
    keep = np.bincount(group, weights=sizes)[group] >= min_size
    keep[0] = False
    return offsets[:-1], keep


def _kept(labels, offsets, keep, shape, tile: int, read_y: slice, read_x: slice) -> np.ndarray:
    """The kept labels' voxels in a region, read from the tiles' labels it overlaps
    (:func:`_joined_labels`' ``offsets`` and ``keep``)."""
    cols = math.ceil(shape[2] / tile)
    out = np.zeros((shape[0], read_y.stop - read_y.start, read_x.stop - read_x.start), bool)
    for y0 in range(read_y.start // tile * tile, read_y.stop, tile):
        for x0 in range(read_x.start // tile * tile, read_x.stop, tile):
            y = slice(max(y0, read_y.start), min(y0 + tile, read_y.stop))
            x = slice(max(x0, read_x.start), min(x0 + tile, read_x.stop))
            local = labels[:, y, x]
            ids = np.where(local > 0, local + offsets[(y0 // tile) * cols + x0 // tile], 0)
            out[:, y.start - read_y.start:y.stop - read_y.start,
                x.start - read_x.start:x.stop - read_x.start] = keep[ids]
    return out


def _mask_tiles(work, options, shape, tile, layout, indices) -> list[int]:
    """The mask of the tiles' cores: the labels kept, dilated with the tiles' halos."""
    import zarr

    from galcube_lib.denoise.smooth_clip import dilate

    mask = zarr.open_array(os.path.join(work, "mask"), mode="r+")
    labels = zarr.open_array(os.path.join(work, "labels"), mode="r")
    offsets = np.load(os.path.join(work, "offsets.npy"))
    keep = np.load(os.path.join(work, "keep.npy"))
    for i in indices:
        kept = _kept(labels, offsets, keep, shape, tile, layout[i][2], layout[i][3])
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

def _label(work: str, shape, tile: int, min_size: int, run) -> None:
    """Label the positive detections across tiles (zarr array ``labels``, numbered per tile)
    and write which to keep (``offsets.npy``, ``keep.npy``: :func:`_joined_labels`)."""
    import zarr

    zarr.create_array(os.path.join(work, "labels"), shape=shape, dtype=np.int32,
                      chunks=(shape[0], tile, tile), fill_value=0, overwrite=True)
    cores = blockwise.tiles(shape, tile, 0)
    found = [f for batch in run(_label_tiles, (work, shape, cores), range(len(cores)))
             for f in batch]
    offsets, keep = _joined_labels(shape, tile, found, min_size)
    np.save(os.path.join(work, "offsets.npy"), offsets)
    np.save(os.path.join(work, "keep.npy"), keep)


def _detections(cube, work: str, options: dict, tile: int, run, state: dict, save) -> None:
    """The stages "new" (the noise of the unsmoothed cube) and, per kernel, "noise" (pass A)
    and "detect" (pass B)."""
    kernels = _kernels(options)
    args = (cube.data, cube.gain, work, options)
    stride = max(1, math.ceil(math.prod(cube.shape) / MAD_SAMPLES))
    if state["stage"] == "new":
        _state(work, cube.shape, "w+").flush()
        layout = blockwise.tiles(cube.shape, tile, 0)
        parts = run(_noise_parts, (*args, _Step(0, 0.0, 0, math.nan), stride, layout),
                    range(len(layout)))
        save(stage="noise", kernel=0,
             sigma0=_sigma([p for batch in parts for p in batch], options["noise_statistic"]))
    os.makedirs(os.path.join(work, "candidates"), exist_ok=True)
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
    if state["stage"] == "mask" and not os.path.exists(os.path.join(work, "offsets.npy")):
        state["stage"] = "label"        # left by a version that numbered labels globally
    _detections(cube, work, options, tile, run, state, save)
    if state["stage"] == "label":
        _label(work, cube.shape, tile, options["min_size"], run)
        save(stage="mask")
    if state["stage"] == "mask":
        zarr.create_array(os.path.join(work, "mask"), shape=cube.shape, dtype=bool,
                          chunks=(cube.shape[0], tile, tile), fill_value=False, overwrite=True)
        layout = blockwise.tiles(cube.shape, tile, options["dilate_xy"])
        run(_mask_tiles, (work, options, cube.shape, tile, layout), range(len(layout)))
        save(stage="done")
        os.remove(os.path.join(work, "state.u8"))
        for scratch in ("labels", "candidates"):
            shutil.rmtree(os.path.join(work, scratch), ignore_errors=True)
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
