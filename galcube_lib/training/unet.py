"""Training the supervised 3D U-Net ("unet") on simulated cubes.

Training pairs come from the simulator on the fly (a fresh scene and fresh beam-correlated noise
at a peak SNR drawn from the prior for every sample) or from a store made by
``generate_dataset``. Sample ``j`` of step ``s`` depends only on ``(seed, s, j)``, so a resumed
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
import os
from pathlib import Path

import numpy as np

from galcube_lib.denoise.deep import weights as _models
from galcube_lib.denoise.deep.weights import normalise
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


# ------------------------------------------------------------------ data ----

def _seed(config: TrainConfig, *key) -> np.random.SeedSequence:
    return np.random.SeedSequence(config.seed, spawn_key=key)


def simulated_pair(seq: np.random.SeedSequence, empty_fraction: float = 0.0, prior=None):
    """A full-size simulated pair, both divided by the noise scale of the noisy cube.

    Parameters
    ----------
    seq : numpy.random.SeedSequence
        Seeds the scene, the noise and whether the sample is pure noise.
    empty_fraction : float
        Probability that the sample is pure noise (clean cube zero).
    prior : BenchmarkPrior, optional
        The population of scenes (default the benchmark's).

    Returns
    -------
    tuple
        ``(noisy, clean)`` (v, y, x) arrays in noise units.
    """
    scene_seed, noise_seed, kind_seed = seq.spawn(3)
    prior = BenchmarkPrior() if prior is None else prior
    scene = prior.draw(np.random.default_rng(scene_seed))
    clean = simulate(scene.components, scene.observation)
    noisy = add_noise(clean, peak_snr=scene.peak_snr, kind="beam",
                      rng=np.random.default_rng(noise_seed))
    truth = clean.data
    if np.random.default_rng(kind_seed).random() < empty_fraction:
        noisy = noisy.data - truth
        truth = np.zeros_like(truth)
    else:
        noisy = noisy.data
    s = normalise(noisy)
    return noisy / s, truth / s


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
        ``(noisy, clean)`` float32 arrays of shape (count, 1, *crop), in noise units.
    """
    prior = BenchmarkPrior(peak_snr=tuple(config.peak_snr))
    noisy, clean = [], []
    for j in range(first, first + count):
        pair_seed, crop_seed = _seed(config, step, j).spawn(2)
        pair = (_store_pair(store, pair_seed) if store is not None
                else simulated_pair(pair_seed, config.empty_fraction, prior))
        n, c = _crop_and_flip(pair, config.crop, crop_seed)
        noisy.append(n)
        clean.append(c)
    return (np.stack(noisy)[:, None].astype(np.float32), np.stack(clean)[:, None].astype(np.float32))


def validation_set(config: TrainConfig):
    """The fixed held-out full-size cubes, seeded apart from every training sample.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration (seed and ``val_size``).

    Returns
    -------
    list of tuple
        ``(noisy, clean)`` float32 arrays of shape (1, 1, v, y, x), in noise units.
    """
    pairs = [simulated_pair(_seed(config, VALIDATION_KEY, k))
             for k in range(config.val_size)]
    return [tuple(np.asarray(a, np.float32)[None, None] for a in pair) for pair in pairs]


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

    from galcube_lib.denoise.deep.networks.unet3d import UNet3D

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
        def build():
            if config.init:
                return _models.load_network(UNet3D, config.init, width=config.width,
                                            dropout=config.dropout)[0]
            return UNet3D(config.width, config.dropout)

        store = None
        if config.store:
            from galcube_lib.datasets.store import open_dataset

            store = open_dataset(config.store)
        val = validation_set(config) if rank == 0 else None
        autocast = _autocast(device)
        first = rank * config.batch_size
        _training.fit(out, config, build,
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
                          frac: float = 0.05, progress: bool = True) -> float:
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
        noisy, clean = simulated_pair(_training.keyed(root, CALIBRATION_KEY, k))
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
    card = {"name": name, "network": state["model_config"], "architecture": "UNet3D",
            "training": state["config"], "best_step": int(state["step"]),
            "best_val_loss": float(state["best_val"]),
            "wall_time_s": float(rows[-1]["elapsed_s"]) if rows else state["elapsed_s"],
            "data": "simulated on the fly from BenchmarkPrior (40 x 96 x 96, 30 km/s channels, "
                    "beam FWHM 3.75 px) with beam-correlated noise at a peak SNR drawn in "
                    "{:g}-{:g}; ".format(*state["config"].get("peak_snr", (2.5, 10.0)))
                    + f"{state['config']['empty_fraction']:.0%} pure-noise samples",
            "normalisation": "input / s and target / s, s = sigma_negative(noisy cube)",
            "galcube_version": __version__, "figures": figures or {}}
    if previous is not None:
        card["initialised_from"] = {k: v for k, v in previous.items() if k != "figures"}
    path = _models.save(model, name, card)
    card["uncertainty_floor"] = calibrate_uncertainty(path, n_calibration)
    card["uncertainty_calibration"] = (f"{n_calibration} held-out benchmark cubes, source voxels "
                                       "= truth > 5% of peak, 8 re-samplings, 68% coverage")
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
        kind = {"crop": int, "peak_snr": float, "store": str, "init": str}.get(
            field.name, type(field.default))
        nargs = {"crop": 3, "peak_snr": 2}.get(field.name)
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, nargs=nargs,
                            default=field.default)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    args = vars(parser.parse_args(argv))
    device, processes, quiet, out_dir = (args.pop(k) for k in ("device", "processes", "quiet",
                                                                "out_dir"))
    best = train(out_dir, TrainConfig(**args), device=device, processes=processes,
                 progress=not quiet)
    print(best)


if __name__ == "__main__":
    main()
