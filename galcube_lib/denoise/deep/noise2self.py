"""Self-supervised denoising of a single cube with no clean target ("noise2self").

Noise2Self (Batson & Royer 2019): a function f that never looks at the noise of the voxels it
predicts (J-invariance) cannot learn to copy that noise, so minimising ||f(x)_J - x_J||^2 over
held-out sets J trains it towards the clean signal, on the noisy cube alone.

Beam-correlated noise defeats pixel-wise blind spots: the neighbours of a held-out pixel carry
most of its noise. Spectrally the noise is white (or Hanning-correlated over one or two
channels), so the held-out sets here are whole channels: every ``period``-th channel, at a
random phase, with ``blind_channels`` neighbours on each side also hidden (set from the data's
measured spectral noise correlation). The hidden channels are replaced by linear
interpolation between the nearest visible channels, and the loss is taken on the held-out
channels only.

The pretrained supervised U-Net is the starting point and is fine-tuned on crops of the cube.
The final prediction is J-invariant too: one masked pass per phase, each contributing only its
held-out channels.
"""
from __future__ import annotations

import os

import numpy as np

from galcube_lib.denoise.deep import weights as _models
from galcube_lib._util import checks as check
from galcube_lib._util import rng as _rng
from galcube_lib.noise.estimate import spectral_correlation
from galcube_lib.denoise.deep.uncertainty import Denoised, check_samples, with_uncertainty
from galcube_lib.denoise.deep.unet import DEFAULT_WEIGHTS, load_unet, network_input, predict_tiled

#: spectral noise correlation above which neighbouring channels are also hidden
CORRELATION_LIMIT = 0.1


def blind_width(data: np.ndarray) -> int:
    """Channels to hide on each side of a held-out channel.

    Parameters
    ----------
    data : numpy.ndarray
        The noisy (v, y, x) cube.

    Returns
    -------
    int
        The largest lag whose spectral noise correlation exceeds ``CORRELATION_LIMIT`` (0 for
        spectrally white noise).
    """
    corr = spectral_correlation(data)
    above = np.nonzero(corr > CORRELATION_LIMIT)[0]
    return int(above[-1] + 1) if above.size else 0


def masked(x: np.ndarray, phase: int, period: int, blind: int):
    """``x`` with its held-out channels, and their neighbours, hidden.

    Parameters
    ----------
    x : numpy.ndarray
        (v, y, x) array.
    phase, period : int
        Channels ``phase + k * period`` are held out.
    blind : int
        Neighbours hidden on each side of a held-out channel.

    Returns
    -------
    tuple
        ``(masked, held)``: ``x`` with the hidden channels replaced by linear interpolation
        between the nearest visible ones, and a bool array marking the held-out channels.
    """
    n = x.shape[0]
    held = np.zeros(n, bool)
    held[phase::period] = True
    hidden = np.zeros(n, bool)
    for k in np.nonzero(held)[0]:
        hidden[max(0, k - blind):k + blind + 1] = True
    visible = np.nonzero(~hidden)[0]
    out = x.copy()
    if visible.size == 0:
        out[:] = 0.0
        return out, held
    for k in np.nonzero(hidden)[0]:
        right = np.searchsorted(visible, k)
        lo = visible[max(right - 1, 0)]
        hi = visible[min(right, visible.size - 1)]
        t = 0.0 if hi == lo else (k - lo) / (hi - lo)
        out[k] = (1 - t) * x[lo] + t * x[hi]
    return out, held


