"""Self-supervised denoising of a single cube with no clean target ("noise2self").

Noise2Self (Batson & Royer 2019): a function f that never looks at the noise of the voxels it
predicts (J-invariance) cannot learn to copy that noise, so minimising ||f(x)_J - x_J||^2 over
held-out sets J trains it towards the clean signal, on the noisy cube alone.

Beam-correlated noise defeats pixel-wise blind spots: the neighbours of a held-out pixel carry
most of its noise. The held-out sets here are whole channels: every ``period``-th channel, at a
random phase. Along the spectrum the noise may be correlated too (Hanning smoothing: 2/3 at lag
1, 1/6 at lag 2), so the neighbours of a held-out channel k are not hidden but *decorrelated*
from it with the measured spectral correlation rho_L at lag L:
x'_j = (x_j - rho_L x_k) / (1 - rho_L) for |j - k| = L up to the last lag whose correlation
exceeds ``CORRELATION_LIMIT``. For Gaussian noise whose correlation is separable (spatial x
spectral) the noise of x'_j is independent of channel k's at every pixel, so the network cannot
learn k's noise from it; dividing by 1 - rho_L keeps a smooth line's amplitude. The held-out
channel itself is replaced by linear interpolation between its decorrelated neighbours, and the
loss is taken on the held-out channels only. Hiding the correlated neighbours instead (the
earlier scheme) left gaps of 2L + 1 channels to interpolate over, which widened the lines on
Hanning-correlated noise.

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

#: spectral noise correlation above which neighbouring channels are decorrelated
CORRELATION_LIMIT = 0.1
#: the largest spectral correlation a neighbour can be decorrelated at (x' divides by 1 - rho)
MAX_CORRELATION = 0.9


def count_correlated_lags(data: np.ndarray) -> int:
    """Channels on each side of a held-out channel whose noise is correlated with it.

    Parameters
    ----------
    data : numpy.ndarray
        The noisy (v, y, x) cube.

    Returns
    -------
    int
        The largest lag whose spectral noise correlation exceeds ``CORRELATION_LIMIT`` (0 for
        spectrally white noise, 2 for Hanning smoothing).
    """
    corr = spectral_correlation(data)
    above = np.nonzero(corr > CORRELATION_LIMIT)[0]
    return int(above[-1] + 1) if above.size else 0


def masked(x: np.ndarray, phase: int, period: int, acf=()):
    """``x`` with its held-out channels hidden and their neighbours decorrelated from them.

    Parameters
    ----------
    x : numpy.ndarray
        (v, y, x) array.
    phase, period : int
        Channels ``phase + k * period`` are held out; ``period`` > 2 ``len(acf)`` + 1, so that
        no channel neighbours two held-out ones and each keeps a visible one between.
    acf : sequence of float
        The noise's spectral correlation at lags 1, 2, ... (each below ``MAX_CORRELATION``):
        a neighbour at lag L of a held-out channel k becomes (x_L - acf[L-1] x_k) /
        (1 - acf[L-1]).

    Returns
    -------
    tuple
        ``(masked, held)``: the network's input, and a bool array marking the held-out
        channels, which are replaced by linear interpolation between the nearest other
        (decorrelated) channels.
    """
    n = x.shape[0]
    held = np.zeros(n, bool)
    held[phase::period] = True
    out = np.array(x, copy=True)
    for k in np.nonzero(held)[0]:
        for lag, rho in enumerate(acf, 1):
            for j in (k - lag, k + lag):
                if 0 <= j < n and not held[j]:
                    out[j] = (x[j] - rho * x[k]) / (1.0 - rho)
    visible = np.nonzero(~held)[0]
    if visible.size == 0:
        out[:] = 0.0
        return out, held
    for k in np.nonzero(held)[0]:
        right = np.searchsorted(visible, k)
        lo = visible[max(right - 1, 0)]
        hi = visible[min(right, visible.size - 1)]
        t = 0.0 if hi == lo else (k - lo) / (hi - lo)
        out[k] = (1 - t) * out[lo] + t * out[hi]
    return out, held


def checked_options(sample: np.ndarray, shape, *, steps, period, correlated_lags, crop, lr):
    """noise2self's options checked, with the lags and correlations measured on ``sample``.

    Parameters
    ----------
    sample : numpy.ndarray
        The (v, y, x) cube, or (for a cube of any size) whole spectra of a part of it, on which
        the spectral noise correlation is measured.
    shape : tuple of 3 ints
        (v, y, x) of the whole cube.
    steps, period, correlated_lags, crop, lr
        As for :func:`noise2self`.

    Returns
    -------
    tuple
        ``(steps, lags, period, acf, crop, lr)``: the checked options, the lags decorrelated,
        their correlations, and the crop clipped to the cube (at least ``period`` channels).
    """
    if len(shape) != 3 or shape[0] < 2:
        raise ValueError(f"noise2self holds out whole channels and needs a (v, y, x) cube with "
                         f"at least 2 channels (more than period); got shape {tuple(shape)}")
    steps = check.integer("steps", steps, 0)
    lags = count_correlated_lags(sample) if correlated_lags is None else check.integer(
        "correlated_lags", correlated_lags, 0, shape[0] - 1)
    period = 4 * (lags + 1) if period is None else check.integer("period", period, 2 * lags + 2)
    if shape[0] < period:
        raise ValueError(f"the cube is too small for noise2self: it has {shape[0]} channels, "
                         f"and holding out every {period}-th channel (period, with "
                         f"correlated_lags={lags} decorrelated on each side) needs at least "
                         f"{period}; use a cube with more channels, or set period and "
                         "correlated_lags")
    acf = tuple(spectral_correlation(sample, lags)) if lags else ()
    if any(abs(rho) >= MAX_CORRELATION for rho in acf):
        raise ValueError(f"the spectral noise correlation at lags 1..{lags} is "
                         f"{[round(r, 2) for r in acf]}; noise2self decorrelates neighbours only "
                         f"up to |rho| < {MAX_CORRELATION}: pass a smaller correlated_lags")
    lr = check.number("lr", lr, 0.0, 1.0, lo_open=True)
    crop = [min(check.integer("crop", c, 1), n)
            for c, n in zip(check.sequence("crop", crop, 3), shape)]
    crop[0] = min(max(crop[0], period), shape[0])  # every crop holds out some channels
    return steps, lags, period, acf, crop, lr


@check.renamed(blind_channels="correlated_lags")
def noise2self(data: np.ndarray, *, weights: str | os.PathLike = DEFAULT_WEIGHTS,
               steps: int = 200, period: int | None = None, correlated_lags: int | None = None,
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
        Every ``period``-th channel is held out per step, at least 2 ``correlated_lags`` + 2;
        default ``4 * (correlated_lags + 1)``.
    correlated_lags : int, optional
        Neighbours decorrelated on each side of a held-out channel, with the spectral noise
        correlation measured on ``data`` at those lags (module docstring); default
        :func:`count_correlated_lags` (0 for white noise, 2 for Hanning smoothing). (Formerly
        ``blind_channels``, which hid them, deprecated.)
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
    steps, lags, period, acf, crop, lr = checked_options(data, data.shape, steps=steps,
                                                         period=period,
                                                         correlated_lags=correlated_lags,
                                                         crop=crop, lr=lr)
    uncertainty = check_samples("uncertainty", uncertainty)
    progress = check.boolean("progress", progress)
    weights = _models.weights_path(weights)
    device = _models.device(device)
    gen, _ = _rng.generator(rng)
    torch_seed = rng if isinstance(rng, (int, np.integer)) else int(gen.integers(2 ** 63))
    s = _models.normalise(data)
    x = np.asarray(data, np.float32) / s

    model, card = fine_tuned(weights, x, steps=steps, period=period, acf=acf, crop=crop, lr=lr,
                             gen=gen, torch_seed=torch_seed, device=device, progress=progress)

    def denoise_fn(cube):
        scale = _models.normalise(cube)
        y = cube / scale
        out = np.zeros_like(y)
        for phase in range(period):
            xm, held = masked(y, phase, period, acf)
            out[held] = predict_tiled(model, network_input(model, xm), device=device)[held]
        return out * scale

    return with_uncertainty(denoise_fn, data, uncertainty,
                            floor=card.get("uncertainty_floor", 0.0) * s, rng=gen,
                            progress=progress)


def fine_tuned(weights, x, *, steps, period, acf, crop, lr, gen, torch_seed, device, progress):
    """The U-Net fine-tuned with held-out channels on crops of ``x``, in eval mode.

    Parameters
    ----------
    weights : str or os.PathLike
        Starting weights.
    x : numpy.ndarray or array-like
        The cube in noise units: anything with ``shape`` and numpy indexing by a box (a
        reader of a cube of any size gives one crop at a time).
    steps, period, acf, crop, lr
        As :func:`checked_options` gives them.
    gen : numpy.random.Generator
        Draws the crops and phases.
    torch_seed : int
        Seed of torch's random state during the fine-tuning (the caller's state is kept).
    device : str
        torch device.
    progress : bool
        Show a progress bar.

    Returns
    -------
    tuple
        ``(network, card)``.
    """
    import torch

    with torch.random.fork_rng(devices=[]):  # the network's random init too: torch's global
        model, card = load_unet(weights, device)  # random state stays the caller's
        torch.manual_seed(torch_seed)
        _fine_tune(model, x, steps, period, acf, crop, lr, gen, device, progress)
    return model.eval(), card


def _fine_tune(model, x, steps, period, acf, crop, lr, gen, device, progress):
    import torch
    from tqdm.auto import tqdm

    if not steps:
        return
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in tqdm(range(steps), desc="noise2self", disable=not progress, leave=False):
        start = [int(gen.integers(n - c + 1)) for n, c in zip(x.shape, crop)]
        block = x[tuple(slice(a, a + c) for a, c in zip(start, crop))]
        xm, held = masked(block, int(gen.integers(period)), period, acf)
        inp = torch.from_numpy(network_input(model, xm))[None].to(device)
        target = torch.from_numpy(np.ascontiguousarray(block[held])).to(device)
        pred = model(inp)[0, 0][torch.from_numpy(held)]
        loss = ((pred - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
