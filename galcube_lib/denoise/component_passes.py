"""PCA and ICA on a cube larger than memory: a streaming fit, then a block-wise projection
(docs/conventions.md, Large cubes).

Both methods rebuild every spaxel's standardised spectrum z = (x - mean) / scale from k
components, z' = ((z - centre) @ unmix[:, :k]) @ mix[:, :k].T: PCA's eigenvectors are both
``unmix`` and ``mix`` (centre 0), ICA's unmixing and mixing matrices are ranked by how
concentrated each component's map is in the source aperture. The cube is read in spatial
tiles of whole spectra, over a few passes:

1. survey: the spaxels' count and mean spectrum, (PCA) the channel x channel covariance, a
   sample of spaxels (all of them when the cube has at most ``FIT_SAMPLES`` voxels, else every
   n-th in raster order), and the peak of the matched-filtered cube that centres the default
   aperture. The tiles are read with a halo of the filter's reach (4 sigma, scipy's kernel
   radius), so the peak is the whole-cube one exactly; a user's ``aperture=`` skips the halo.
   The channels' mean and robust scale come from the sample (as in memory when it is whole);
2. (ICA) the source powers inside and outside the aperture, which rank the components;
3. (when the count is not given) the aperture flux and the scatter outside the aperture of
   the cubes rebuilt from k = 1 .. n_max components, for the published rule;
4. the projection: each tile rebuilt and written in the cube's units.

PCA's components come from the exact covariance of all spaxels, accumulated in float64 tile by
tile (merged as counts, means and centred cross-products, so no cancellation) and
eigen-decomposed, rather than from an incremental PCA: for a few hundred channels the
channel x channel matrix is small and cheap, it spans the same subspace as the in-memory SVD
(the result equals it to float32 round-off), it does not depend on the order or size of the
tiles, and tiles on different workers simply add their parts. ICA's FastICA iterates over the
data many times, so it is fitted in memory on the standardised spectra of the sample, then
applied tile by tile.

The work folder keeps the fit (``model.npz``) and ``state.json`` (the stage, the component
count), written atomically: a killed run does not refit or recount; the projection redoes
every tile (each depends only on the input and the fit).
"""
from __future__ import annotations

import inspect
import json
import math
import os

import numpy as np

from galcube_lib.denoise._selection import (aperture_disk, check_matrix_size, checked_aperture,
                                            count_rule, matched_filter, matched_filter_reach,
                                            standardised, to_cube)
from galcube_lib.io.files import atomic_path, write_text

#: voxels in the spaxel sample that the channels' scale and ICA are fitted on: every spaxel of a
#: cube with at most this many voxels, else every n-th spaxel (raster order)
FIT_SAMPLES = 2 ** 22

#: bytes a tile may take while it is projected (float32 input, float64 spectra and rebuilds)
TILE_BYTES = 5.0e8
_BYTES_PER_VOXEL = 64


# --------------------------------------------------------------------------- reading tiles

def _read_flat(data, gain, read_y, read_x):
    from galcube_lib.denoise import flat_input

    box = (slice(None), read_y, read_x)
    return flat_input(data[box], None if gain is None else gain[box])


def _spectra(cube_part: np.ndarray) -> np.ndarray:
    """(v, h, w) -> (spaxels, channels) float64, as ``to_matrix`` lays them out."""
    return cube_part.reshape(cube_part.shape[0], -1).T.astype(np.float64)


def _projections(x: np.ndarray, model: dict, n: int) -> np.ndarray:
    """The first ``n`` component amplitudes of the (spaxels, channels) spectra ``x``."""
    z = (x - model["mean"]) / model["scale"]
    return (z - model["centre"]) @ model["unmix"][:, :n]


def _tile_aperture(aperture, core_y, core_x):
    """The (h, w) part of the aperture over a tile: ``aperture`` is the user's (y, x) mask or
    (centre, beam_fwhm_px) of the default disk."""
    if isinstance(aperture, np.ndarray):
        return aperture[core_y, core_x]
    centre, beam_fwhm_px = aperture
    return aperture_disk(range(core_y.start, core_y.stop), range(core_x.start, core_x.stop),
                         centre, beam_fwhm_px)


