"""Training the supervised 3D U-Net ("unet") on simulated cubes.

Training pairs come from the simulator on the fly (a fresh scene and fresh noise at a peak SNR
drawn from the prior for every sample) or from a store made by ``generate_dataset``. The noise
is the benchmark's beam noise (``noise="beam"``) or, with ``noise="family"``, interferometric
noise drawn from :func:`galcube_lib.noise.models.draw_noise_model` (correlation 0.7-1.5 beams,
sidelobes, Hanning / lag-k / measured spectral correlation, a primary-beam level) on scenes
whose channel width (8-60 km/s over 96 channels) and beam (2.5-6 px) vary, so that lines span
2-64 channels. With ``level_input`` the network also sees the noise level map
(:func:`galcube_lib.denoise.deep.unet.level_channel`) as a second input channel.

Sample ``j`` of step ``s`` depends only on ``(seed, s, j)``, so a resumed
run sees the same data as an uninterrupted one, and ``processes=2`` (DistributedDataParallel)
sees the same samples as one process with twice the batch.

Normalisation: the network sees ``noisy / s`` and is trained to return ``clean / s``, with
``s = normalise(noisy)`` (:func:`galcube_lib.denoise.deep.weights.normalise`) the noise level
estimated from the whole cube's negative voxels.
The output is multiplied back by ``s``, so the denoiser is exactly scale-equivariant,
``f(a x) = a f(x)``: Jy/beam in, Jy/beam out, whatever the cube's flux scale.

Run ``python -m galcube_lib.training.unet --help`` for the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from galcube_lib.denoise.deep import weights as _models
from galcube_lib.denoise.deep.unet import level_channel
from galcube_lib.denoise.deep.weights import normalise
from galcube_lib.noise.correlation import spectral_correlation
from galcube_lib.noise.models import draw_noise_model
from galcube_lib.noise.realise import add_noise
from galcube_lib.sim.prior import BenchmarkPrior
from galcube_lib.sim.simulate import simulate
from galcube_lib.training import loop as _training
from galcube_lib._util import checks as check
from galcube_lib._util import rng as _rng

#: spawn-key prefixes of the validation and uncertainty-calibration cubes; training keys start
#: with a step number below them
VALIDATION_KEY = 2 ** 32 - 1
CALIBRATION_KEY = 2 ** 32 - 3
#: the training noise: the benchmark's beam noise, or the interferometric family
NOISES = ("beam", "family")
#: the scenes of ``noise="family"``: channel width (km/s, log-uniform), channels, beam FWHM (px,
#: log-uniform) and velocity dispersion (km/s): lines 2-64 channels wide
FAMILY_SCENES = {"channel_kms": (8.0, 60.0), "n_chan": 96, "beam_fwhm_px": (2.5, 6.0),
                 "sigma_kms": (10.0, 50.0)}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (saved in checkpoints and model cards).

    Parameters
    ----------
    steps : int
        Optimizer steps.
    width : int
        Base width f of the U-Net.
    dropout : float
        Decoder dropout of the U-Net (enables Monte-Carlo dropout uncertainty).
    batch_size : int
        Samples per step in each process.
    crop : tuple of 3 ints
        (v, y, x) size of the random crops trained on; each >= 32.
    lr : float
        Peak learning rate of AdamW (cosine decay to 1% of it, 2% warm-up).
    clip_grad : float
        Gradients are rescaled to at most this global norm (the U-Net has no normalisation
        layers, and without clipping a rare large step can make it diverge).
    flux_weight : float
        Weight of the flux-aware loss term (squared error of each crop's summed flux, per voxel);
        0 gives plain MSE.
    empty_fraction : float
        Fraction of samples that are pure noise (clean cube zero), teaching not to invent flux.
    peak_snr : tuple of 2 floats
        Range of the peak SNR the simulated training samples are drawn in (uniformly); narrow it
        to specialise a fine-tuning run on faint sources. Validation always uses the full
        benchmark population.
    store : str or None
        A dataset store to draw pairs from instead of simulating.
    init : str or None
        Weights to start from (a shipped model name, a ``.pt`` file or a run's ``best.pt``),
        e.g. to continue training a finished run with a new schedule; None starts from random
        weights.
    val_size : int
        Full-size held-out cubes (simulated with a seed no training sample uses).
    val_every : int
        Steps between validations (and checkpoints).
    seed : int
        Root seed of the samples, their crops and flips, and the initial weights.
    noise : {"beam", "family"}
        The training noise (module docstring); validation uses the same.
    level_input : bool
        Give the network the noise level map as a second input channel. Starting from 1-channel
        ``init`` weights, the new channel's weights start at zero (the network starts as the
        one it was initialised from).
    spectral_acfs : tuple of tuples of float
        Measured spectral noise correlations (lags 1, 2, ...) that ``noise="family"`` draws its
        "measured" models from (:func:`measured_spectral_acfs` of real cubes); none: white,
        Hanning or lag-k only.
    """

    steps: int = 4000
    width: int = 16
    dropout: float = 0.0
    batch_size: int = 2
    crop: tuple = (32, 64, 64)
    lr: float = 5e-4
    clip_grad: float = 1.0
    flux_weight: float = 0.0
    empty_fraction: float = 0.1
    peak_snr: tuple = (2.5, 10.0)
    store: str | None = None
    init: str | None = None
    val_size: int = 16
    val_every: int = 100
    seed: int = 0
    noise: str = "beam"
    level_input: bool = False
    spectral_acfs: tuple = ()

    def __post_init__(self):
        check.integer("steps", self.steps, 1)
        check.integer("width", self.width, 1)
        check.number("dropout", self.dropout, 0.0, 0.95)
        check.integer("batch_size", self.batch_size, 1)
        object.__setattr__(self, "crop", tuple(check.integer("crop", c, 32)
                                               for c in check.sequence("crop", self.crop, 3)))
        check.number("lr", self.lr, 1e-7, 1.0)
        check.number("clip_grad", self.clip_grad, 0.0, None, lo_open=True)
        check.number("flux_weight", self.flux_weight, 0.0, 1e3)
        check.number("empty_fraction", self.empty_fraction, 0.0, 1.0)
        low, high = (check.number("peak_snr", v, 0.0, None, lo_open=True)
                     for v in check.sequence("peak_snr", self.peak_snr, 2))
        if low > high:
            raise ValueError(f"peak_snr must be a range (low, high) with 0 < low <= high, "
                             f"got {self.peak_snr!r}")
        for name in ("store", "init"):
            check.annotated(name, getattr(self, name), "str | None")
        check.integer("val_size", self.val_size, 1)
        check.integer("val_every", self.val_every, 1)
        check.integer("seed", self.seed, 0)
        check.choice("noise", self.noise, NOISES)
        check.boolean("level_input", self.level_input)
        object.__setattr__(self, "spectral_acfs", tuple(
            tuple(check.number("spectral_acfs", c, -1.0, 1.0, lo_open=True, hi_open=True)
                  for c in acf) for acf in self.spectral_acfs))


