"""The supervised 3D U-Net ("unet"), with the weights shipped in ``data/models/unet3d.pt``.

The cube is divided by its noise level ``s`` (from the negative voxels,
:func:`galcube_lib.denoise.deep.weights.normalise`), passed through the network and multiplied
by ``s``: the result is in the cube's own units and scales exactly with it. Cubes larger than ``tile`` are processed in overlapping tiles
whose outputs are blended with linear ramps over the overlap, so any size and channel count
goes through in bounded memory.

A learned 3-D network is not exactly symmetric under flips of the axes: the training crops are
flipped at random along every axis, so no direction is preferred on average, but flipping the
channels or the image of a 16 x 32 x 32 test cube changed the result by 0.4-0.6 noise sigma.
"""
from __future__ import annotations

import os

import numpy as np

from galcube_lib.denoise.deep import weights as _models
from galcube_lib._util import checks as check
from galcube_lib._util import rng as _rng
from galcube_lib.denoise.deep.uncertainty import (Denoised, check_samples, peak_floor,
                                                  with_uncertainty)
from galcube_lib.noise.estimate import noise_map

DEFAULT_WEIGHTS = "unet3d"


def load_unet(weights=DEFAULT_WEIGHTS, device: str = "cpu"):
    """The U-Net with its weights, in eval mode, and its model card.

    Parameters
    ----------
    weights : str or os.PathLike
        A shipped model name, a ``.pt`` file, a training checkpoint or a blend card (a
        :class:`~galcube_lib.denoise.deep.networks.unet3d.UNet3DBlend` of U-Nets).
    device : str
        torch device.

    Returns
    -------
    tuple
        ``(network, card)``.
    """
    from galcube_lib.denoise.deep.networks.unet3d import UNet3D, UNet3DBlend

    device = _models.device(device)
    model, card = _models.load_network({"UNet3D": UNet3D, "UNet3DBlend": UNet3DBlend}, weights)
    return model.to(device).eval(), card


def level_channel(x: np.ndarray) -> np.ndarray:
    """The noise level input of a network told the noise: a (v, y, x) cube.

    :func:`galcube_lib.noise.estimate.noise_map` of ``x`` (its noise in boxes of one to two
    beams, in ``x``'s units), the same in every channel; pixels where it cannot be measured
    (blanks) get the median level.

    Parameters
    ----------
    x : numpy.ndarray
        The (v, y, x) cube in noise units.

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``x`` (a read-only broadcast view).
    """
    level = noise_map(x)
    known = np.isfinite(level) & (level > 0)
    level = np.where(known, level, np.median(level[known]) if known.any() else 1.0)
    return np.broadcast_to(level.astype(np.float32), x.shape)


def network_input(model, x: np.ndarray) -> np.ndarray:
    """The network's input for a normalised (v, y, x) cube: (in_channels, v, y, x).

    Parameters
    ----------
    model : torch.nn.Module
        The network (its ``in_channels``, 1 when it has none); with 2, the second channel is
        :func:`level_channel`.
    x : numpy.ndarray
        The (v, y, x) cube in noise units.

    Returns
    -------
    numpy.ndarray
        float32 (in_channels, v, y, x).
    """
    x = np.asarray(x, np.float32)
    if getattr(model, "in_channels", 1) == 1:
        return x[None]
    return np.stack([x, level_channel(x)])


def _starts(n: int, size: int, overlap: int) -> list[int]:
    if n <= size:
        return [0]
    count = int(np.ceil((n - overlap) / (size - overlap)))
    return sorted({int(round(k * (n - size) / (count - 1))) for k in range(count)})


def _ramp(size: int, overlap: int) -> np.ndarray:
    i = np.arange(size)
    return np.minimum(1.0, np.minimum(i + 1, size - i) / (overlap + 1))


def tile_grid(shape, tile=(64, 128, 128), overlap=(8, 16, 16)):
    """The overlapping tiles that cover a (v, y, x) cube, and their blending ramps.

    Parameters
    ----------
    shape : tuple of 3 ints
        (v, y, x) of the whole cube.
    tile, overlap : tuple of 3 ints
        Tile size and overlap; clipped to the cube's size.

    Returns
    -------
    (list, list, list)
        Per axis: the tile size, the tile starts, and the ramp (weight along a tile: linear
        over the overlap, 1 inside).
    """
    size = [min(t, n) for t, n in zip(tile, shape)]
    over = [min(o, max(0, s - 1)) for o, s in zip(overlap, size)]
    starts = [_starts(n, s, o) for n, s, o in zip(shape, size, over)]
    return size, starts, [_ramp(s, o) for s, o in zip(size, over)]


