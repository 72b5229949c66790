"""IST on a cube larger than memory, in passes over the cube (docs/conventions.md, Large cubes).

The 2D-1D transform is separable: its starlet works on each channel, its spectral transform
on each spaxel's spectrum. Every step of :func:`~galcube_lib.denoise.ist.ist` (hard mode) is
therefore done in passes that each hold only a part of the cube: the starlet analysis and
synthesis over slabs of channels, the spectral transform, the thresholds and the support over
tiles of spaxels with whole spectra. The input, the estimates and the starlet planes live in
uncompressed zarr arrays on disk, chunked by slabs and tiles, so that every pass reads and
writes whole chunks (the operating system's page cache keeps them in memory when it can). No halo is needed, and every
voxel goes through the same arithmetic as in the whole-cube function, so the result is the
same to the bit (for the same noise sigmas and number of iterations: the sigmas come from all
coefficients up to about 4 million per band, and from every n-th beyond).

A work folder holds the scratch files and ``state.json``, rewritten atomically after each
stage; a killed run starts again at the beginning of the stage it was in.
"""
from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np

from galcube_lib.io.files import write_text

#: bytes a slab of channels or a tile of spaxels may take while it is transformed
PASS_BYTES = 5.0e8

#: coefficients per band from which the noise sigmas are measured; every n-th beyond
SIGMA_SAMPLES = 2 ** 22


