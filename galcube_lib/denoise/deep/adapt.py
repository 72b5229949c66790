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
#: held-out blocks of the cube's own noise, with injected disks, on which an adapted network's
#: uncertainty floor is calibrated (when an uncertainty is asked for)
CALIBRATION_BLOCKS = 12
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
    grow = max(1, int(round(max(beam_fwhm_px))))
    busy = ndimage.binary_dilation(mask, np.ones((3, 2 * grow + 1, 2 * grow + 1), bool)) | (x == 0)
    corners = {tuple(int(gen.integers(n - c + 1)) for n, c in zip(x.shape, crop))
               for _ in range(TRIES)}
    return sorted(c for c in corners
                  if not busy[tuple(slice(a, a + s) for a, s in zip(c, crop))].any())


def _noise_draws(x, crop, beam, beam_pa_deg, gen):
    """Two samplers of noise blocks (training, calibration: apart where possible), what they
    are made of, how many emission-free blocks were found, and the block size.

    Blocks of ``crop`` are tried first, then blocks of half its size in y and x (down to
    :data:`MIN_BLOCK_PX`) until :data:`MIN_FREE_BLOCKS` of them are free of emission; with
    fewer, the blocks (of ``crop``) are drawn like the emission-free voxels."""
    mask = smooth_clip_mask(x, beam_fwhm_px=beam, beam_pa_deg=beam_pa_deg)
    size = crop
    corners = emission_free_blocks(x, size, beam, beam_pa_deg, gen, mask)
    while len(corners) < MIN_FREE_BLOCKS and min(size[1:]) // 2 >= MIN_BLOCK_PX:
        size = (size[0], size[1] // 2, size[2] // 2)
        corners = emission_free_blocks(x, size, beam, beam_pa_deg, gen, mask)
    if len(corners) >= MIN_FREE_BLOCKS:
        crop = size
    block = lambda array, corner: array[tuple(slice(a, a + c)  # noqa: E731
                                              for a, c in zip(corner, crop))]
    if len(corners) >= MIN_FREE_BLOCKS:
        held = corners[::5] if len(corners) >= 5 else corners
        train = [c for c in corners if c not in held] or corners
        draw = lambda pool: lambda: block(x, pool[int(gen.integers(len(pool)))])  # noqa: E731
        return draw(train), draw(held), "emission-free blocks of the cube", len(corners), crop
    template = np.where(mask, 0.0, x)
    template *= 1.0 / max(float(np.std(template)), 1e-12)
    pool = realisations(template, x.shape, 2, gen)
    draw = lambda cube: lambda: block(cube, [int(gen.integers(n - c + 1))  # noqa: E731
                                             for n, c in zip(x.shape, crop)])
    return draw(pool[0]), draw(pool[1]), "drawn like its emission-free voxels", 0, crop


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
        Adaptation steps (one block each), >= 1.
    crop : tuple of 3 ints
        Block size (v, y, x), clipped to the cube; halved in y and x where too few blocks of
        it are free of emission (see the module).
    lr : float
        Adam learning rate.
    empty_fraction : float
        Share of the steps with no disk (teaching not to invent flux in this noise).
    calibration_blocks : int
        Blocks with a disk, their noise apart from the training blocks' (every fifth free
        block is kept back), on which the uncertainty floor is calibrated after adapting:
        the beta for which the ``n_samples`` re-sampling sigma plus beta covers 68% of the
        disks' voxels (truth above 5% of its peak) in this cube's own noise; 0 skips it.
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
        block size used), ``loss_first`` and
        ``loss_last`` (mean of the first and last tenth of the steps, in noise units squared),
        and with ``calibration_blocks`` the ``uncertainty_floor`` beta (noise units).
    """
    import torch
    from tqdm.auto import tqdm

    from galcube_lib.denoise.deep.uncertainty import calibrate_floor, with_uncertainty

    steps = check.integer("steps", steps, 1)
    lr = check.number("lr", lr, 0.0, 1.0, lo_open=True)
    empty_fraction = check.number("empty_fraction", empty_fraction, 0.0, 1.0)
    calibration_blocks = check.integer("calibration_blocks", calibration_blocks, 0)
    n_samples = check.integer("n_samples", n_samples, 2)
    channel_kms = check.number("channel_kms", abs(channel_kms), 0.0, lo_open=True)
    beam = ((float(beam_fwhm_px),) * 2 if np.ndim(beam_fwhm_px) == 0
            else tuple(float(b) for b in beam_fwhm_px))
    gen = np.random.default_rng() if gen is None else gen
    crop = tuple(min(c, n) for c, n in zip(crop, x.shape))
    train_noise, held_noise, source, n_blocks, crop = _noise_draws(x, crop, beam, beam_pa_deg,
                                                                   gen)
    size = min(crop[1:])
    y0, x0 = ((c - size) // 2 for c in crop[1:])
    lines = (DISKS["line_channels"][0], min(DISKS["line_channels"][1], 0.6 * crop[0]))

    def sample(noise_of, empty: float):
        truth = np.zeros(crop, np.float32)
        if gen.random() >= empty:
            disk = stamp(draw_disk(gen, beam, channel_kms, DISKS["r_eff_beam_radii"], lines),
                         crop[0], size, channel_kms, beam, beam_pa_deg)
            if disk.max() > 0:
                truth[:, y0:y0 + size, x0:x0 + size] = disk * (gen.uniform(*DISKS["peak_snr"])
                                                               / float(disk.max()))
        return np.asarray(noise_of(), np.float32) + truth, truth

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in tqdm(range(steps), desc="adapt unet", disable=not progress, leave=False):
        noisy, truth = sample(train_noise, empty_fraction)
        inp = torch.from_numpy(network_input(model, noisy))[None].to(device)
        target = torch.from_numpy(truth)[None, None].to(device)
        loss = ((model(inp) - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    tenth = max(1, steps // 10)
    info = {"steps": steps, "noise": source, "blocks": n_blocks, "block": list(crop),
            "loss_first": float(np.mean(losses[:tenth])),
            "loss_last": float(np.mean(losses[-tenth:]))}
    if calibration_blocks:
        errors, sigmas = [], []
        run = lambda cube: predict_tiled(model, network_input(model, cube),  # noqa: E731
                                         device=device)
        for _ in tqdm(range(calibration_blocks), desc="calibrate uncertainty",
                      disable=not progress, leave=False):
            noisy, truth = sample(held_noise, 0.0)
            out, sigma = with_uncertainty(run, noisy, n_samples, rng=gen)
            disk = truth > 0.05 * truth.max() if truth.max() > 0 else np.zeros(crop, bool)
            errors.append(np.abs(out - truth)[disk])
            sigmas.append(sigma[disk])
        errors, sigmas = np.concatenate(errors), np.concatenate(sigmas)
        info["uncertainty_floor"] = calibrate_floor(errors, sigmas, np.ones_like(errors))
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
        is calibrated on :data:`CALIBRATION_BLOCKS` held-out blocks of the cube's noise.
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
    if "uncertainty_floor" in info:
        card["uncertainty_floor"] = info["uncertainty_floor"]
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
        cores).
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
    steps = check.integer("steps", steps, 1)
    uncertainty = check_samples("uncertainty", uncertainty)
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