# --------------------------------------------------------------------------- pass 1: survey

class _Survey:
    """What the survey learns from some tiles; two surveys merge into one."""

    def __init__(self, n_chan: int, with_covariance: bool):
        self.count, self.with_data = 0, 0
        self.mean = np.zeros(n_chan)
        self.scatter = np.zeros((n_chan, n_chan)) if with_covariance else None
        self.sample_index, self.sample_spectra = [], []
        self.peak = None                  # (value, (v, y, x)) of the matched-filtered cube

    def add(self, core: np.ndarray, raster_index: np.ndarray, stride: int) -> None:
        """Take in a tile's (v, h, w) voxels and their spaxels' raster indices."""
        spectra = core.reshape(core.shape[0], -1)
        part = _Survey(core.shape[0], self.scatter is not None)
        part.count = spectra.shape[1]
        part.with_data = int(np.count_nonzero(np.any(spectra != 0, axis=0)))
        x = spectra.astype(np.float64)
        part.mean = x.mean(axis=1)
        if part.scatter is not None:
            centred = x - part.mean[:, None]
            part.scatter = centred @ centred.T
        picked = raster_index.ravel() % stride == 0
        part.sample_index, part.sample_spectra = [raster_index.ravel()[picked]], [spectra[:, picked]]
        self.merge(part)

    def add_peak(self, value: float, where: tuple) -> None:
        """Keep the higher peak; of equal ones the first in (v, y, x) order, as np.argmax."""
        if self.peak is None or (-value, where) < (-self.peak[0], self.peak[1]):
            self.peak = (value, where)

    def merge(self, other: "_Survey") -> "_Survey":
        """Add ``other`` into this survey (counts, means and centred cross-products as Chan et
        al.'s pairwise update); returns self."""
        total = self.count + other.count
        if total:
            delta = other.mean - self.mean
            if self.scatter is not None:
                self.scatter += other.scatter + np.outer(delta, delta) * (
                    self.count * other.count / total)
            self.mean = self.mean + delta * (other.count / total)
        self.count, self.with_data = total, self.with_data + other.with_data
        self.sample_index += other.sample_index
        self.sample_spectra += other.sample_spectra
        if other.peak is not None:
            self.add_peak(*other.peak)
        return self

    def sample(self) -> np.ndarray:
        """The sampled spectra, (channels, spaxels) float64 in raster order."""
        order = np.argsort(np.concatenate(self.sample_index), kind="stable")
        return np.ascontiguousarray(np.concatenate(self.sample_spectra, axis=1)[:, order],
                                    dtype=np.float64)


def _survey(data, gain, layout, stride: int, filter_beam, with_covariance, indices):
    """Survey the tiles ``indices`` (read with their halos); ``filter_beam`` is the beam of the
    matched filter whose peak is wanted, or None."""
    survey = _Survey(data.shape[0], with_covariance)
    for i in indices:
        core_y, core_x, read_y, read_x = layout[i]
        flat = _read_flat(data, gain, read_y, read_x)[0]
        inner = (slice(None), slice(core_y.start - read_y.start, core_y.stop - read_y.start),
                 slice(core_x.start - read_x.start, core_x.stop - read_x.start))
        rows, cols = np.ogrid[core_y, core_x]
        survey.add(flat[inner], rows * data.shape[2] + cols, stride)
        if filter_beam is not None:
            smoothed = matched_filter(flat, filter_beam)[inner]
            v, y, x = np.unravel_index(np.argmax(smoothed), smoothed.shape)
            survey.add_peak(float(smoothed[v, y, x]), (int(v), y + core_y.start, x + core_x.start))
    return survey


# --------------------------------------------------------------------------- passes 2 to 4

