"""Training and measuring the spaxel-by-spaxel 1D CNN-Transformer ("spectral").

Training spectra come from simulated benchmark cubes (:func:`galcube_lib.training.unet.simulated_pair`,
normalised by the noisy cube's noise level). Steps come in groups of ``group_steps``; group ``g``
draws its spectra from ``cubes_per_group`` cubes seeded by ``(seed, 0, g, j)``, and step ``s``
picks its spaxels (a ``signal_fraction`` of them among spaxels whose clean peak exceeds
``signal_level`` times the cube's clean peak, the rest anywhere) and flips half of the spectra
in velocity with a generator seeded by ``(seed, 1, s)``. So a resumed run sees the same data as
an uninterrupted one. Validation spectra and the evaluation cubes of :func:`evaluate_spectral`
have spawn keys of their own, which no training sample uses.

Run ``python -m galcube_lib.training.spectral --help`` for the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import time
import warnings
from pathlib import Path

import numpy as np

from galcube_lib.denoise.deep import weights as _models
from galcube_lib.metrics import pearson_r
from galcube_lib.training import loop as _training
from galcube_lib._util import checks as check
from galcube_lib._util import rng as _rng
from galcube_lib.training.unet import simulated_pair

#: spawn-key prefixes of the validation spectra and the evaluation cubes
VALIDATION_KEY = 2 ** 32 - 1
EVALUATION_KEY = 2 ** 32 - 2


@dataclasses.dataclass(frozen=True)
class SpectralConfig:
    """Everything that defines a training run (saved in checkpoints and the model card).

    Parameters
    ----------
    steps : int
        Optimizer steps.
    width, depth, heads, ff : int
        Network: first-stage channels (stages c, 2c, 4c), transformer blocks, attention heads
        and feed-forward width.
    batch_size : int
        Spectra per step.
    cubes_per_group, group_steps : int
        Simulated cubes that feed each group of ``group_steps`` consecutive steps.
    signal_fraction : float
        Fraction of the spectra taken from spaxels with signal.
    signal_level : float
        A spaxel has signal when its clean peak exceeds this fraction of the cube's clean peak.
    empty_fraction : float
        Fraction of the cubes that are pure noise.
    lr : float
        Peak learning rate of AdamW (2% warm-up, cosine decay to 1% of it).
    val_size : int
        Held-out cubes; the validation set is ``batch_size`` spectra from each, drawn as in
        training.
    val_every : int
        Steps between validations (and checkpoints).
    seed : int
        Root seed of the data and the initial weights.
    """

    steps: int = 2000
    width: int = 96
    depth: int = 2
    heads: int = 8
    ff: int = 512
    batch_size: int = 128
    cubes_per_group: int = 8
    group_steps: int = 20
    signal_fraction: float = 0.75
    signal_level: float = 0.01
    empty_fraction: float = 0.1
    lr: float = 1e-3
    val_size: int = 8
    val_every: int = 100
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "width", "depth", "heads", "ff", "batch_size", "cubes_per_group",
                     "group_steps", "val_size", "val_every"):
            check.integer(name, getattr(self, name), 1)
        check.number("signal_fraction", self.signal_fraction, 0.0, 1.0)
        check.number("signal_level", self.signal_level, 0.0, 1.0, hi_open=True)
        check.number("empty_fraction", self.empty_fraction, 0.0, 1.0, hi_open=True)
        check.number("lr", self.lr, 1e-7, 1.0)
        check.integer("seed", self.seed, 0)
        if 4 * self.width % self.heads:
            raise ValueError(f"heads={self.heads} must divide the transformer width "
                             f"4 * width = {4 * self.width}")

    def network(self) -> dict:
        """Constructor arguments of the network.

        Returns
        -------
        dict
            ``width``, ``depth``, ``heads`` and ``ff``.
        """
        return {"width": self.width, "depth": self.depth, "heads": self.heads, "ff": self.ff}


# ------------------------------------------------------------------ data ----

def _cube_spectra(pair, level: float):
    """(noisy, clean) spectra of a normalised pair as (n_spaxels, n_chan), and the indices of
    the spaxels whose clean peak exceeds ``level`` times the cube's clean peak."""
    noisy, clean = (a.reshape(a.shape[0], -1).T.astype(np.float32) for a in pair)
    peak = clean.max(axis=1)
    signal = np.flatnonzero(peak > level * peak.max()) if peak.max() > 0 else np.array([], int)
    return noisy, clean, signal


