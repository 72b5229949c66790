"""The deep methods on cubes of any size: "unet", "spectral", "noise2self" and "lcae" in passes
(``blockwise.PASS_METHODS``; docs/conventions.md, Large cubes and block-wise denoising).

1. The noise scale ``s`` of the whole cube (:func:`~galcube_lib.denoise.deep.weights.normalise`:
   the root mean square of the negative voxels), summed tile by tile.
2. What a method needs of the whole cube, measured once:

   - a U-Net told the noise (two input channels): its level map
     (:func:`~galcube_lib.denoise.deep.unet.level_channel`), on every n-th channel, at most
     ``SAMPLE_VOXELS`` voxels (the whole cube when it is smaller);
   - noise2self: the spectral noise correlation, on a central block of whole spectra of at most
     ``SAMPLE_VOXELS`` voxels, then the network fine-tuned on crops read from the cube with the
     same random draws as in memory;
   - lcae: its source mask (:mod:`..smooth_clip_passes`) and the autoencoder trained on every
     spectrum, or on a random sample of spaxels when the cube has more than ``SAMPLE_VOXELS``
     voxels.

3. The prediction, tile of whole spectra by tile, each tile's core written to the result with
   a marker, so a killed run resumes with the tiles not yet done. The U-Net (and noise2self's)
   prediction inside a tile is that of the whole cube's tiling
   (:func:`~galcube_lib.denoise.deep.unet.predict_region`); spectral and lcae need no halo.

Where the cube has at most ``SAMPLE_VOXELS`` voxels, the results equal the in-memory ones to
float32 round-off (the tests found them equal to the bit). Above it, measured on a 24 x 64 x 64
cube with the limit lowered to 24^3 (a level map from 3 of the 24 channels): a U-Net told the
noise differs from the in-memory one by 9.7 % of its error to the truth (rms; that error grew
3.5 %), noise2self with those weights by 11.8 % (there its level maps are those of the cube
before the channels are held out), noise2self with the shipped U-Net not at all, and lcae,
trained on other spectra, lands elsewhere (its error to the truth was 0.44x the in-memory
one). The tests hold the first two to 15 % and lcae to within 1.25x of the in-memory error.

A dask worker runs torch on one thread, this process on all cores, and the network's sums then
run in another order: with ``workers=2`` the U-Net's result differed by 1.7e-7 of its peak.

The work folder keeps ``state.json`` (the stage, ``s``), the level map and the trained network.
Uncertainty cubes and the U-Net's per-cube adaptation need the cube in memory: adapt on a part
of it (:func:`~galcube_lib.denoise.deep.adapt.adapt_weights`) and pass the adapted weights.
"""
from __future__ import annotations

import inspect
import json
import math
import os

import numpy as np

from galcube_lib.denoise import blockwise
from galcube_lib.io.files import write_text

#: voxels of the part of a cube that the whole-cube statistics are measured on (a level map, the
#: spectral correlation) and of the spectra lcae trains on; every voxel below it
SAMPLE_VOXELS = 2 ** 24
#: bytes per voxel a tile takes while it is predicted (float64 sums, inputs, outputs)
BYTES_PER_VOXEL = 40
#: methods this module runs
METHODS = ("unet", "spectral", "noise2self", "lcae")


def _flat(data, gain, box):
    from galcube_lib.denoise import flat_input

    return flat_input(data[box], None if gain is None else gain[box])


def _negative_sums(data, gain, layout, indices) -> np.ndarray:
    """Sum of squares and count of the negative voxels of the tiles ``indices``."""
    sums = np.zeros(2)
    for i in indices:
        x = _flat(data, gain, (slice(None), *layout[i][:2]))[0]
        neg = x[x < 0].astype(np.float64)
        sums += (np.sum(neg * neg), neg.size)
    return sums