def noise2self(data: np.ndarray, *, weights: str | os.PathLike = DEFAULT_WEIGHTS,
               steps: int = 200, period: int | None = None, blind_channels: int | None = None,
               crop=(32, 64, 64), lr: float = 1e-4, uncertainty: int = 0, rng=0,
               device: str = "cpu", progress: bool = False) -> Denoised:
    """Fine-tune the U-Net on the noisy cube itself, with held-out whole channels.

    Parameters
    ----------
    data : numpy.ndarray
        Noisy (v, y, x) cube, finite, continuum-subtracted; at least ``period`` channels.
    weights : str or os.PathLike
        Starting weights (the shipped supervised U-Net by default).
    steps : int
        Fine-tuning steps (one crop each); 0 applies the starting network J-invariantly.
    period : int, optional
        Every ``period``-th channel is held out per step; default ``4 * (2 * blind + 1)``.
    blind_channels : int, optional
        Neighbours hidden on each side of a held-out channel; default from the measured
        spectral noise correlation (0 for white noise, 2 for Hanning smoothing).
    crop : tuple of 3 ints
        Training crop (v, y, x), clipped to the cube's size.
    lr : float
        Adam learning rate.
    uncertainty : int
        Noise re-samplings for an uncertainty cube (0: none, else >= 2), returned as
        ``.uncertainty``. The fine-tuned network is re-used for them; the error floor is that
        calibrated for the starting weights (``uncertainty_floor``).
    rng : int, None, numpy SeedSequence or Generator
        Crops, phases, the torch seed of the fine-tuning and the re-sampling noise (SPEC 7);
        the result is reproducible from an int or a SeedSequence.
    device : str
        torch device.
    progress : bool
        Show progress bars.

    Returns
    -------
    Denoised
        ``(data, uncertainty)``: the denoised cube (float32) and its uncertainty (None
        without ``uncertainty``).
    """
    data = np.asarray(data)
    if data.ndim != 3 or data.shape[0] < 2:
        raise ValueError(f"noise2self holds out whole channels and needs a (v, y, x) cube with "
                         f"at least 2 channels (more than period); got shape {data.shape}")
    steps = check.integer("steps", steps, 0)
    blind = blind_width(data) if blind_channels is None else check.integer(
        "blind_channels", blind_channels, 0)
    period = 4 * (2 * blind + 1) if period is None else check.integer(
        "period", period, 2 * blind + 2)
    if data.shape[0] < period:
        raise ValueError(f"the cube is too small for noise2self: it has {data.shape[0]} channels, "
                         f"and holding out every {period}-th channel (period, with "
                         f"blind_channels={blind} hidden on each side) needs at least {period}; "
                         "use a cube with more channels, or set period and blind_channels")
    lr = check.number("lr", lr, 0.0, 1.0, lo_open=True)
    uncertainty = check_samples("uncertainty", uncertainty)
    progress = check.boolean("progress", progress)
    weights = _models.weights_path(weights)
    device = _models.device(device)
    crop = [min(check.integer("crop", c, 1), n)
            for c, n in zip(check.sequence("crop", crop, 3), data.shape)]
    crop[0] = min(max(crop[0], period), data.shape[0])  # every crop holds out some channels
    gen, _ = _rng.generator(rng)
    torch_seed = rng if isinstance(rng, (int, np.integer)) else int(gen.integers(2 ** 63))
    s = _models.normalise(data)
    x = np.asarray(data, np.float32) / s

    import torch

    with torch.random.fork_rng(devices=[]):  # the network's random init too: torch's global
        model, card = load_unet(weights, device)  # random state stays the caller's
        torch.manual_seed(torch_seed)
        _fine_tune(model, x, steps, period, blind, crop, lr, gen, device, progress)
    model.eval()

    def denoise_fn(cube):
        scale = _models.normalise(cube)
        y = cube / scale
        out = np.zeros_like(y)
        for phase in range(period):
            xm, held = masked(y, phase, period, blind)
            out[held] = predict_tiled(model, network_input(model, xm), device=device)[held]
        return out * scale

    return with_uncertainty(denoise_fn, data, uncertainty,
                            floor=card.get("uncertainty_floor", 0.0) * s, rng=gen,
                            progress=progress)


def _fine_tune(model, x, steps, period, blind, crop, lr, gen, device, progress):
    import torch
    from tqdm.auto import tqdm

    if not steps:
        return
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in tqdm(range(steps), desc="noise2self", disable=not progress, leave=False):
        start = [int(gen.integers(n - c + 1)) for n, c in zip(x.shape, crop)]
        block = x[tuple(slice(a, a + c) for a, c in zip(start, crop))]
        xm, held = masked(block, int(gen.integers(period)), period, blind)
        inp = torch.from_numpy(network_input(model, xm))[None].to(device)
        target = torch.from_numpy(np.ascontiguousarray(block[held])).to(device)
        pred = model(inp)[0, 0][torch.from_numpy(held)]
        loss = ((pred - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