def _draw(cubes, count: int, signal_fraction: float, gen: np.random.Generator):
    """``count`` (noisy, clean) spectra from ``cubes`` (as from :func:`_cube_spectra`), a
    ``signal_fraction`` of them from spaxels with signal, half of all flipped in velocity."""
    with_signal = [k for k, c in enumerate(cubes) if len(c[2])]
    n_signal = round(signal_fraction * count) if with_signal else 0
    noisy, clean = [], []
    for i in range(count):
        if i < n_signal:
            n, c, signal = cubes[with_signal[gen.integers(len(with_signal))]]
            j = signal[gen.integers(len(signal))]
        else:
            n, c, _ = cubes[gen.integers(len(cubes))]
            j = gen.integers(len(n))
        step = -1 if gen.random() < 0.5 else 1
        noisy.append(n[j, ::step])
        clean.append(c[j, ::step])
    return np.stack(noisy)[:, None], np.stack(clean)[:, None]


def _group(config: SpectralConfig, group: int):
    seqs = [np.random.SeedSequence(config.seed, spawn_key=(0, group, j))
            for j in range(config.cubes_per_group)]
    return [_cube_spectra(simulated_pair(seq, config.empty_fraction), config.signal_level)
            for seq in seqs]


def validation_set(config: SpectralConfig):
    """The fixed held-out spectra of a run.

    Parameters
    ----------
    config : SpectralConfig
        The run's configuration.

    Returns
    -------
    tuple
        ``(noisy, clean)`` float32 spectra, (n, 1, n_chan) each.
    """
    pairs = []
    for k in range(config.val_size):
        seq = np.random.SeedSequence(config.seed, spawn_key=(VALIDATION_KEY, k))
        cube_seq, draw_seq = seq.spawn(2)
        cube = _cube_spectra(simulated_pair(cube_seq, config.empty_fraction), config.signal_level)
        pairs.append(_draw([cube], config.batch_size, config.signal_fraction,
                           np.random.default_rng(draw_seq)))
    return tuple(np.concatenate(a) for a in zip(*pairs))


# ------------------------------------------------------------- training ----

def train_spectral(out_dir, config: SpectralConfig | None = None, *, progress: bool = True,
                   **overrides) -> Path:
    """Train the spectral network on the CPU; resumable.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Run folder: ``last.pt`` (model, optimizer, step), ``best.pt`` (lowest validation
        loss), ``history.csv`` and ``config.json``. When ``last.pt`` exists with the same
        configuration, training continues from it; with a different one it is an error.
    config : SpectralConfig, optional
        The run's configuration; ``overrides`` (e.g. ``steps=200``) replace its fields.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        The best checkpoint (loadable by :func:`galcube_lib.denoise.deep.spectral.spectral` as
        ``weights``).
    """
    import torch

    from galcube_lib.denoise.deep.networks.spectral import SpectralTransformer

    config = _training.resolve_config(SpectralConfig, config, overrides)
    progress = check.boolean("progress", progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _training.check_resume(out, config)
    val_x, val_y = (torch.from_numpy(a) for a in validation_set(config))
    groups = {}

    def batch(step):
        group = step // config.group_steps
        if group not in groups:                 # one group's cubes in memory at a time
            groups.clear()
            groups[group] = _group(config, group)
        gen = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(1, step)))
        return _draw(groups[group], config.batch_size, config.signal_fraction, gen)

    def validate(model):
        model.eval()
        with torch.inference_mode():
            return float(((model(val_x) - val_y) ** 2).mean())

    _training.fit(out, config, lambda: SpectralTransformer(**config.network()), batch,
                  lambda pred, y: ((pred - y) ** 2).mean(), validate, progress=progress,
                  desc="train spectral")
    return out / "best.pt"