# ------------------------------------------------------------------ data ----

def _seed(config: TrainConfig, *key) -> np.random.SeedSequence:
    return np.random.SeedSequence(config.seed, spawn_key=key)


def family_prior(rng, peak_snr=(2.5, 10.0)) -> BenchmarkPrior:
    """The benchmark population on a drawn observing set-up (:data:`FAMILY_SCENES`).

    Parameters
    ----------
    rng : None, int, numpy SeedSequence or Generator
        Draws the channel width and the beam (SPEC 7).
    peak_snr : (float, float)
        Range of the peak SNR.

    Returns
    -------
    BenchmarkPrior
        96 channels of a log-uniform 8-60 km/s, a beam of log-uniform 2.5-6 px FWHM,
        dispersions of 10-50 km/s; the rest as the benchmark's.
    """
    gen, _ = _rng.generator(rng)
    log_uniform = lambda lo, hi: math.exp(gen.uniform(math.log(lo), math.log(hi)))  # noqa: E731
    return BenchmarkPrior(n_chan=FAMILY_SCENES["n_chan"],
                          channel_kms=log_uniform(*FAMILY_SCENES["channel_kms"]),
                          beam_fwhm_px=log_uniform(*FAMILY_SCENES["beam_fwhm_px"]),
                          sigma_kms=FAMILY_SCENES["sigma_kms"], peak_snr=tuple(peak_snr))