def _source_powers(data, gain, layout, model, aperture, indices):
    """ICA: per component, the sums of squared source values inside and outside the aperture,
    and the spaxels in each: a (2, n_sources + 1) array."""
    sums = np.zeros((2, model["unmix"].shape[1] + 1))
    for i in indices:
        core_y, core_x = layout[i][:2]
        power = _projections(_spectra(_read_flat(data, gain, core_y, core_x)[0]), model,
                             model["unmix"].shape[1]) ** 2
        inside = _tile_aperture(aperture, core_y, core_x).ravel()
        for row, where in enumerate((inside, ~inside)):
            sums[row, :-1] += power[where].sum(axis=0)
            sums[row, -1] += np.count_nonzero(where)
    return sums


def _rule_sums(data, gain, layout, model, aperture, n_max: int, indices):
    """For k = 1 .. ``n_max``: the aperture flux of the cube rebuilt from k components, and the
    count, sum and sum of squares of its voxels outside the aperture: an (n_max, 4) array."""
    sums = np.zeros((n_max, 4))
    for i in indices:
        core_y, core_x = layout[i][:2]
        flat = _read_flat(data, gain, core_y, core_x)[0]
        amplitudes = _projections(_spectra(flat), model, n_max)
        inside = _tile_aperture(aperture, core_y, core_x)
        rebuilt = np.zeros(amplitudes.shape[:1] + model["mix"].shape[:1])
        for k in range(n_max):
            rebuilt += np.outer(amplitudes[:, k], model["mix"][:, k])
            cube = to_cube(rebuilt, model["mean"], model["scale"], flat.shape)
            outside = cube[:, ~inside].astype(np.float64)
            sums[k] += (cube[:, inside].sum(dtype=np.float64), outside.size, outside.sum(),
                        np.square(outside).sum())
    return sums


def write_projection(data, gain, layout, model, count: int, target: str, indices):
    """Rebuild tiles from ``count`` components and write them in the cube's units, NaN where
    the input is blank.

    Parameters
    ----------
    data, gain : array_like or dask.array.Array
        The cube's data and gain (None).
    layout : list
        :func:`~galcube_lib.denoise.blockwise.tiles` of the cube (the cores are used).
    model : dict
        The fit (:func:`fit`).
    count : int
        Components to keep.
    target : str
        A zarr array of the cube's shape, chunked by the tiles.
    indices : sequence of int
        The tiles.

    Returns
    -------
    list of int
        ``indices``.
    """
    import zarr

    out = zarr.open_array(target, mode="r+")
    for i in indices:
        core_y, core_x = layout[i][:2]
        flat, finite, g = _read_flat(data, gain, core_y, core_x)
        rebuilt = _projections(_spectra(flat), model, count) @ model["mix"][:, :count].T
        cube = to_cube(rebuilt, model["mean"], model["scale"], flat.shape)
        out[:, core_y, core_x] = np.where(finite, cube / g, np.float32(np.nan))
    return list(indices)


# --------------------------------------------------------------------------- the fit

def _sample_stride(shape) -> int:
    return max(1, math.ceil(math.prod(shape) / FIT_SAMPLES))


def _pca_components(survey: _Survey, mean, scale) -> dict:
    """PCA's components: the eigenvectors of the standardised spaxels' covariance."""
    offset = survey.mean - mean
    scatter = survey.scatter + survey.count * np.outer(offset, offset)
    values, vectors = np.linalg.eigh(scatter / np.outer(scale, scale))
    values, vectors = np.clip(values[::-1], 0, None), vectors[:, ::-1]
    return {"centre": np.zeros_like(mean), "unmix": vectors, "mix": vectors,
            "explained": values / values.sum()}