# ------------------------------------------------------------ evaluation ----

@check.renamed(seed="rng")
def evaluate_spectral(weights="spectral", n_cubes: int = 20, rng=0, *, level: float = 0.05,
                      r_recovered: float = 0.9, batch_size: int = 4096) -> dict:
    """Figures of the spectral denoiser on held-out simulated benchmark cubes.

    Cube ``k`` is :func:`galcube_lib.training.unet.simulated_pair` of the seed
    ``(EVALUATION_KEY, k)`` under ``rng`` (for an int n, ``SeedSequence(n, spawn_key=
    (EVALUATION_KEY, k))``): the benchmark population, with a key no training or validation
    sample uses. Only the source spaxels (clean peak > ``level`` times the cube's clean peak)
    are measured, so only they are denoised (the method works spaxel by spaxel).

    Parameters
    ----------
    weights : str or os.PathLike
        Shipped model name or ``.pt`` file.
    n_cubes : int
        Held-out cubes.
    rng : int, None, numpy SeedSequence or Generator
        Root of the cubes' seeds (SPEC 7; formerly ``seed``, the same cubes for the same int).
    level : float
        Source-spaxel threshold, as a fraction of the clean cube's peak.
    r_recovered : float
        A spectrum counts as recovered when its Pearson r with the clean spectrum reaches this.
    batch_size : int
        Spectra per forward pass.

    Returns
    -------
    dict
        ``rms_reduction_median`` / ``_min`` / ``_max`` (per cube, RMS(noisy - clean) /
        RMS(denoised - clean) over the source spaxels), ``rms_reduction_pooled`` (all source
        spaxels of all cubes together), ``pearson_median`` and ``recovery_rate`` of the denoised
        spectra, ``pearson_median_noisy`` and ``recovery_rate_noisy`` of the noisy ones, the
        counts ``n_cubes``, ``n_spaxels``, the options and ``rng`` (the root seed's entropy and
        spawn key).
    """
    from galcube_lib.denoise.deep.spectral import denoise_spectra, load_model

    n_cubes = check.integer("n_cubes", n_cubes, 1)
    level = check.number("level", level, 0.0, 1.0, hi_open=True)
    model = load_model(weights)
    root = _rng.seed_sequence(rng, draw_from_generator=True)
    ratios, err_noisy, err_den, r_den, r_noisy = [], 0.0, 0.0, [], []
    for k in range(n_cubes):
        pair = simulated_pair(_training.keyed(root, EVALUATION_KEY, k))
        noisy, clean, src = _cube_spectra(pair, level)
        noisy, clean = noisy[src], clean[src]
        den = denoise_spectra(model, noisy, batch_size)
        e_n, e_d = float(((noisy - clean) ** 2).sum()), float(((den - clean) ** 2).sum())
        ratios.append(math.sqrt(e_n / e_d))
        err_noisy, err_den = err_noisy + e_n, err_den + e_d
        r_den += [pearson_r(d, c) for d, c in zip(den, clean)]
        r_noisy += [pearson_r(n, c) for n, c in zip(noisy, clean)]
    r_den, r_noisy = np.array(r_den), np.array(r_noisy)
    return {"rms_reduction_median": float(np.median(ratios)), "rms_reduction_min": min(ratios),
            "rms_reduction_max": max(ratios),
            "rms_reduction_pooled": math.sqrt(err_noisy / err_den),
            "pearson_median": float(np.nanmedian(r_den)),
            "recovery_rate": float(np.mean(r_den >= r_recovered)),
            "pearson_median_noisy": float(np.nanmedian(r_noisy)),
            "recovery_rate_noisy": float(np.mean(r_noisy >= r_recovered)),
            "n_cubes": n_cubes, "n_spaxels": len(r_den), "level": level,
            "r_recovered": r_recovered,
            "rng": {"entropy": root.entropy, "spawn_key": list(root.spawn_key)}}