def predict_region(model, read, shape, region, tile=(64, 128, 128), overlap=(8, 16, 16),
                   device: str = "cpu") -> np.ndarray:
    """The blended tiled prediction of a cube of ``shape`` inside ``region`` only.

    Every tile of the whole cube's grid (:func:`tile_grid`) that meets ``region`` is read with
    ``read`` and passed through ``model``; its ramp-weighted output is added inside the region.
    The weights are separable, so their sum is the product of per-axis sums. The result inside
    ``region`` is therefore that of the whole cube, whatever the region; block-wise denoising
    predicts a cube of any size one region at a time this way.

    Parameters
    ----------
    model : torch.nn.Module
        The network, (1, in_channels, v, y, x) -> (1, 1, v, y, x).
    read : callable
        ``read(box)`` -> the network's (in_channels, v, y, x) input of the tile ``box`` (a
        tuple of 3 slices of the whole cube).
    shape : tuple of 3 ints
        (v, y, x) of the whole cube.
    region : tuple of 3 slices
        The part of the cube to predict (steps of 1).
    tile, overlap : tuple of 3 ints
        Tile size and overlap; clipped to the cube's size.
    device : str
        torch device of the network.

    Returns
    -------
    numpy.ndarray
        float32, the region's shape.
    """
    import itertools

    import torch

    size, starts, ramps = tile_grid(shape, tile, overlap)
    lo = [r.indices(n)[0] for r, n in zip(region, shape)]
    hi = [r.indices(n)[1] for r, n in zip(region, shape)]
    meeting = [[c for c in axis if c < b and c + s > a]
               for axis, s, a, b in zip(starts, size, lo, hi)]
    weight = 1.0
    for axis, (ramp, s, a, b, cs) in enumerate(zip(ramps, size, lo, hi, meeting)):
        line = np.zeros(b - a)
        for c in cs:
            i0, i1 = max(a, c), min(b, c + s)
            line[i0 - a:i1 - a] += ramp[i0 - c:i1 - c]
        weight = weight * line.reshape([-1 if k == axis else 1 for k in range(3)])
    out = np.zeros([b - a for a, b in zip(lo, hi)])
    with torch.inference_mode():
        for corner in itertools.product(*meeting):
            box = tuple(slice(c, c + s) for c, s in zip(corner, size))
            block = torch.from_numpy(np.ascontiguousarray(read(box), dtype=np.float32))
            pred = model(block[None].to(device))[0, 0].float().cpu().numpy()
            inner = [(max(a, c), min(b, c + s)) for a, b, c, s in zip(lo, hi, corner, size)]
            w = 1.0
            for axis, ((i0, i1), c, ramp) in enumerate(zip(inner, corner, ramps)):
                w = w * ramp[i0 - c:i1 - c].reshape([-1 if k == axis else 1 for k in range(3)])
            src = tuple(slice(i0 - c, i1 - c) for (i0, i1), c in zip(inner, corner))
            dst = tuple(slice(i0 - a, i1 - a) for (i0, i1), a in zip(inner, lo))
            out[dst] += w * pred[src]
    return (out / weight).astype(np.float32)


def predict_tiled(model, x: np.ndarray, tile=(64, 128, 128), overlap=(8, 16, 16),
                  device: str = "cpu") -> np.ndarray:
    """Apply ``model`` to a normalised (v, y, x) array in overlapping, blended tiles.

    Parameters
    ----------
    model : torch.nn.Module
        The network, (1, in_channels, v, y, x) -> (1, 1, v, y, x).
    x : numpy.ndarray
        The (v, y, x) array in noise units, or the network's (in_channels, v, y, x) input
        (:func:`network_input`).
    tile, overlap : tuple of 3 ints
        Tile size and overlap; clipped to the array's size.
    device : str
        torch device of the network.

    Returns
    -------
    numpy.ndarray
        float32 (v, y, x); tiles blended with linear ramps over the overlaps
        (:func:`predict_region` over the whole array).
    """
    x = x if x.ndim == 4 else x[None]
    shape = x.shape[1:]
    return predict_region(model, lambda box: x[(slice(None),) + box], shape,
                          (slice(None),) * 3, tile, overlap, device)


