"""Adapting the U-Net to one cube's own noise, before denoising it ("adapt").

A cube unlike anything in training (another correlation, sidelobes, a spectral ripple) can be
learned from itself: its emission-free noise is real noise of exactly the kind that has to be
removed. Each adaptation step takes a block of the cube (the training crop) that no emission
touches (the smooth-and-clip mask grown by a beam), adds a simulated disk in the cube's own beam
and channels at a peak SNR of 2.5-10 (nothing in a share ``empty_fraction`` of the steps), and
fine-tunes the network to return the disk: supervised training in the cube's own noise, taken
as it is. Where no block is free of emission (a source in every channel of a small cube), the
noise blocks are drawn with the power spectra of the cube's emission-free voxels instead
(the ``noise`` entry of :func:`adapt`'s result says which).

The disks (:func:`galcube_lib.sim.prior.draw_disk`): R_e log-uniform in 0.5-3 beam radii, lines
2 to min(60, 0.6 x the block's channels) channels wide (log-uniform), centred in the block.
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
    are made of, and how many emission-free blocks were found."""
    mask = smooth_clip_mask(x, beam_fwhm_px=beam, beam_pa_deg=beam_pa_deg)
    corners = emission_free_blocks(x, crop, beam, beam_pa_deg, gen, mask)
    block = lambda array, corner: array[tuple(slice(a, a + c)  # noqa: E731
                                              for a, c in zip(corner, crop))]
    if corners:
        held = corners[::5] if len(corners) >= 5 else corners
        train = [c for c in corners if c not in held] or corners
        draw = lambda pool: lambda: block(x, pool[int(gen.integers(len(pool)))])  # noqa: E731
        return draw(train), draw(held), "emission-free blocks of the cube", len(corners)
    template = np.where(mask, 0.0, x)
    template *= 1.0 / max(float(np.std(template)), 1e-12)
    pool = realisations(template, x.shape, 2, gen)
    draw = lambda cube: lambda: block(cube, [int(gen.integers(n - c + 1))  # noqa: E731
                                             for n, c in zip(x.shape, crop)])
    return draw(pool[0]), draw(pool[1]), "drawn like its emission-free voxels", 0


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
        Block size (v, y, x), clipped to the cube.
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
        emission-free voxels"), ``blocks`` (how many distinct free blocks), ``loss_first`` and
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
    train_noise, held_noise, source, n_blocks = _noise_draws(x, crop, beam, beam_pa_deg, gen)
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
    info = {"steps": steps, "noise": source, "blocks": n_blocks,
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