def _ica_components(matrix, options: dict, n_sources: int, model: dict, tiles: tuple,
                    run) -> dict:
    """ICA's components, fitted on the standardised sample ``matrix``, then ranked by their
    source powers over the ``tiles`` (data, gain, layout, aperture) with ``model``'s scales."""
    from galcube_lib.denoise.ica import fastica_model, rank_sources

    ica = fastica_model(n_sources, options["max_iter"], options["tol"], options["rng"]).fit(matrix)
    fitted = {"centre": ica.mean_, "unmix": ica.components_.T, "mix": ica.mixing_}
    data, gain, layout, aperture = tiles
    sums = sum(run(_source_powers, (data, gain, layout, {**model, **fitted}, aperture),
                   range(len(layout))))
    inside, outside = sums[0, :-1] / sums[0, -1], sums[1, :-1] / sums[1, -1]
    order, explained = rank_sources(inside, outside, sums[0, :-1] + sums[1, :-1], fitted["mix"])
    return {**fitted, "unmix": fitted["unmix"][:, order], "mix": fitted["mix"][:, order],
            "explained": explained}


def fit(cube, options: dict, method: str, *, tile: int, run):
    """Fit PCA's or ICA's components to a cube, streaming over its tiles.

    Parameters
    ----------
    cube : Cube
        The cube (lazy or in memory).
    options : dict
        :func:`checked` options.
    method : {"pca", "ica"}
        The method.
    tile : int
        Side of the spatial tiles.
    run : callable
        ``run(func, args, items)`` -> list of results: ``func(*args, batch)`` over batches of
        ``items`` (in this process or on a cluster).

    Returns
    -------
    (dict, int, int or None)
        The model (float64 arrays ``mean``, ``scale``, ``centre``, ``unmix``, ``mix``,
        ``explained``, and the default aperture's ``peak`` (y, x), (-1, -1) with the user's),
        the largest count the rule considers, and the count given (None: chosen by the rule).

    Raises
    ------
    ValueError
        Fewer than 2 spaxels with data, or (ICA) counts more than they allow.
    """
    from galcube_lib.denoise import blockwise

    n_chan = cube.shape[0]
    user = options["aperture"]
    halo = 0 if user is not None else matched_filter_reach(options["beam_fwhm_px"])
    layout = blockwise.tiles(cube.shape, tile, halo)
    args = (cube.data, cube.gain, layout, _sample_stride(cube.shape),
            None if user is not None else options["beam_fwhm_px"], method == "pca")
    survey = _Survey(n_chan, method == "pca")
    for part in run(_survey, args, range(len(layout))):
        survey.merge(part)
    check_matrix_size(method, n_chan, survey.with_data)
    matrix, mean, scale = standardised(survey.sample().T)
    peak = (-1, -1) if user is not None else survey.peak[1][1:]
    model = {"mean": mean, "scale": scale, "peak": np.array(peak)}
    if method == "pca":
        n_max, given = options["max_components"], options["n_components"]
        model.update(_pca_components(survey, mean, scale))
    else:
        from galcube_lib.denoise.ica import checked_options

        n_max, given = checked_options(n_chan, survey.with_data, options["n_sources"],
                                       options["n_components"], options["max_iter"],
                                       options["tol"])[:2]
        model.update(_ica_components(matrix, options, n_max, model,
                                     (cube.data, cube.gain, layout, aperture_of(options, model)),
                                     run))
    return model, n_max, given


def aperture_of(options: dict, model: dict):
    """The source aperture as the passes take it.

    Parameters
    ----------
    options : dict
        :func:`checked` options (``aperture``, ``beam_fwhm_px``).
    model : dict
        The fit, with the default aperture's ``peak``.

    Returns
    -------
    numpy.ndarray or tuple
        The user's (y, x) mask, or ((y, x) centre, beam FWHM) of the default disk.
    """
    if options["aperture"] is not None:
        return options["aperture"]
    return tuple(int(c) for c in model["peak"]), tuple(options["beam_fwhm_px"])


# --------------------------------------------------------------------------- the protocol