def simulated_pair(seq: np.random.SeedSequence, empty_fraction: float = 0.0, prior=None,
                   noise: str = "beam", spectral_acfs=()):
    """A full-size simulated pair, both divided by the noise scale of the noisy cube.

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        Seeds the scene, the noise and whether the sample is pure noise.
    empty_fraction : float
        Probability that the sample is pure noise (clean cube zero).
    prior : BenchmarkPrior, optional
        The population of scenes (default the benchmark's); with ``noise="family"`` only its
        peak SNR range is used, on a :func:`family_prior` set-up.
    noise : {"beam", "family"}
        The benchmark's beam noise, or a model drawn by
        :func:`galcube_lib.noise.models.draw_noise_model` at the field centre's level.
    spectral_acfs : sequence of sequences of float
        For ``noise="family"``: measured spectral correlations to draw "measured" models from.

    Returns
    -------
    tuple
        ``(noisy, clean)`` (v, y, x) arrays in noise units.
    """
    scene_seed, noise_seed, kind_seed, setup_seed, model_seed = seq.spawn(5)
    prior = BenchmarkPrior() if prior is None else prior
    kind = "beam"
    if check.choice("noise", noise, NOISES) == "family":
        prior = family_prior(setup_seed, prior.peak_snr)
        kind = draw_noise_model(model_seed, spectral_acfs)
    scene = prior.draw(np.random.default_rng(scene_seed))
    clean = simulate(scene.components, scene.observation)
    noisy = add_noise(clean, peak_snr=scene.peak_snr, kind=kind,
                      rng=np.random.default_rng(noise_seed))
    truth = clean.data
    if np.random.default_rng(kind_seed).random() < empty_fraction:
        noisy = noisy.data - truth
        truth = np.zeros_like(truth)
    else:
        noisy = noisy.data
    s = normalise(noisy)
    return noisy / s, truth / s


def measured_spectral_acfs(paths, max_lag: int = 4) -> tuple:
    """The spectral noise correlations of real cubes, for ``TrainConfig.spectral_acfs``.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        FITS cubes (read with :func:`galcube_lib.io.read_fits`; blanks ignored).
    max_lag : int
        Lags 1 .. ``max_lag`` (at most the cube's channels less one).

    Returns
    -------
    tuple of tuples of float
        One tuple per cube, rounded to 3 decimals.
    """
    from galcube_lib.io.cube import read_fits

    out = []
    for path in paths:
        data = read_fits(path).data
        out.append(tuple(round(float(c), 3) for c in spectral_correlation(
            data, min(max_lag, data.shape[0] - 1))))
    return tuple(out)


def _store_pair(store, seq):
    index = int(np.random.default_rng(seq).integers(len(store)))
    noisy, clean = store.pair(index)
    s = normalise(noisy)
    return noisy / s, clean / s


def _crop_and_flip(pair, crop, seq):
    """The same random crop, flips and quarter turn applied to both cubes."""
    gen = np.random.default_rng(seq)
    shape = pair[0].shape
    if any(c > n for c, n in zip(crop, shape)):
        raise ValueError(f"crop={crop} is larger than the training cubes {shape}")
    start = [int(gen.integers(n - c + 1)) for c, n in zip(crop, shape)]
    box = tuple(slice(a, a + c) for a, c in zip(start, crop))
    flips = [ax for ax in range(3) if gen.random() < 0.5]
    turn = crop[1] == crop[2] and gen.random() < 0.5
    out = []
    for cube in pair:
        cube = np.flip(cube[box], flips) if flips else cube[box]
        out.append(np.ascontiguousarray(np.rot90(cube, axes=(1, 2)) if turn else cube))
    return out


def batch(config: TrainConfig, step: int, first: int, count: int, store=None):
    """Samples ``first .. first + count - 1`` of ``step``: cropped, flipped, turned pairs.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration (seed, crop, peak SNR range, pure-noise fraction).
    step : int
        The training step.
    first, count : int
        The samples of the step (process ``r`` of DistributedDataParallel takes its own).
    store : optional
        A dataset store to draw pairs from instead of simulating.

    Returns
    -------
    tuple
        ``(inputs, clean)`` float32 arrays of shape (count, in_channels, *crop) and
        (count, 1, *crop), in noise units (in_channels 2 with ``level_input``).
    """
    prior = BenchmarkPrior(peak_snr=tuple(config.peak_snr))
    noisy, clean = [], []
    for j in range(first, first + count):
        pair_seed, crop_seed = _seed(config, step, j).spawn(2)
        pair = (_store_pair(store, pair_seed) if store is not None
                else simulated_pair(pair_seed, config.empty_fraction, prior, config.noise,
                                    config.spectral_acfs))
        *inputs, target = _crop_and_flip(_with_level(pair, config), config.crop, crop_seed)
        noisy.append(np.stack(inputs))
        clean.append(target[None])
    return np.stack(noisy).astype(np.float32), np.stack(clean).astype(np.float32)