def noise_scale(cube, layout, run) -> float:
    """The whole cube's noise scale ``s`` (as ``weights.normalise`` on the cube in memory).

    Parameters
    ----------
    cube : Cube
        The cube (lazy or in memory); measured in flat-noise units, blanks 0.
    layout : list
        Its tiles (:func:`~galcube_lib.denoise.blockwise.tiles`).
    run : callable
        ``run(func, args, items)`` of ``blockwise.PASS_METHODS``.

    Returns
    -------
    float
        ``s`` > 0; a ValueError when the cube has no negative finite voxel.
    """
    total, count = sum(run(_negative_sums, (cube.data, cube.gain, layout), range(len(layout))))
    s = math.sqrt(total / count) if count else float("nan")
    if not (math.isfinite(s) and s > 0):
        raise ValueError("cannot normalise a cube without negative finite voxels: its noise level "
                         "is unknown (is it continuum-subtracted, and not blank?)")
    return s


def sample_of(cube, s: float, *, whole: str) -> np.ndarray:
    """A part of the cube of at most ``SAMPLE_VOXELS`` voxels, in noise units (x / s).

    Parameters
    ----------
    cube : Cube
        The cube.
    s : float
        Its noise scale.
    whole : {"images", "spectra"}
        Keep whole images (every n-th channel) or whole spectra (a central block of spaxels).

    Returns
    -------
    numpy.ndarray
        float32 (v, y, x); the whole cube when it has at most ``SAMPLE_VOXELS`` voxels.
    """
    nv, ny, nx = cube.shape
    box = [slice(None)] * 3
    if whole == "images":
        box[0] = slice(0, nv, math.ceil(nv / max(1, SAMPLE_VOXELS // (ny * nx))))
    else:
        side = max(1, int(math.sqrt(SAMPLE_VOXELS / nv)))
        for axis, n in ((1, ny), (2, nx)):
            k = min(n, side)
            box[axis] = slice((n - k) // 2, (n - k) // 2 + k)
    return _flat(cube.data, cube.gain, tuple(box))[0] / np.float32(s)


class _Normalised:
    """The cube in noise units, read a box at a time (noise2self's fine-tuning crops)."""

    def __init__(self, cube, s):
        self.data, self.gain, self.shape, self.s = cube.data, cube.gain, cube.shape, s

    def __getitem__(self, box):
        return _flat(self.data, self.gain, box)[0] / np.float32(self.s)


# --------------------------------------------------------------------------- the protocol


def checked(cube, kwargs: dict, *, method: str) -> dict:
    """Every option of a deep ``method`` for a cube of any size, checked.

    Parameters
    ----------
    cube : Cube
        The cube.
    kwargs : dict
        The options given, with the context from the cube.
    method : str
        One of ``METHODS``.

    Returns
    -------
    dict
        Every parameter of the method's function but ``data``, with the defaults.

    Raises
    ------
    ValueError
        An uncertainty cube or adaptation asked for (they need the cube in memory), or a bad
        option (named).
    """
    from galcube_lib.denoise import method_function
    from galcube_lib.denoise.deep import weights as models

    params = inspect.signature(method_function(method)).parameters
    options = {**{k: p.default for k, p in params.items() if k != "data"}, **kwargs}
    if options.get("uncertainty"):
        raise ValueError(f"uncertainty={options['uncertainty']} is not taken for a lazy cube: "
                         "the noise re-samplings need the cube in memory; denoise a part of it, "
                         f"gl.denoise(cube.crop(box).compute(), {method!r}, uncertainty=...)")
    if options.get("adapt"):
        raise ValueError(f"adapt={options['adapt']} is not taken for a lazy cube: adapt on a part "
                         "of it with galcube_lib.denoise.deep.adapt.adapt_weights, then pass the "
                         "adapted weights (weights=...)")
    if "weights" in options:
        options["weights"] = str(models.weights_path(options["weights"]))
    if "device" in options:
        options["device"] = models.device(options["device"])
    if method == "unet":
        from galcube_lib.denoise.deep.unet import checked_tiling

        options["tile"], options["overlap"] = checked_tiling(options["tile"], options["overlap"])
    elif method == "lcae":
        from galcube_lib.denoise.deep.lcae import checked_options

        names = inspect.signature(checked_options).parameters
        options.update(checked_options(**{k: options[k] for k in names}))
    elif method == "spectral":
        from galcube_lib._util import checks as check

        options["batch_size"] = check.integer("batch_size", options["batch_size"], 1)
    return options


def tile_for(shape, options: dict) -> int:
    """The side of the spaxel tiles: the widest (a multiple of 16, at least 32) whose
    prediction takes at most ``blockwise.TILE_BYTES``.

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
    side = math.sqrt(blockwise.TILE_BYTES / (BYTES_PER_VOXEL * shape[0]))
    return int(min(max(shape[1:]), max(32, 16 * math.floor(side / 16))))


def denoise_in_passes(cube, work, options: dict, *, method: str, tile: int, run,
                      progress: bool) -> None:
    """A deep method in passes, its result written tile by tile to the zarr array
    ``work``/data, in the cube's units with NaN where the input is blank.

    Parameters
    ----------
    cube : Cube
        The cube.
    work : pathlib.Path
        The work folder, holding the zarr array "data" (chunked by ``tile``) and "done".
    options : dict
        :func:`checked` options.
    method : str
        One of ``METHODS``.
    tile : int
        Side of the spaxel tiles.
    run : callable
        ``run(func, args, items)`` -> list of results: ``func(*args, batch)`` over batches of
        ``items`` (in this process or on a cluster).
    progress : bool
        Show progress bars.

    Returns
    -------
    None
    """
    from tqdm.auto import tqdm

    layout = blockwise.tiles(cube.shape, tile, 0)
    path = work / "state.json"
    state = json.loads(path.read_text()) if path.exists() else {}
    if "s" not in state:
        state["s"] = noise_scale(cube, layout, run)
        write_text(path, json.dumps(state))
    if "model" not in state:
        state["model"] = _prepare(cube, work, options, method, state["s"], run, tile, progress)
        write_text(path, json.dumps(state))
    done = {int(p.name) for p in (work / "done").iterdir() if p.name.isdigit()}
    todo = [i for i in range(len(layout)) if i not in done]
    with tqdm(total=len(layout), desc=method, unit="tile", disable=not progress) as bar:
        bar.update(len(done))
        for finished in run(_predict_tiles, (cube.data, cube.gain, method, options, state,
                                             str(work), layout), todo):
            bar.update(len(finished))


def _prepare(cube, work, options, method, s, run, tile, progress) -> dict:
    """Measure and train what ``method`` needs of the whole cube; what the tiles load."""
    import torch

    if method == "spectral":
        return {}
    if method == "lcae":
        return _train_lcae(cube, work, options, s, run, tile, progress)
    from galcube_lib.denoise.deep.unet import load_unet

    told_noise = getattr(load_unet(options["weights"])[0], "in_channels", 1) == 2
    if method == "unet":
        return _save_levels(cube, work, s, [None]) if told_noise else {}
    from galcube_lib._util import rng as _rng
    from galcube_lib.denoise.deep import noise2self as n2s

    rng = options["rng"]
    gen, _ = _rng.generator(rng)
    steps, lags, period, acf, crop, lr = n2s.checked_options(
        sample_of(cube, s, whole="spectra"), cube.shape,
        **{k: options[k] for k in ("steps", "period", "correlated_lags", "crop", "lr")})
    torch_seed = rng if isinstance(rng, (int, np.integer)) else int(gen.integers(2 ** 63))
    model, _ = n2s.fine_tuned(options["weights"], _Normalised(cube, s), steps=steps,
                              period=period, acf=acf, crop=crop, lr=lr, gen=gen,
                              torch_seed=torch_seed, device=options["device"], progress=progress)
    torch.save(model.state_dict(), work / "model.pt")
    state = {"weights": "model.pt", "period": period, "acf": list(acf)}
    if told_noise:
        state.update(_save_levels(cube, work, s, [(p, period, acf) for p in range(period)]))
    return state


def _save_levels(cube, work, s, holdouts) -> dict:
    """The level maps of a network told the noise, one per hold-out (phase, period, acf) of
    noise2self (None: the cube as it is), saved in ``work``; measured on :func:`sample_of`
    (images), held out as noise2self does where that is the whole cube."""
    from galcube_lib.denoise.deep.noise2self import masked
    from galcube_lib.denoise.deep.unet import level_channel

    sample = sample_of(cube, s, whole="images")
    whole = sample.shape == cube.shape
    levels = [level_channel(masked(sample, *h)[0] if h and whole else sample)[0]
              for h in holdouts]
    np.save(work / "levels.npy", np.stack(levels))
    return {"levels": "levels.npy"}


def _spectra_of(data, gain, mask, chosen, layout, indices) -> list:
    """The spectra (noise units not yet applied) and mask of the chosen spaxels of the tiles
    ``indices``: (spaxel numbers, (v, n) spectra, (v, n) mask) per tile."""
    import zarr

    mask = zarr.open_array(mask, mode="r")
    nx = data.shape[2]
    parts = []
    for i in indices:
        core_y, core_x = layout[i][:2]
        ys, xs = np.mgrid[core_y, core_x]
        numbers = (ys * nx + xs).ravel()
        keep = np.isin(numbers, chosen)
        flat = _flat(data, gain, (slice(None), core_y, core_x))[0].reshape(data.shape[0], -1)
        inside = mask[:, core_y, core_x].reshape(data.shape[0], -1)
        parts.append((numbers[keep], flat[:, keep], inside[:, keep]))
    return parts


def _train_lcae(cube, work, options, s, run, tile, progress) -> dict:
    """lcae's source mask (in passes) and its autoencoder, trained on every spectrum in the
    cube's order, or on ``SAMPLE_VOXELS`` // n_chan spaxels drawn at random."""
    import torch

    from galcube_lib._util import rng as _rng
    from galcube_lib.denoise import smooth_clip_passes
    from galcube_lib.denoise.deep.lcae import train_autoencoder

    gen, _ = _rng.generator(options["rng"])
    mask_options = smooth_clip_passes.checked(cube, {"beam_fwhm_px": options["beam_fwhm_px"],
                                                     "beam_pa_deg": options["beam_pa_deg"]})
    (work / "mask").mkdir(exist_ok=True)
    mask = smooth_clip_passes.mask_in_passes(cube, work / "mask", mask_options, tile=tile,
                                             run=run, progress=progress)
    nv, ny, nx = cube.shape
    chosen = np.arange(ny * nx)
    if nv * ny * nx > SAMPLE_VOXELS:
        chosen = np.sort(gen.choice(ny * nx, SAMPLE_VOXELS // nv, replace=False))
    layout = blockwise.tiles(cube.shape, tile, 0)
    parts = [p for batch in run(_spectra_of, (cube.data, cube.gain, mask, chosen, layout),
                                range(len(layout))) for p in batch]
    order = np.argsort(np.concatenate([p[0] for p in parts]))
    spectra = np.concatenate([p[1] for p in parts], axis=1)[:, order].T / np.float32(s)
    inside = np.concatenate([p[2] for p in parts], axis=1)[:, order].T
    names = ("window", "stride", "hidden", "code", "epochs", "lr", "batch_size", "q", "lam")
    model = train_autoencoder(torch.from_numpy(np.ascontiguousarray(spectra)),
                              torch.from_numpy(np.ascontiguousarray(inside)),
                              seed=int(gen.integers(2 ** 63)), progress=progress,
                              **{k: options[k] for k in names})
    torch.save(model.state_dict(), work / "model.pt")
    return {"weights": "model.pt", "spectra": int(chosen.size)}


def _load(method, options, model_state, work, shape):
    """The network a tile is predicted with."""
    import torch

    if method == "spectral":
        from galcube_lib.denoise.deep.spectral import load_model

        return load_model(options["weights"])
    if method == "lcae":
        from galcube_lib.denoise.deep.networks.lcae import LocallyConnectedAE

        model = LocallyConnectedAE(shape[0], *(options[k] for k in ("window", "stride", "hidden",
                                                                    "code")))
    else:
        from galcube_lib.denoise.deep.unet import load_unet

        model = load_unet(options["weights"], options["device"])[0]
    if "weights" in model_state:
        model.load_state_dict(torch.load(os.path.join(work, model_state["weights"]),
                                         weights_only=True))
    return model.eval()


def _predict_tiles(data, gain, method, options, state, work, layout, indices) -> list[int]:
    """Predict the tiles ``indices`` and write them into the store ``work``/data."""
    import zarr

    model = _load(method, options, state["model"], work, data.shape)
    target = zarr.open_array(os.path.join(work, "data"), mode="r+")
    for i in indices:
        core = (slice(None), *layout[i][:2])
        flat, finite, g = _flat(data, gain, core)
        out = np.full(flat.shape, np.nan, np.float32)
        if finite.any():
            pred = _predict(method, model, options, state, work, data, gain, core, flat)
            out = np.where(finite, pred * np.float32(state["s"]) / g, np.float32(np.nan))
        target[core] = out
        write_text(os.path.join(work, "done", str(i)), "")
    return list(indices)


def _predict(method, model, options, state, work, data, gain, core, flat) -> np.ndarray:
    """The network's output in noise units over the tile ``core`` (its input ``flat``)."""
    s = np.float32(state["s"])
    if method in ("spectral", "lcae"):
        nv = flat.shape[0]
        spectra = np.ascontiguousarray((flat / s).reshape(nv, -1).T)
        if method == "spectral":
            from galcube_lib.denoise.deep.spectral import denoise_spectra

            out = denoise_spectra(model, spectra, options["batch_size"])
        else:
            import torch

            from galcube_lib.denoise.deep.lcae import apply_autoencoder

            out = apply_autoencoder(model, torch.from_numpy(spectra))
        return out.T.reshape(flat.shape)
    from galcube_lib.denoise.deep.unet import predict_region

    levels = state["model"].get("levels")
    levels = None if levels is None else np.load(os.path.join(work, levels), mmap_mode="r")
    tiling = {k: options[k] for k in ("tile", "overlap", "device") if k in options}

    def network_input(x, box, phase=0):
        return x[None] if levels is None else np.stack(
            [x, np.broadcast_to(levels[phase][box[1:]], x.shape)])

    if method == "unet":
        return predict_region(model, lambda box: network_input(_flat(data, gain, box)[0] / s, box),
                              data.shape, core, **tiling)
    from galcube_lib.denoise.deep.noise2self import masked

    period, acf, nv = state["model"]["period"], state["model"]["acf"], data.shape[0]
    margin = period + len(acf) + 1
    out = np.zeros(flat.shape, np.float32)
    for phase in range(period):
        def read(box):   # masked on the box's channels with a margin: as on the whole cube
            v0, v1 = max(0, box[0].start - margin), min(nv, box[0].stop + margin)
            x = _flat(data, gain, (slice(v0, v1), *box[1:]))[0] / s
            xm = masked(x, (phase - v0) % period, period, acf)[0]
            return network_input(xm[box[0].start - v0:box[0].stop - v0], box, phase)

        held = np.zeros(nv, bool)
        held[phase::period] = True
        out[held] = predict_region(model, read, data.shape, core, **tiling)[held]
    return out