class Layout:
    """Where the scratch arrays of one run are, and how the cube is cut for each pass.

    Parameters
    ----------
    work : str or os.PathLike
        The work folder.
    shape : tuple of int
        (v, y, x) of the cube.
    n_scales_xy : int
        Spatial starlet scales J: the starlet planes are (J + 1, v, y, x).
    tile : int
        Side of the spaxel tiles, in pixels.
    """

    def __init__(self, work, shape, n_scales_xy: int, tile: int):
        self.work, self.shape = os.fspath(work), tuple(shape)
        self.n_planes, self.tile = n_scales_xy + 1, tile
        nv, ny, nx = self.shape
        per_channel = 4 * ny * nx * (2 * self.n_planes + 4)
        self.slab = max(1, min(nv, int(PASS_BYTES // per_channel)))
        self.slabs = [slice(k, min(nv, k + self.slab)) for k in range(0, nv, self.slab)]
        self.tiles = [(slice(y0, min(ny, y0 + tile)), slice(x0, min(nx, x0 + tile)))
                      for y0 in range(0, ny, tile) for x0 in range(0, nx, tile)]

    def array(self, name: str, mode: str = "r+"):
        """A scratch array: an uncompressed zarr array, chunked by the slabs and the tiles
        (each pass reads and writes whole chunks, and no mapping of the file counts in the
        process's memory).

        Parameters
        ----------
        name : {"y", "x0", "x1", "planes"}
            The input (flat-noise units, blanks 0), the two estimates, the starlet planes.
        mode : str
            zarr's mode ("r+" by default, "r").

        Returns
        -------
        zarr.Array
            float32, (v, y, x) or (J + 1, v, y, x) for "planes".
        """
        import zarr

        return zarr.open_array(os.path.join(self.work, name), mode=mode)

    def create(self) -> None:
        """Make the scratch arrays (empty: chunks are written as the passes go)."""
        import zarr

        chunks = (self.slab, self.tile, self.tile)
        for name in ("y", "x0", "x1", "planes"):
            planes = (self.n_planes,) if name == "planes" else ()
            zarr.create_array(os.path.join(self.work, name), shape=planes + self.shape,
                              chunks=planes + chunks, dtype=np.float32, fill_value=0.0,
                              compressors=None, overwrite=True)
        os.makedirs(os.path.join(self.work, "support"), exist_ok=True)


def default_tile(nv: int, n_scales_xy: int) -> int:
    """The side of the spaxel tiles: about ``PASS_BYTES`` while a tile is transformed (its
    starlet planes and their spectral coefficients, twice for the CDF 9/7 pair), a multiple of
    16 px, at least 16.

    Parameters
    ----------
    nv : int
        Channels.
    n_scales_xy : int
        Spatial starlet scales.

    Returns
    -------
    int
        The side in pixels.
    """
    per_px = 4 * nv * (n_scales_xy + 1) * 8
    return max(16, 16 * int(math.sqrt(PASS_BYTES / per_px) // 16))


# --------------------------------------------------------------------------- passes (workers)

def _input(layout, data, gain, indices):
    """Slabs of the input in flat-noise units with blanks 0 -> "y"; the pixels not 0 in some
    channel of each slab."""
    from galcube_lib.denoise import flat_input

    seen = np.zeros(layout.shape[1:], bool)
    for k in indices:
        box = layout.slabs[k]
        values = flat_input(data[box], None if gain is None else gain[box])[0]
        layout.array("y")[box] = values
        seen |= np.any(values != 0, axis=0)
    return seen


def _analysis(layout, n_scales_xy, x_name, indices):
    """Starlet planes of the residual y - x (of y when ``x_name`` is None), slab by slab."""
    from galcube_lib.denoise.wavelets import starlet2d

    for k in indices:
        box = layout.slabs[k]
        residual = layout.array("y", "r")[box]
        if x_name is not None:
            residual -= layout.array(x_name, "r")[box]
        layout.array("planes")[:, box] = starlet2d(residual, n_scales_xy)
    return list(indices)


def _spectral(layout, n_scales_v, spectral, box):
    from galcube_lib.denoise.wavelets import spectral_forward

    planes = layout.array("planes", "r")[:, :, box[0], box[1]]
    return spectral_forward(planes, n_scales_v, spectral)


def _samples(layout, n_scales_v, spectral, valid, stride, indices):
    """The coefficients of every band on valid pixels, every ``stride``-th, tile by tile."""
    from galcube_lib.denoise.ist import band_samples

    parts = [band_samples(_spectral(layout, n_scales_v, spectral, layout.tiles[i]),
                          valid[layout.tiles[i]], stride)
             for i in indices if valid[layout.tiles[i]].any()]
    return [np.concatenate(band, axis=1) for band in zip(*parts)] if parts else None


def _support(layout, n_scales_v, spectral, lam, options, indices):
    """The support of each tile (saved as bits), and the planes of the thresholded coefficients."""
    from galcube_lib.denoise.ist import supports
    from galcube_lib.denoise.wavelets import spectral_inverse

    for i in indices:
        box = layout.tiles[i]
        bands = _spectral(layout, n_scales_v, spectral, box)
        support = supports(bands.blocks, lam, options)[1]
        np.save(os.path.join(layout.work, "support", f"{i}.npy"),
                np.packbits(np.concatenate([m.ravel() for m in support])))
        kept = [b * m for b, m in zip(bands.blocks, support)]
        layout.array("planes")[:, :, box[0], box[1]] = spectral_inverse(bands.replace(kept))
    return list(indices)


def _project(layout, n_scales_v, spectral, indices):
    """The planes of the residual's coefficients on the support, tile by tile."""
    from galcube_lib.denoise.wavelets import spectral_inverse

    for i in indices:
        box = layout.tiles[i]
        bands = _spectral(layout, n_scales_v, spectral, box)
        bits = np.load(os.path.join(layout.work, "support", f"{i}.npy"))
        mask = np.unpackbits(bits, count=sum(b.size for b in bands.blocks)).astype(bool)
        start = 0
        for block in bands.blocks:
            block *= mask[start:start + block.size].reshape(block.shape)
            start += block.size
        layout.array("planes")[:, :, box[0], box[1]] = spectral_inverse(bands)
    return list(indices)


def write_result(layout, x_name, data, gain, target, indices):
    """Write tiles of the result in the cube's units, NaN where the input is blank.

    Parameters
    ----------
    layout : Layout
        The run's layout.
    x_name : str
        The scratch array holding the result (:func:`ist_in_passes`).
    data, gain : array_like or dask.array.Array
        The cube's data and gain (None).
    target : str
        A zarr array of the cube's shape, chunked by the layout's tiles (each tile writes its
        own chunks).
    indices : sequence of int
        The tiles.

    Returns
    -------
    list of int
        ``indices``.
    """
    import zarr

    from galcube_lib.denoise import flat_input

    out = zarr.open_array(target, mode="r+")
    for i in indices:
        box = (slice(None), *layout.tiles[i])
        _, finite, g = flat_input(data[box], None if gain is None else gain[box])
        out[box] = np.where(finite, layout.array(x_name, "r")[box] / g, np.float32(np.nan))
    return list(indices)


def _synthesis(layout, x_in, x_out, positivity, indices):
    """x_out = x_in + the starlet synthesis of the planes (projected on x >= 0 with
    ``positivity``), slab by slab; the sum of (y - x_out)^2 over the slabs."""
    from galcube_lib.denoise.wavelets import istarlet2d

    total = 0.0
    for k in indices:
        box = layout.slabs[k]
        x = istarlet2d(layout.array("planes", "r")[:, box])
        if x_in is not None:
            x = layout.array(x_in, "r")[box] + x
        if positivity:
            np.maximum(x, 0, out=x)
        layout.array(x_out)[box] = x
        total += float(np.sum((layout.array("y", "r")[box] - x).astype(np.float64) ** 2))
    return total


# --------------------------------------------------------------------------- the run

def ist_in_passes(cube, work, options: dict, *, tile: int, run, progress: bool = True) -> str:
    """Denoise ``cube`` with IST (hard mode) in passes; the result is the scratch array it
    names, in flat-noise units with blanks 0 (``Layout(work, ...).array(name)``).

    Parameters
    ----------
    cube : Cube
        The cube (lazy or in memory).
    work : pathlib.Path
        The work folder (made by the caller); a ``state.json`` there resumes a killed run.
    options : dict
        :func:`~galcube_lib.denoise.ist.checked_options` of the cube; ``mode`` "hard" without
        ``debias`` (not checked here).
    tile : int
        Side of the spaxel tiles.
    run : callable
        ``run(func, args, items)`` -> list of results, in any order: runs
        ``func(*args, batch)`` over batches of ``items`` (in this process or on a cluster).
    progress : bool
        Show a progress bar of the passes.

    Returns
    -------
    str
        "x0" or "x1", the scratch array that holds the result.
    """
    from tqdm.auto import tqdm

    from galcube_lib.denoise.ist import sigmas_of, thresholds

    layout = Layout(work, cube.shape, options["n_scales_xy"], tile)
    state_path = os.path.join(work, "state.json")
    state = json.loads(open(state_path).read()) if os.path.exists(state_path) else {"stage": "new"}
    if not os.path.isdir(os.path.join(work, "y")):    # none yet, or memory maps of a version
        state = {"stage": "new"}                      # before the zarr scratch arrays

    def save(**changes):
        state.update(changes)
        write_text(state_path, json.dumps(state))

    v_scales, spectral = options["n_scales_v"], options["spectral"]
    slabs, tiles = range(len(layout.slabs)), range(len(layout.tiles))
    bar = tqdm(total=4 + 3 * options["n_iter"], desc="ist passes", disable=not progress)
    if state["stage"] == "new":
        layout.create()
        valid = np.zeros(cube.shape[1:], bool)
        for seen in run(_input, (layout, cube.data, cube.gain), slabs):
            valid |= seen
        if not valid.any():
            valid[:] = True
        np.save(os.path.join(work, "valid.npy"), valid)
        save(stage="input")
    bar.update(1)
    if state["stage"] == "input":
        valid = np.load(os.path.join(work, "valid.npy"))
        run(_analysis, (layout, options["n_scales_xy"], None), slabs)
        stride = max(1, math.ceil(2 * math.prod(cube.shape) / SIGMA_SAMPLES))
        parts = [p for p in run(_samples, (layout, v_scales, spectral, valid, stride), tiles)
                 if p is not None]
        samples = [np.concatenate(band, axis=1) for band in zip(*parts)]
        sigmas = sigmas_of(samples, robust=True)
        bar.update(2)
        lam = thresholds(sigmas, options)
        run(_support, (layout, v_scales, spectral, lam, options), tiles)
        norm = math.sqrt(sum(run(_synthesis, (layout, None, "x0", options["positivity"]), slabs)))
        save(stage="iteration", completed=0, x="x0", previous=norm,
             sigmas=[s.ravel().tolist() for s in sigmas])
    else:
        bar.update(2)
    bar.update(1 + 3 * state["completed"])
    for i in range(state["completed"], options["n_iter"]):
        if state.get("converged"):
            break
        x_in = state["x"]
        x_out = "x1" if x_in == "x0" else "x0"
        run(_analysis, (layout, options["n_scales_xy"], x_in), slabs)
        run(_project, (layout, v_scales, spectral), tiles)
        norm = math.sqrt(sum(run(_synthesis, (layout, x_in, x_out, options["positivity"]),
                                 slabs)))
        bar.update(3)
        previous = state["previous"]
        converged = previous > 0 and abs(previous - norm) <= options["tol"] * previous
        save(completed=i + 1, x=x_out, previous=norm, converged=converged)
    bar.close()
    return state["x"]


# --------------------------------------------------------------------------- the protocol

def checked(cube, kwargs: dict, *, method: str = "ist") -> dict:
    """Every option of IST for a run in passes, checked, with the whole cube's scales.

    Parameters
    ----------
    cube : Cube
        The cube.
    kwargs : dict
        The options given, with the context from the cube.
    method : str
        "ist" (the protocol of ``blockwise.PASS_METHODS`` names it).

    Returns
    -------
    dict
        Every parameter of :func:`~galcube_lib.denoise.ist.ist` but ``data`` and ``noise``.

    Raises
    ------
    ValueError
        A noise cube, or a mode other than hard without debias.
    """
    import inspect

    from galcube_lib.denoise.ist import checked_options, ist

    if kwargs.get("noise") is not None:
        raise ValueError("noise= (a noise cube) is not taken for a lazy cube: IST measures the "
                         "noise of every band from the cube's own coefficients")
    params = inspect.signature(ist).parameters
    full = {k: p.default for k, p in params.items() if k not in ("data", "noise")}
    options = checked_options(cube.shape, **{**full, **kwargs})
    if options["mode"] != "hard" or options["debias"]:
        raise ValueError("IST on a lazy cube runs in hard mode without debias (mode='hard', "
                         f"debias=False), got mode={options['mode']!r}, debias={options['debias']}")
    return options


def tile_for(shape, options: dict) -> int:
    """:func:`default_tile` for a cube of ``shape`` and IST ``options``.

    Parameters
    ----------
    shape : tuple of int
        (v, y, x).
    options : dict
        :func:`checked` options.

    Returns
    -------
    int
        The side of the spaxel tiles in pixels.
    """
    return default_tile(shape[0], options["n_scales_xy"])


def denoise_in_passes(cube, work, options: dict, *, method: str = "ist", tile: int, run,
                      progress: bool) -> None:
    """IST in passes, its result written tile by tile to the zarr array ``work``/data, in the
    cube's units with NaN where the input is blank; the scratch files are removed after.

    Parameters
    ----------
    cube : Cube
        The cube.
    work : pathlib.Path
        The work folder, holding the zarr array "data" (chunked by ``tile``).
    options : dict
        :func:`checked` options.
    method : str
        "ist".
    tile : int
        Side of the spaxel tiles.
    run : callable
        As for :func:`ist_in_passes`.
    progress : bool
        Show a progress bar.

    Returns
    -------
    None
    """
    layout = Layout(work, cube.shape, options["n_scales_xy"], tile)
    result = ist_in_passes(cube, work, options, tile=tile, run=run, progress=progress)
    run(write_result, (layout, result, cube.data, cube.gain, str(work / "data")),
        range(len(layout.tiles)))
    for name in ("y", "x0", "x1", "planes"):
        shutil.rmtree(work / name, ignore_errors=True)