def _with_level(pair, config: TrainConfig) -> tuple:
    """``(noisy, clean)``, or ``(noisy, level map, clean)`` for a ``level_input`` network."""
    noisy, clean = pair
    return (noisy, level_channel(noisy), clean) if config.level_input else (noisy, clean)


def validation_set(config: TrainConfig):
    """The fixed held-out full-size cubes, seeded apart from every training sample.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration (seed and ``val_size``).

    Returns
    -------
    list of tuple
        ``(inputs, clean)`` float32 arrays of shape (1, in_channels, v, y, x) and
        (1, 1, v, y, x), in noise units.
    """
    pairs = [_with_level(simulated_pair(_seed(config, VALIDATION_KEY, k), noise=config.noise,
                                        spectral_acfs=config.spectral_acfs), config)
             for k in range(config.val_size)]
    return [(np.stack(inputs)[None].astype(np.float32), np.asarray(clean, np.float32)[None, None])
            for *inputs, clean in pairs]


# ------------------------------------------------------------------ loss ----

def loss_fn(pred, target, flux_weight: float):
    """The training loss.

    Parameters
    ----------
    pred, target : torch.Tensor
        (batch, 1, v, y, x) prediction and clean target.
    flux_weight : float
        Weight of the flux term.

    Returns
    -------
    torch.Tensor
        MSE, plus ``flux_weight`` times the squared error of each sample's summed flux per
        voxel.
    """
    loss = ((pred - target) ** 2).mean()
    if flux_weight:
        n = pred[0].numel()
        flux_err = (pred - target).flatten(1).sum(1)
        loss = loss + flux_weight * (flux_err ** 2 / n).mean()
    return loss


# ------------------------------------------------------------- training ----

def train(out_dir, config: TrainConfig | None = None, *, device: str = "auto", processes: int = 1,
          progress: bool = True, **overrides) -> Path:
    """Train the U-Net; resumable.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Run folder: ``last.pt`` (model, optimizer, step), ``best.pt`` (lowest validation
        loss), ``history.csv`` and ``config.json``. When ``last.pt`` exists with the same
        configuration, training continues from it (so an interrupted run is resumed by running
        the same call again); with a different configuration it is an error.
    config : TrainConfig, optional
        The run's configuration; ``overrides`` (e.g. ``steps=200``) replace its fields.
    device : str
        "auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:N". On CUDA the forward
        pass runs under bf16 autocast.
    processes : int
        Processes of torch DistributedDataParallel (gloo on CPU, NCCL on CUDA); each takes
        ``batch_size`` samples per step. On CPU the cores are split between them.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        The best checkpoint.
    """
    config = _training.resolve_config(TrainConfig, config, overrides)
    processes = check.integer("processes", processes, 1)
    progress = check.boolean("progress", progress)
    device = _models.device(device, auto=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _training.check_resume(out, config)
    if processes == 1:
        _run(0, 1, out, config, device, progress, None)
    else:
        import torch.multiprocessing as mp

        port = _free_port()
        mp.spawn(_run, args=(processes, out, config, device, progress, port), nprocs=processes,
                 join=True)
    return out / "best.pt"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(rank, world, out, config, device, progress, port):
    import torch

    distributed = world > 1
    if device == "cpu" and distributed:  # split the cores; one process keeps torch's default
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if distributed:
        import torch.distributed as dist

        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world)
        if device.startswith("cuda"):
            device = f"cuda:{rank % torch.cuda.device_count()}"
    try:
        store = None
        if config.store:
            from galcube_lib.datasets.store import open_dataset

            store = open_dataset(config.store)
        val = validation_set(config) if rank == 0 else None
        autocast = _autocast(device)
        first = rank * config.batch_size
        _training.fit(out, config, lambda: initial_network(config),
                      lambda step: batch(config, step, first, config.batch_size, store),
                      lambda pred, y: loss_fn(pred, y, config.flux_weight),
                      lambda model: _validate(model, val, device, autocast), device=device,
                      rank=rank, distributed=distributed, clip_grad=config.clip_grad,
                      autocast=autocast, progress=progress, desc="train unet")
        if distributed:  # no process tears down gloo while process 0 still validates and saves
            import torch.distributed as dist

            dist.barrier()
    finally:
        if distributed:
            import torch.distributed as dist

            dist.destroy_process_group()