def checked(cube, kwargs: dict, *, method: str) -> dict:
    """Every option of PCA or ICA for a run in passes, checked (as far as the cube's shape
    allows before its data are read: the spaxels with data are counted in the first pass).

    Parameters
    ----------
    cube : Cube
        The cube.
    kwargs : dict
        The options given, with the context from the cube.
    method : {"pca", "ica"}
        The method.

    Returns
    -------
    dict
        Every parameter of :func:`~galcube_lib.denoise.pca.pca` or
        :func:`~galcube_lib.denoise.ica.ica` but ``data``; ``aperture`` as a (y, x) mask.

    Raises
    ------
    ValueError
        A count, ``max_iter``, ``tol`` or ``aperture`` out of its range (naming it).
    """
    from galcube_lib.denoise import ica, method_function, pca

    params = inspect.signature(method_function(method)).parameters
    options = {**{k: p.default for k, p in params.items() if k != "data"}, **kwargs}
    n_chan, ny, nx = cube.shape
    check_matrix_size(method, n_chan, ny * nx)
    if options["aperture"] is not None:
        options["aperture"] = checked_aperture(options["aperture"], (ny, nx))
    if method == "pca":
        options["n_components"], options["max_components"] = pca.checked_counts(
            n_chan, options["n_components"], options["max_components"])
    else:
        options["max_iter"], options["tol"] = ica.checked_options(
            n_chan, ny * nx, options["n_sources"], options["n_components"], options["max_iter"],
            options["tol"])[2:]
    return options


def tile_for(shape, options: dict) -> int:
    """The side of the spatial tiles: about ``TILE_BYTES`` while a tile is projected, a
    multiple of 16 px, at least 16, at most the cube's larger side.

    Parameters
    ----------
    shape : tuple of int
        (v, y, x).
    options : dict
        :func:`checked` options (not used: every option needs the same memory per voxel).

    Returns
    -------
    int
        The side in pixels.
    """
    side = math.sqrt(TILE_BYTES / (_BYTES_PER_VOXEL * shape[0]))
    return max(16, min(max(shape[1:]), 16 * int(side // 16)))


def _saved_fit(work):
    with np.load(os.path.join(work, "model.npz")) as saved:
        return dict(saved)


def _save_fit(work, model: dict) -> None:
    with atomic_path(os.path.join(work, "model.npz")) as tmp, open(tmp, "wb") as file:
        np.savez(file, **model)


def denoise_in_passes(cube, work, options: dict, *, method: str, tile: int, run,
                      progress: bool) -> None:
    """PCA or ICA in passes, the result written tile by tile to the zarr array ``work``/data,
    in the cube's units with NaN where the input is blank.

    Parameters
    ----------
    cube : Cube
        The cube.
    work : pathlib.Path
        The work folder, holding the zarr array "data" (chunked by ``tile``); the fit and the
        count are kept there, so a killed run resumes without refitting.
    options : dict
        :func:`checked` options.
    method : {"pca", "ica"}
        The method.
    tile : int
        Side of the spatial tiles.
    run : callable
        As for :func:`fit`.
    progress : bool
        Show a progress bar of the passes.

    Returns
    -------
    None
    """
    from tqdm.auto import tqdm

    from galcube_lib.denoise import blockwise

    state_path = os.path.join(work, "state.json")
    state = json.loads(open(state_path).read()) if os.path.exists(state_path) else {}
    bar = tqdm(total=3, desc=f"{method} passes", disable=not progress)
    if not state:
        model, n_max, given = fit(cube, options, method, tile=tile, run=run)
        _save_fit(work, model)
        state = {"n_max": n_max, "count": given}
        write_text(state_path, json.dumps(state))
    bar.update(1)
    model = _saved_fit(work)
    layout = blockwise.tiles(cube.shape, tile, 0)
    args = (cube.data, cube.gain, layout, model)
    if state["count"] is None:
        sums = sum(run(_rule_sums, (*args, aperture_of(options, model), state["n_max"]),
                       range(len(layout))))
        flux, n_out, total, squares = sums.T
        scatter = np.sqrt(np.maximum(squares / n_out - (total / n_out) ** 2, 0))
        state["count"] = count_rule(flux, scatter, model["explained"])
        write_text(state_path, json.dumps(state))
    bar.update(1)
    run(write_projection, (*args, state["count"], str(work / "data")), range(len(layout)))
    bar.update(1)
    bar.close()