def checked_tiling(tile, overlap) -> tuple[tuple, tuple]:
    """The tile size (>= 32 per axis) and overlap (at most half a tile) of the tiled inference.

    Parameters
    ----------
    tile, overlap : sequence of 3 ints
        (v, y, x) tile size and overlap.

    Returns
    -------
    (tuple, tuple)
        ``(tile, overlap)`` as tuples of ints; a ValueError names a bad one.
    """
    tile = tuple(check.integer("tile", t, 32) for t in check.sequence("tile", tile, 3))
    overlap = tuple(check.integer("overlap", o, 0, t // 2)
                    for o, t in zip(check.sequence("overlap", overlap, 3), tile))
    return tile, overlap


def unet(data: np.ndarray, *, weights: str | os.PathLike = DEFAULT_WEIGHTS, tile=(64, 128, 128),
         overlap=(8, 16, 16), uncertainty: int = 0, adapt: int = 0, calibrate: bool = False,
         rng=0, device: str = "cpu", progress: bool = False, beam_fwhm_px=None,
         beam_pa_deg: float = 0.0, channel_kms: float | None = None) -> Denoised:
    """Denoise with the supervised 3D U-Net.

    Parameters
    ----------
    data : numpy.ndarray
        Noisy (v, y, x) cube, finite, continuum-subtracted (zero-mean noise).
    weights : str or os.PathLike
        Shipped model name ("unet3d", trained on the benchmark population; "unet3d_family",
        trained on the interferometric noise family and told the noise level; "unet3d_blend",
        the mean of those two weighted 0.7 / 0.3, for real noise) or a ``.pt`` file (also a
        ``best.pt`` checkpoint of :func:`galcube_lib.training.unet.train`) or a blend card
        (:mod:`galcube_lib.denoise.deep.weights`).
    tile, overlap : tuple of 3 ints
        Tile size and overlap (v, y, x) of the tiled inference; tiles >= 32 per axis.
    uncertainty : int
        Number of noise re-samplings for an uncertainty cube (0: none, else >= 2; see
        :mod:`galcube_lib.denoise.deep.uncertainty`; the error floor beta * s is the model card's
        ``uncertainty_floor`` beta, or per voxel from its ``uncertainty_floor_by_peak`` table
        where the card has one, as an adapted U-Net's has), returned as ``.uncertainty``.
    adapt : int
        Steps of adaptation to this cube's own noise before denoising
        (:mod:`galcube_lib.denoise.deep.adapt`: disks injected into its emission-free blocks),
        0 (default) to switch it off; about 0.6 s a step on 2 CPU cores. Needs the cube's beam
        and channel width (``gl.denoise`` passes them). With ``uncertainty``, the error floor
        beta is then calibrated on blocks of the cube's own noise with injected disks instead
        of the model card's. To adapt once and denoise many times (the null check of a real
        cube, re-injections), write the adapted weights with
        :func:`galcube_lib.denoise.deep.adapt.adapt_weights` and pass them as ``weights``.
    calibrate : bool
        With ``uncertainty`` and no ``adapt``: calibrate the error floor on disks injected into
        this cube's own noise (as ``adapt`` does, without changing the network) instead of
        taking the model card's, which was calibrated on simulated noise. Needs the cube's
        beam and channel width, as ``adapt``.
    rng : int, None or numpy.random.Generator
        Seed of the re-sampling noise and of the adaptation.
    device : str
        torch device this machine has ("cpu", "cuda", "cuda:N", "mps").
    progress : bool
        Show progress bars for the adaptation and the re-samplings.
    beam_fwhm_px, beam_pa_deg, channel_kms : optional
        The cube's beam (px, deg) and channel width (km/s), for ``adapt`` and ``calibrate``.

    Returns
    -------
    Denoised
        ``(data, uncertainty)``: the denoised cube (float32) and its uncertainty (None
        without ``uncertainty``).
    """
    tile, overlap = checked_tiling(tile, overlap)
    uncertainty = check_samples("uncertainty", uncertainty)
    adapt = check.integer("adapt", adapt, 0)
    calibrate = check.boolean("calibrate", calibrate)
    if calibrate and not uncertainty:
        raise ValueError("calibrate calibrates the uncertainty: give uncertainty >= 2 with it")
    for name, asked in (("adapt", adapt), ("calibrate", calibrate)):
        if asked and (beam_fwhm_px is None or channel_kms is None):
            raise ValueError(f"{name} needs the cube's beam and channel width: call "
                             f"gl.denoise(cube, 'unet', {name}=...) or pass beam_fwhm_px and "
                             "channel_kms")
    torch_seed = rng if isinstance(rng, (int, np.integer)) else None
    rng, _ = _rng.generator(rng)
    weights = _models.weights_path(weights)
    device = _models.device(device)
    progress = check.boolean("progress", progress)
    import torch

    with torch.random.fork_rng(devices=[]):  # the network's random init: the caller's torch
        model, card = load_unet(weights, device)  # random state is kept
    if adapt or calibrate:
        from galcube_lib.denoise.deep.adapt import adapt_loaded

        card = adapt_loaded(model, card, data, beam_fwhm_px=beam_fwhm_px,
                            beam_pa_deg=beam_pa_deg, channel_kms=channel_kms, steps=adapt,
                            uncertainty=uncertainty, gen=rng, torch_seed=torch_seed,
                            device=device, progress=progress)

    def denoise_fn(x):
        s = _models.normalise(x)
        return predict_tiled(model, network_input(model, x / s), tile, overlap, device) * s

    s = _models.normalise(data)
    table = card.get("uncertainty_floor_by_peak")
    floor = (card.get("uncertainty_floor", 0.0) * s if table is None
             else lambda out: s * peak_floor(table, out / s))
    return with_uncertainty(denoise_fn, data, uncertainty, floor=floor, rng=rng,
                            progress=progress)