def initial_network(config: TrainConfig):
    """The network a run starts from: ``config.init``'s weights, or random ones.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration (width, dropout, level_input, init).

    Returns
    -------
    UNet3D
        With 2 input channels for ``level_input``; 1-channel ``init`` weights then get a level
        channel whose first-layer weights are zero, so the network computes what it did.
    """
    import torch

    from galcube_lib.denoise.deep.networks.unet3d import UNet3D

    channels = 2 if config.level_input else 1
    if not config.init:
        return UNet3D(config.width, config.dropout, channels)
    card = _models.load(config.init)[1]
    model = _models.load_network(UNet3D, config.init, width=config.width, dropout=config.dropout,
                                 in_channels=card.get("network", {}).get("in_channels", 1))[0]
    if model.in_channels == channels:
        return model
    if channels == 1:
        raise ValueError(f"init={config.init!r} has a level-map input channel; train it with "
                         "level_input=True")
    state = model.state_dict()
    first = state["down.0.0.weight"]
    state["down.0.0.weight"] = torch.cat([first, torch.zeros_like(first)], dim=1)
    wider = UNet3D(config.width, config.dropout, channels)
    wider.load_state_dict(state)
    return wider


def _autocast(device: str):
    import contextlib

    import torch

    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _validate(model, val, device, autocast) -> float:
    """Mean MSE over the held-out cubes (in noise units)."""
    import torch

    model.eval()
    total = 0.0
    with torch.inference_mode():
        for x, y in val:
            with autocast:
                pred = model(torch.from_numpy(x).to(device))
            total += float(((pred.float() - torch.from_numpy(y).to(device)) ** 2).mean())
    return total / len(val)


def history(out_dir):
    """A run's validation history.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The run folder.

    Returns
    -------
    pandas.DataFrame
        Its ``history.csv``: one row per validation.
    """
    import pandas as pd

    return pd.read_csv(Path(out_dir) / "history.csv")


@check.renamed(seed="rng")
def calibrate_uncertainty(weights, n_cubes: int = 24, rng=0, n_samples: int = 8,
                          frac: float = 0.05, progress: bool = True, noise: str = "beam",
                          spectral_acfs=()) -> float:
    """The U-Net's uncertainty floor beta (see :mod:`galcube_lib.denoise.deep.uncertainty`).

    68% of the source voxels (truth above ``frac`` of its peak) of ``n_cubes`` held-out cubes
    of the benchmark population lie within the predicted 1 sigma.

    Parameters
    ----------
    weights : str or os.PathLike
        Shipped model name or ``.pt`` file.
    n_cubes : int
        Held-out cubes: cube ``k`` is :func:`simulated_pair` of the seed
        ``(CALIBRATION_KEY, k)`` under ``rng``.
    rng : int, None, numpy SeedSequence or Generator
        Root of the cubes' seeds (SPEC 7; formerly ``seed``, the same cubes for the same int).
    n_samples : int
        Noise re-samplings per cube (the re-sampling noise of cube ``k`` is seeded by ``k``).
    frac : float
        Source voxels: truth above this fraction of the cube's peak.
    progress : bool
        Show a progress bar.
    noise : {"beam", "family"}
        The noise of the held-out cubes (as the weights were trained).
    spectral_acfs : sequence of sequences of float
        For ``noise="family"``, as in :class:`TrainConfig`.

    Returns
    -------
    float
        beta, in units of the cube's noise level.
    """
    from tqdm.auto import tqdm

    from galcube_lib.denoise.deep.unet import unet
    from galcube_lib.denoise.deep.uncertainty import calibrate_floor

    root = _rng.seed_sequence(rng, draw_from_generator=True)
    errors, sigmas = [], []
    for k in tqdm(range(n_cubes), desc="calibrate", disable=not progress):
        noisy, clean = simulated_pair(_training.keyed(root, CALIBRATION_KEY, k), noise=noise,
                                      spectral_acfs=spectral_acfs)
        out, sigma = unet(noisy.astype(np.float32), weights=weights, uncertainty=n_samples, rng=k)
        source = clean > frac * clean.max()
        errors.append(np.abs(out - clean)[source])
        sigmas.append(sigma[source])
    errors, sigmas = np.concatenate(errors), np.concatenate(sigmas)
    return calibrate_floor(errors, sigmas, np.ones_like(errors))  # pairs are in noise units


