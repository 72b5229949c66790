"""Adapting the U-Net to one cube's own noise, before denoising it ("adapt").

A cube unlike anything in training (another correlation, sidelobes, a spectral ripple) can be
learned from itself: its emission-free noise is real noise of exactly the kind that has to be
removed. Each adaptation step takes a block of the cube (the training crop) that no emission
touches (the smooth-and-clip mask grown by a beam), adds a simulated disk in the cube's own beam
and channels at a peak SNR of 2.5-10 (nothing in a share ``empty_fraction`` of the steps), and
fine-tunes the network to return the disk: supervised training in the cube's own noise, taken
as it is. Where fewer than :data:`MIN_FREE_BLOCKS` blocks are free of emission, blocks of half
the size in y and x (down to :data:`MIN_BLOCK_PX`) are tried: on the shipped real cubes no
32 x 64 x 64 block is free, and only the ALMA cube has enough blocks of 32 x 32 x 32. Where even those are too
few (a source in every channel of a small cube), the noise blocks are drawn with the power
spectra of the cube's emission-free voxels instead (the ``noise`` and ``block`` entries of
:func:`adapt`'s result say which). On the ALMA cube of the real-noise benchmark, adapting on
its real noise instead of drawn noise raised the median flux kept at peak SNR 5-8 from
49-57% to 82-90% (4 disks per bin).

With an uncertainty, its floor is calibrated after adapting on more disks, put into the cube's
own noise where neither emission nor a training block is (only where no place is, into drawn
noise): so it is calibrated in the real noise even of a cube whose adaptation had to draw its
noise. Each disk counts once in that calibration, as in the real-noise benchmark's coverage.
The same calibration runs without adapting (0 steps: ``gl.denoise(cube, "unet", uncertainty=4,
calibrate=True)`` or ``adapt_weights(cube, path, steps=0)``), so that the shipped network's
uncertainty is calibrated in the noise of the cube it denoises instead of the simulated noise
of its model card.

The disks (:func:`galcube_lib.sim.prior.draw_disk`): R_e log-uniform in 0.5-3 beam radii, lines
2 to min(60, 0.6 x the block's channels) channels wide (log-uniform), centred in the block.

:func:`adapt_weights` adapts once and writes the weights, so that one cube can be denoised many
times (its null check, re-samplings, re-injections) with one adaptation.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from galcube_lib._util import checks as check
from galcube_lib.denoise.deep.unet import network_input, predict_tiled
from galcube_lib.denoise.smooth_clip import smooth_clip_mask
from galcube_lib.noise.realise import realisations
from galcube_lib.sim.prior import draw_disk
from galcube_lib.sim.simulate import stamp

#: the injected disks: R_e in beam radii, line FWHM in channels, peak SNR
DISKS = {"r_eff_beam_radii": (0.5, 3.0), "line_channels": (2.0, 60.0), "peak_snr": (2.5, 10.0)}
#: random placements tried for an emission-free block before the noise is drawn instead
TRIES = 200
#: disks injected into the cube's own noise on which an adapted network's uncertainty floor is
#: calibrated (when an uncertainty is asked for): with 12, the coverage that the floor gave 60
#: other disks in the ALMA cube's noise ranged over 0.61-0.74 between random sets of them (5th
#: to 95th percentile), with 32 over 0.68-0.72
CALIBRATION_BLOCKS = 32
#: share of a calibration block that must be free of emission and of the training blocks (the
#: error is scored on the disk's voxels there)
CALIBRATION_FREE_SHARE = 0.5
#: emission-free blocks needed to adapt on the cube's noise as it is (else it is drawn): on
#: the WSRT cube's 8 free 32 x 32 x 32 blocks, 150 steps learnt those blocks' noise and kept
#: 41-68% of the flux of disks at peak SNR 5-10 (62-91% with drawn noise; medians of 4 disks
#: per bin)
MIN_FREE_BLOCKS = 20
#: the smallest block (y and x, px) tried for them
MIN_BLOCK_PX = 32


def emission_free_blocks(x: np.ndarray, crop, beam_fwhm_px, beam_pa_deg: float, gen,
                         mask=None) -> list:
    """Corners of blocks of size ``crop`` that no emission touches (at most ``TRIES`` tried).

    Parameters
    ----------
    x : numpy.ndarray
        The (v, y, x) cube in noise units (blanks 0).
    crop : tuple of 3 ints
        Block size, at most the cube's.
    beam_fwhm_px : (float, float)
        Beam FWHM in pixels.
    beam_pa_deg : float
        Beam position angle.
    gen : numpy.random.Generator
        Chooses the placements tried.
    mask : bool array, optional
        The cube's emission (default its :func:`galcube_lib.denoise.smooth_clip.smooth_clip_mask`).

    Returns
    -------
    list of tuple
        Distinct corners (v, y, x); empty when none is free.
    """
    if mask is None:
        mask = smooth_clip_mask(x, beam_fwhm_px=beam_fwhm_px, beam_pa_deg=beam_pa_deg)
    return _free_corners(_busy(x, mask, beam_fwhm_px), crop, gen)


def _busy(x, mask, beam):
    """Voxels that the emission ``mask``, grown by a beam and a channel, or a blank touches."""
    grow = max(1, int(round(max(beam))))
    return ndimage.binary_dilation(mask, np.ones((3, 2 * grow + 1, 2 * grow + 1), bool)) | (x == 0)


def _slices(corner, crop):
    return tuple(slice(a, a + c) for a, c in zip(corner, crop))


def _free_corners(busy, crop, gen, free_share: float = 1.0) -> list:
    """Distinct corners (of ``TRIES`` random ones) of blocks of ``crop`` with at least
    ``free_share`` of their voxels not ``busy``."""
    corners = {_random_corner(busy.shape, crop, gen) for _ in range(TRIES)}
    return sorted(c for c in corners if 1.0 - busy[_slices(c, crop)].mean() >= free_share)


def _noise_draws(x, crop, beam, beam_pa_deg, gen, train: bool = True) -> dict:
    """Where the adaptation's noise blocks come from and where its uncertainty is calibrated.

    Blocks of ``crop`` free of emission are tried first, then blocks of half its size in y and
    x (down to :data:`MIN_BLOCK_PX`) until :data:`MIN_FREE_BLOCKS` of them are free; every
    fifth is kept back. With fewer, the training blocks (of ``crop``) are drawn like the
    emission-free voxels. The calibration blocks are the cube's own, at places where at least
    :data:`CALIBRATION_FREE_SHARE` of the voxels are free of emission and of the training
    blocks; where there is no such place, the free blocks kept back from training, or noise
    drawn like the rest. With ``train`` False (a calibration-only pass) no block is reserved
    for training.

    Returns ``train`` (() -> a noise block), ``calibrate`` (() -> (a noise block, the voxels
    on which to score it or None for all)), and the ``noise``, ``blocks`` (free blocks found),
    ``block`` (its size) and ``calibration`` entries of :func:`adapt`'s result."""
    mask = smooth_clip_mask(x, beam_fwhm_px=beam, beam_pa_deg=beam_pa_deg)
    busy = _busy(x, mask, beam)
    size = crop
    corners = _free_corners(busy, size, gen)
    while len(corners) < MIN_FREE_BLOCKS and min(size[1:]) // 2 >= MIN_BLOCK_PX:
        size = (size[0], size[1] // 2, size[2] // 2)
        corners = _free_corners(busy, size, gen)
    pick = lambda pool: pool[int(gen.integers(len(pool)))]  # noqa: E731
    info = {"blocks": len(corners)}
    if len(corners) >= MIN_FREE_BLOCKS:
        crop = size
        held = corners[::5] if train else corners
        trained = [c for c in corners if c not in held]
        for corner in trained:
            busy[_slices(corner, crop)] = True
        info.update(noise="emission-free blocks of the cube",
                    train=lambda: x[_slices(pick(trained), crop)])
        calibration = ("emission-free blocks of the cube kept from training",
                       lambda: (x[_slices(pick(held), crop)], None))
    else:
        template = np.where(mask, 0.0, x)
        template *= 1.0 / max(float(np.std(template)), 1e-12)
        drawn = realisations(template, x.shape, 2, gen)
        at_random = lambda cube: cube[_slices(_random_corner(x.shape, crop, gen), crop)]  # noqa: E731
        info.update(noise="drawn like its emission-free voxels", blocks=0,
                    train=lambda: at_random(drawn[0]))
        calibration = ("drawn like its emission-free voxels", lambda: (at_random(drawn[1]), None))
    places = _free_corners(busy, crop, gen, CALIBRATION_FREE_SHARE)
    if places:
        def calibrate():
            where = _slices(pick(places), crop)
            return x[where], ~busy[where]
        calibration = ("the cube's noise, away from its emission and the training blocks",
                       calibrate)
    info["calibration"], info["calibrate"] = calibration
    return {**info, "block": list(crop)}


def _random_corner(shape, crop, gen) -> tuple:
    """A random corner of a block of ``crop`` in ``shape``."""
    return tuple(int(gen.integers(n - c + 1)) for n, c in zip(shape, crop))


def adapt(model, x: np.ndarray, *, beam_fwhm_px, beam_pa_deg: float = 0.0,
          channel_kms: float = 30.0, steps: int = 150, crop=(32, 64, 64), lr: float = 5e-5,
          empty_fraction: float = 0.2, calibration_blocks: int = 0, n_samples: int = 4,
          gen=None, device: str = "cpu", progress: bool = False) -> dict:
    """Fine-tune ``model`` in place on disks injected into the cube's own noise.

    Parameters
    ----------
    model : torch.nn.Module
        The U-Net (1 or 2 input channels), trained in place and left in eval mode.
    x : numpy.ndarray
        The (v, y, x) cube in noise units (blanks 0).
    beam_fwhm_px : float or (float, float)
        The cube's beam FWHM in pixels.
    beam_pa_deg : float
        Its position angle.
    channel_kms : float
        The channel width in km/s (> 0).
    steps : int
        Adaptation steps (one block each), >= 0; 0 (with ``calibration_blocks``) is a
        calibration-only pass: the network is left as it is and only its uncertainty floor is
        calibrated in the cube's noise.
    crop : tuple of 3 ints
        Block size (v, y, x), clipped to the cube; halved in y and x where too few blocks of
        it are free of emission (see the module).
    lr : float
        Adam learning rate.
    empty_fraction : float
        Share of the steps with no disk (teaching not to invent flux in this noise).
    calibration_blocks : int
        Disks, each in a block of the cube's own noise away from its emission and from the
        training blocks (every fifth free block is kept back for this), on which the
        uncertainty floor is calibrated after adapting: the beta for which the ``n_samples``
        re-sampling sigma plus beta covers 68% of each disk's voxels (truth above 5% of its
        peak, where no emission is) on average over the disks, and one such beta per bin of
        the local peak of the denoised disk; 0 skips it.
    n_samples : int
        Re-samplings of that uncertainty, >= 2 (as ``unet(uncertainty=...)``).
    gen : numpy.random.Generator
        Randomness of blocks, disks and SNRs.
    device : str
        torch device.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        ``steps``, ``noise`` ("emission-free blocks of the cube" or "drawn like its
        emission-free voxels"), ``blocks`` (how many distinct free blocks), ``block`` (the
        block size used), with ``steps`` the ``loss_first`` and
        ``loss_last`` (mean of the first and last tenth of the steps, in noise units squared),
        and with ``calibration_blocks`` the ``uncertainty_floor`` beta (noise units), the
        ``uncertainty_floor_by_peak`` table (one beta per bin of the denoised cube's local peak
        within two beams: :func:`galcube_lib.denoise.deep.uncertainty.calibrate_peak_floor`,
        which the adapted U-Net uses) and the
        ``calibration`` noise ("the cube's noise, away from its emission and the training
        blocks"; where no block is half free of them, "emission-free blocks of the cube kept
        from training" or "drawn like its emission-free voxels").
    """
    import torch
    from tqdm.auto import tqdm

    from galcube_lib.denoise.deep.uncertainty import (calibrate_floor, calibrate_peak_floor,
                                                      local_peak, with_uncertainty)

    calibration_blocks = check.integer("calibration_blocks", calibration_blocks, 0)
    steps = check.integer("steps", steps, 0 if calibration_blocks else 1)
    lr = check.number("lr", lr, 0.0, 1.0, lo_open=True)
    empty_fraction = check.number("empty_fraction", empty_fraction, 0.0, 1.0)
    n_samples = check.integer("n_samples", n_samples, 2)
    channel_kms = check.number("channel_kms", abs(channel_kms), 0.0, lo_open=True)
    beam = ((float(beam_fwhm_px),) * 2 if np.ndim(beam_fwhm_px) == 0
            else tuple(float(b) for b in beam_fwhm_px))
    gen = np.random.default_rng() if gen is None else gen
    crop = tuple(min(c, n) for c, n in zip(crop, x.shape))
    draws = _noise_draws(x, crop, beam, beam_pa_deg, gen, train=steps > 0)
    crop = tuple(draws["block"])
    size = min(crop[1:])
    y0, x0 = ((c - size) // 2 for c in crop[1:])
    lines = (DISKS["line_channels"][0], min(DISKS["line_channels"][1], 0.6 * crop[0]))

    def sample(noise, empty: float):
        truth = np.zeros(crop, np.float32)
        if gen.random() >= empty:
            disk = stamp(draw_disk(gen, beam, channel_kms, DISKS["r_eff_beam_radii"], lines),
                         crop[0], size, channel_kms, beam, beam_pa_deg)
            if disk.max() > 0:
                truth[:, y0:y0 + size, x0:x0 + size] = disk * (gen.uniform(*DISKS["peak_snr"])
                                                               / float(disk.max()))
        return np.asarray(noise, np.float32) + truth, truth

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in tqdm(range(steps), desc="adapt unet", disable=not progress, leave=False):
        noisy, truth = sample(draws["train"](), empty_fraction)
        inp = torch.from_numpy(network_input(model, noisy))[None].to(device)
        target = torch.from_numpy(truth)[None, None].to(device)
        loss = ((model(inp) - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    info = {"steps": steps, **{k: draws[k] for k in ("noise", "blocks", "block")}}
    if steps:
        tenth = max(1, steps // 10)
        info.update(loss_first=float(np.mean(losses[:tenth])),
                    loss_last=float(np.mean(losses[-tenth:])))
    if calibration_blocks:
        errors, sigmas, peaks, weights = [], [], [], []
        window = 2 * int(round(max(beam))) + 1
        run = lambda cube: predict_tiled(model, network_input(model, cube),  # noqa: E731
                                         device=device)
        for _ in tqdm(range(calibration_blocks), desc="calibrate uncertainty",
                      disable=not progress, leave=False):
            noise, free = draws["calibrate"]()
            noisy, truth = sample(noise, 0.0)
            out, sigma = with_uncertainty(run, noisy, n_samples, rng=gen)
            disk = truth > 0.05 * truth.max() if truth.max() > 0 else np.zeros(crop, bool)
            if free is not None:
                disk &= free
            errors.append(np.abs(out - truth)[disk])
            sigmas.append(sigma[disk])
            peaks.append(local_peak(out, window)[disk])
            weights.append(np.full(int(disk.sum()), 1.0 / max(int(disk.sum()), 1)))
        errors, sigmas, peaks, weights = (np.concatenate(a) for a in (errors, sigmas, peaks,
                                                                      weights))
        if not errors.size:
            raise ValueError(f"the {calibration_blocks} calibration disks all fell on the cube's "
                             "emission; give a cube with more room around it, or uncertainty=0")
        info["calibration"] = draws["calibration"]
        info["uncertainty_floor"] = calibrate_floor(errors, sigmas, np.ones_like(errors),
                                                    weights=weights)
        info["uncertainty_floor_by_peak"] = calibrate_peak_floor(errors, sigmas, peaks,
                                                                 weights, window)
    return info


def adapt_loaded(model, card: dict, data: np.ndarray, *, beam_fwhm_px, beam_pa_deg: float,
                 channel_kms: float, steps: int, uncertainty: int, gen, torch_seed=None,
                 device: str = "cpu", progress: bool = False) -> dict:
    """Adapt a loaded U-Net in place to a cube given in its own units (:func:`adapt` on the
    cube in noise units), and return the adapted network's model card.

    Parameters
    ----------
    model : torch.nn.Module
        The U-Net, adapted in place.
    card : dict
        Its model card.
    data : numpy.ndarray
        The (v, y, x) cube (blanks 0), in any units.
    beam_fwhm_px, beam_pa_deg, channel_kms, steps
        As :func:`adapt`.
    uncertainty : int
        Re-samplings the adapted network's uncertainty will use (0: none); with any, its floor
        is calibrated on :data:`CALIBRATION_BLOCKS` disks in the cube's own noise (see :func:`adapt`).
    gen : numpy.random.Generator
        Randomness of blocks, disks and SNRs.
    torch_seed : int, optional
        Seed of torch's random state during the adaptation (default drawn from ``gen``); the
        caller's torch random state is kept.
    device, progress
        As :func:`adapt`.

    Returns
    -------
    dict
        ``card`` with ``adapted`` (:func:`adapt`'s result) and, with ``uncertainty``, the
        calibrated ``uncertainty_floor``.
    """
    import torch

    from galcube_lib.denoise.deep.weights import normalise

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(gen.integers(2 ** 63)) if torch_seed is None else int(torch_seed))
        info = adapt(model, data / normalise(data), beam_fwhm_px=beam_fwhm_px,
                     beam_pa_deg=beam_pa_deg, channel_kms=channel_kms, steps=steps,
                     calibration_blocks=CALIBRATION_BLOCKS if uncertainty else 0,
                     n_samples=max(uncertainty, 2), gen=gen, device=device, progress=progress)
    card = {**card, "adapted": info}
    for key in ("uncertainty_floor", "uncertainty_floor_by_peak"):
        if key in info:
            card[key] = info[key]
    return card


def adapt_weights(cube, path, *, weights="unet3d", steps: int = 150, uncertainty: int = 4,
                  rng=0, device: str = "cpu", progress: bool = True):
    """Adapt the U-Net to one cube's own noise once, and write the adapted weights.

    ``gl.denoise(cube, "unet", weights=path)`` then denoises with them without adapting again:
    the cube itself, its null check, its uncertainty re-samplings and re-injections into its
    noise (:func:`galcube_lib.metrics.real.evaluate_real`). ``gl.denoise(cube, "unet",
    adapt=steps)`` adapts on every call instead (and once more for the null check of a cube
    read from a file, on its own-noise draw).

    Parameters
    ----------
    cube : Cube
        The cube (its beam and channel width shape the injected disks).
    path : str or os.PathLike
        The ``.pt`` file to write (atomically), with its model card beside it as ``.json``.
    weights : str or os.PathLike
        The U-Net to start from: a shipped model name or a ``.pt`` file (default "unet3d").
    steps : int
        Adaptation steps, >= 1 (default 150: about 85 s for a 64 x 128 x 128 cube on 2 CPU
        cores), or 0 with ``uncertainty``: a calibration-only pass, which writes the network
        unchanged with an uncertainty floor calibrated in this cube's noise.
    uncertainty : int
        Re-samplings the uncertainty will use, 0 or >= 2 (default 4); with any, the card's
        ``uncertainty_floor`` is calibrated on blocks of the cube's own noise.
    rng : int, None or numpy.random.Generator
        Randomness of the adaptation (default 0, repeatable).
    device : str
        torch device.
    progress : bool
        Show a progress bar.

    Returns
    -------
    pathlib.Path
        The weights file. Its card holds the starting card, ``adapted`` (steps, the noise
        used, losses) and ``adapted_to`` (the cube's shape, beam and channel width).
    """
    from pathlib import Path

    from galcube_lib._util import rng as _rng
    from galcube_lib.denoise import method_input
    from galcube_lib.denoise.deep import weights as _models
    from galcube_lib.denoise.deep.uncertainty import check_samples
    from galcube_lib.denoise.deep.unet import load_unet
    from galcube_lib.io.cube import check_cube

    check_cube("cube", cube)
    path = Path(path)
    if path.suffix != ".pt":
        raise ValueError(f"path must name a .pt file, got {str(path)!r}")
    uncertainty = check_samples("uncertainty", uncertainty)
    steps = check.integer("steps", steps, 0 if uncertainty else 1)  # 0: calibration only
    progress = check.boolean("progress", progress)
    torch_seed = rng if isinstance(rng, (int, np.integer)) else None
    gen, _ = _rng.generator(rng)
    data = method_input(cube)[0]
    import torch

    with torch.random.fork_rng(devices=[]):
        model, card = load_unet(weights, _models.device(device))
    card = adapt_loaded(model, card, data, beam_fwhm_px=cube.beam_fwhm_px,
                        beam_pa_deg=cube.beam_pa_deg, channel_kms=cube.channel_kms, steps=steps,
                        uncertainty=uncertainty, gen=gen, torch_seed=torch_seed,
                        device=_models.device(device), progress=progress)
    card["adapted_to"] = {"shape": list(cube.shape),
                          "beam_fwhm_px": [float(b) for b in cube.beam_fwhm_px],
                          "channel_kms": float(cube.channel_kms),
                          "from_weights": str(weights)}
    return _models.save(model, path, card)