# ---------------------------------------------------------------- shipping ----

@check.renamed(seed="rng")
def export(run, name: str = "spectral", *, n_cubes: int = 20, rng=0,
           notes: dict | None = None) -> Path:
    """Ship a run's best checkpoint as ``data/models/<name>.pt`` with its model card, measured.

    The weights are saved in half precision with :func:`galcube_lib.denoise.deep.weights.save`,
    then measured with :func:`evaluate_spectral`, whose figures go into the card as
    ``evaluation``. The card's ``wall_time_s`` and ``cpu_time_s`` are those of the whole run
    (its ``history.csv``).

    Parameters
    ----------
    run : str or os.PathLike
        A run folder (its ``best.pt``) or a checkpoint file.
    name : str
        Model name (or a ``.pt`` path).
    n_cubes : int
        Held-out cubes of the evaluation.
    rng : int, None, numpy SeedSequence or Generator
        Root seed of the evaluation cubes (formerly ``seed``).
    notes : dict, optional
        Added to the card as they are.

    Returns
    -------
    pathlib.Path
        The weights file.
    """
    import torch

    from galcube_lib.denoise.deep.networks.spectral import SpectralTransformer

    model, state, rows = _training.best_checkpoint(run, SpectralTransformer)
    card = {"method": "spectral", "network": model.config(),
            "class": "galcube_lib.denoise.deep.networks.spectral.SpectralTransformer",
            "parameters": sum(p.numel() for p in model.parameters()),
            "training": state["config"], "step": state["step"],
            "best_val_mse": state["best_val"],
            "wall_time_s": float(rows[-1]["elapsed_s"]) if rows else state["elapsed_s"],
            "cpu_time_s": float(rows[-1]["cpu_s"]) if rows and "cpu_s" in rows[-1] else None,
            "data": "spectra of simulated benchmark cubes (galcube_lib.training.unet.simulated_pair: "
                    "BenchmarkPrior, 40 x 96 x 96, peak SNR 2.5-10, beam-correlated noise), "
                    "in units of each noisy cube's noise level",
            "normalisation": "divide by galcube_lib.denoise.deep.weights.normalise(noisy cube); "
                             "output times it",
            "torch": torch.__version__, **(notes or {})}
    path = _models.save(model, name, card)
    t0 = time.perf_counter()
    figures = evaluate_spectral(path, n_cubes, rng)
    card["evaluation"] = {"command": f"galcube_lib.training.spectral.evaluate_spectral({name!r}, "
                                     f"n_cubes={n_cubes}, rng={rng!r})",
                          **figures, "time_s": round(time.perf_counter() - t0, 1)}
    return _models.save(model, name, card)


def ship(checkpoint, name="spectral", **options) -> Path:
    """Deprecated name of :func:`export` (a DeprecationWarning), which it calls.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        A checkpoint file or a run folder.
    name : str
        Model name.
    **options
        Options of :func:`export`.

    Returns
    -------
    pathlib.Path
        The weights file.
    """
    warnings.warn("galcube_lib.training.spectral.ship() is deprecated, use export()",
                  DeprecationWarning, stacklevel=2)
    return export(checkpoint, name, **options)


def main(argv=None):
    """The command line: ``python -m galcube_lib.training.spectral OUT [options]``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: the command line's).
    """
    parser = argparse.ArgumentParser(prog="python -m galcube_lib.training.spectral",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    for field in dataclasses.fields(SpectralConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default),
                            default=field.default)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--export", "--ship", metavar="NAME", dest="export",
                        help="after training, evaluate the best checkpoint and save it as "
                        "data/models/NAME.pt with its model card (--ship: the old name)")
    args = vars(parser.parse_args(argv))
    out_dir, quiet, name, threads = (args.pop(k) for k in ("out_dir", "quiet", "export", "threads"))
    if threads:
        import torch

        torch.set_num_threads(threads)
    best = train_spectral(out_dir, SpectralConfig(**args), progress=not quiet)
    print(best if name is None else export(best, name))


if __name__ == "__main__":
    main()