@check.renamed(run_dir="run")
def export(run, name: str = "unet3d", figures: dict | None = None,
           n_calibration: int = 24, previous: dict | None = None) -> Path:
    """Ship a run's best checkpoint as ``data/models/<name>.pt`` with its model card.

    The weights are saved in half precision with :func:`galcube_lib.denoise.deep.weights.save`;
    the card ``<name>.json`` holds the network, the training configuration, data, steps,
    validation history, the uncertainty floor calibrated on ``n_calibration`` held-out cubes
    (:func:`calibrate_uncertainty`) and ``figures``.

    Parameters
    ----------
    run : str or os.PathLike
        A run folder (its ``best.pt``) or a checkpoint file.
    name : str
        Model name (or a ``.pt`` path).
    figures : dict, optional
        Figures to put in the card (e.g. benchmark results).
    n_calibration : int
        Held-out cubes of the uncertainty calibration.
    previous : dict, optional
        The model card of the weights the run started from (``TrainConfig.init``), kept in the
        card so that the whole training is on record.

    Returns
    -------
    pathlib.Path
        The weights file.
    """
    from galcube_lib._version import __version__
    from galcube_lib.denoise.deep.networks.unet3d import UNet3D

    model, state, rows = _training.best_checkpoint(run, UNet3D)
    trained = state["config"]
    family = trained.get("noise", "beam") == "family"
    data = ("simulated on the fly from BenchmarkPrior on family_prior set-ups (96 channels of "
            "8-60 km/s, beam FWHM 2.5-6 px, dispersion 10-50 km/s) with noise drawn from "
            "noise.models.draw_noise_model" if family else
            "simulated on the fly from BenchmarkPrior (40 x 96 x 96, 30 km/s channels, "
            "beam FWHM 3.75 px) with beam-correlated noise")
    card = {"name": name, "network": state["model_config"], "architecture": "UNet3D",
            "training": state["config"], "best_step": int(state["step"]),
            "best_val_loss": float(state["best_val"]),
            "wall_time_s": float(rows[-1]["elapsed_s"]) if rows else state["elapsed_s"],
            "data": data + " at a peak SNR drawn in {:g}-{:g}; ".format(
                *trained.get("peak_snr", (2.5, 10.0)))
                    + f"{trained['empty_fraction']:.0%} pure-noise samples",
            "normalisation": "input / s and target / s, s = sigma_negative(noisy cube)"
                             + ("; second input channel: the noise level map / s "
                                "(denoise.deep.unet.level_channel)"
                                if trained.get("level_input") else ""),
            "galcube_version": __version__, "figures": figures or {}}
    if previous is not None:
        card["initialised_from"] = {k: v for k, v in previous.items() if k != "figures"}
    path = _models.save(model, name, card)
    card["uncertainty_floor"] = calibrate_uncertainty(
        path, n_calibration, noise=trained.get("noise", "beam"),
        spectral_acfs=trained.get("spectral_acfs", ()))
    card["uncertainty_calibration"] = (f"{n_calibration} held-out "
                                       + ("noise-family" if family else "benchmark")
                                       + " cubes, source voxels = truth > 5% of peak, "
                                       "8 re-samplings, 68% coverage")
    return _models.save(model, name, card)


def main(argv=None):
    """The command line: ``python -m galcube_lib.training.unet OUT [options]``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: the command line's).
    """
    parser = argparse.ArgumentParser(prog="python -m galcube_lib.training.unet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    for field in dataclasses.fields(TrainConfig):
        flag = f"--{field.name.replace('_', '-')}"
        if field.name == "level_input":
            parser.add_argument(flag, action="store_true")
        elif field.name != "spectral_acfs":
            kind = {"crop": int, "peak_snr": float, "store": str, "init": str}.get(
                field.name, type(field.default))
            nargs = {"crop": 3, "peak_snr": 2}.get(field.name)
            parser.add_argument(flag, type=kind, nargs=nargs, default=field.default)
    parser.add_argument("--noise-like", nargs="+", default=[], metavar="FITS",
                        help="real cubes whose measured spectral noise correlations the "
                             "'family' noise also draws from (spectral_acfs)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    args = vars(parser.parse_args(argv))
    device, processes, quiet, out_dir, noise_like = (
        args.pop(k) for k in ("device", "processes", "quiet", "out_dir", "noise_like"))
    args["spectral_acfs"] = measured_spectral_acfs(noise_like)
    best = train(out_dir, TrainConfig(**args), device=device, processes=processes,
                 progress=not quiet)
    print(best)


if __name__ == "__main__":
    main()
