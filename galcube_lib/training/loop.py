"""The training loop of every network (:mod:`galcube_lib.training.unet`,
:mod:`galcube_lib.training.spectral`): AdamW with a warm-up and cosine learning-rate schedule,
resuming from the run folder's last checkpoint, atomic ``last.pt``/``best.pt`` checkpoints, the
validation history, and the seeds of held-out data (:func:`keyed`)."""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from galcube_lib.denoise.deep import weights as _models
from galcube_lib.io.files import atomic_path


def lr_factor(step: int, steps: int) -> float:
    """Learning-rate factor: linear warm-up over 2% of the steps, then cosine decay to 1%.

    Parameters
    ----------
    step : int
        The step, from 0.
    steps : int
        Steps of the run.

    Returns
    -------
    float
        The factor of the peak learning rate, in (0, 1].
    """
    warm = max(1, steps // 50)
    if step < warm:
        return (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))


def config_json(config) -> dict:
    """A configuration dataclass as plain JSON values.

    Parameters
    ----------
    config : dataclass
        The run's configuration.

    Returns
    -------
    dict
        Its fields, tuples as lists.
    """
    return json.loads(json.dumps(dataclasses.asdict(config)))


def resolve_config(cls, config, overrides: dict):
    """A run's configuration with some fields replaced.

    Parameters
    ----------
    cls : type
        The configuration dataclass.
    config : cls or None
        The configuration (None: ``cls()``).
    overrides : dict
        Fields to replace.

    Returns
    -------
    cls
        The configuration; a TypeError names a config of another type or an unknown field.
    """
    config = cls() if config is None else config
    if not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__} or None, got {type(config).__name__}")
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(f"unknown training option(s) {', '.join(map(repr, unknown))}; the fields "
                        f"of {cls.__name__} are {', '.join(fields)}")
    return dataclasses.replace(config, **overrides)


def check_resume(out: Path, config) -> None:
    """Record ``config`` in a new run folder, or check that an existing run has the same one.

    Parameters
    ----------
    out : pathlib.Path
        The run folder (its ``config.json``).
    config : dataclass
        The run's configuration; a ValueError names the fields that differ from the recorded
        one.
    """
    path = out / "config.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != config_json(config):
            changed = sorted(k for k in old if old.get(k) != config_json(config).get(k))
            raise ValueError(f"{out} holds a run with a different configuration (differs in "
                             f"{', '.join(changed)}); use a new out_dir or the same settings")
    else:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(config_json(config), indent=1))


def save(obj, path: Path) -> None:
    """``torch.save`` atomically (a killed run never leaves a half-written checkpoint).

    Parameters
    ----------
    obj : object
        What to save.
    path : pathlib.Path
        The file.
    """
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def log(path: Path, row: dict) -> None:
    """Append a row to a CSV history, writing the header first for a new file.

    Parameters
    ----------
    path : pathlib.Path
        The CSV file.
    row : dict
        Column name -> value.
    """
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def fit(out: Path, config, build, batch, loss, validate, *, device: str = "cpu", rank: int = 0,
        distributed: bool = False, clip_grad: float | None = None, autocast=None,
        progress: bool = True, desc: str = "train") -> None:
    """Train a network in the run folder ``out``, resuming from its ``last.pt``.

    The torch random state is seeded with ``config.seed`` before ``build`` (and restored on the
    CPU afterwards). Every ``config.val_every`` steps and at the end, process 0 validates,
    writes ``last.pt`` (network, optimizer, schedule, step, best validation loss, wall and CPU
    time, configuration), ``best.pt`` when the validation loss is the lowest so far (without
    the optimizer) and a row of ``history.csv``.

    Parameters
    ----------
    out : pathlib.Path
        The run folder (:func:`check_resume` has recorded the configuration in it).
    config : dataclass
        The run's configuration, with fields ``steps``, ``lr``, ``val_every`` and ``seed``.
    build : callable
        ``build() -> torch.nn.Module``: the network with its initial weights, with a
        ``config()`` method giving its constructor arguments.
    batch : callable
        ``batch(step) -> (x, y)``: the inputs and targets of a step, numpy float32 arrays.
    loss : callable
        ``loss(prediction, target) -> tensor``: the training loss.
    validate : callable
        ``validate(network) -> float``: the validation loss (called on process 0 only).
    device : str
        torch device.
    rank : int
        This process's rank in DistributedDataParallel (0 without it).
    distributed : bool
        Wrap the network in DistributedDataParallel (the process group is set up).
    clip_grad : float or None
        Gradients are rescaled to at most this global norm; None leaves them.
    autocast : context manager or None
        Around the forward pass (e.g. bf16 autocast on CUDA).
    progress : bool
        Show a progress bar (process 0).
    desc : str
        Label of the progress bar.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build().to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, config.steps))
        start, best, elapsed, cpu = 0, math.inf, 0.0, 0.0
        if (out / "last.pt").exists():
            state = _models.read_checkpoint(out / "last.pt", device)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            start, best = state["step"], state["best_val"]
            elapsed, cpu = state.get("elapsed_s", 0.0), state.get("cpu_s", 0.0)
        net = model
        if distributed:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model)
        autocast = contextlib.nullcontext() if autocast is None else autocast
        bar = None
        if rank == 0 and progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=config.steps, initial=start, desc=desc, unit="step")
        t0, c0 = time.perf_counter() - elapsed, time.process_time() - cpu
        for step in range(start, config.steps):
            x, y = (torch.from_numpy(a).to(device) for a in batch(step))
            net.train()
            with autocast:
                pred = net(x)
            train_loss = loss(pred.float(), y)
            opt.zero_grad(set_to_none=True)
            train_loss.backward()
            if clip_grad is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            opt.step()
            sched.step()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{train_loss.item():.4g}")
            done = step + 1
            if rank == 0 and (done % config.val_every == 0 or done == config.steps):
                val_loss = validate(model)
                is_best = val_loss < best
                best = min(best, val_loss)
                elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
                state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict(), "step": done, "best_val": best,
                         "elapsed_s": elapsed, "cpu_s": cpu, "config": config_json(config),
                         "model_config": model.config()}
                if is_best:
                    save({**state, "optimizer": None, "scheduler": None}, out / "best.pt")
                save(state, out / "last.pt")
                log(out / "history.csv", {"step": done, "train_loss": train_loss.item(),
                                          "val_loss": val_loss, "best_val": best,
                                          "lr": sched.get_last_lr()[0],
                                          "elapsed_s": round(elapsed, 3), "cpu_s": round(cpu, 3)})
        if bar is not None:
            bar.close()


def best_checkpoint(run, cls):
    """The network of a run's best checkpoint, the checkpoint and the run's history.

    Parameters
    ----------
    run : str or os.PathLike
        A run folder (its ``best.pt``) or a checkpoint file (its folder's ``history.csv``).
    cls : type
        The torch module of the network, built with the checkpoint's ``model_config``.

    Returns
    -------
    tuple
        ``(network, checkpoint dict, history rows)``; the rows are dicts of strings, none when
        the run has no ``history.csv``.
    """
    path = Path(run)
    path = path / "best.pt" if path.is_dir() else path
    state = _models.read_checkpoint(path)
    model = cls(**state["model_config"])
    model.load_state_dict(state["model"])
    history, rows = path.with_name("history.csv"), []
    if history.exists():
        with history.open() as f:
            rows = list(csv.DictReader(f))
    return model, state, rows


def keyed(root: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """The seed of ``key`` under ``root``: ``root``'s entropy with ``key`` appended to its spawn key.

    For a root ``SeedSequence(n)`` (from an int ``rng``) this is ``SeedSequence(n, spawn_key=key)``.

    Parameters
    ----------
    root : numpy.random.SeedSequence
        E.g. ``galcube_lib._util.rng.seed_sequence(rng, draw_from_generator=True)``.
    *key : int
        Spawn-key entries (e.g. a purpose's prefix and a cube's index).

    Returns
    -------
    numpy.random.SeedSequence
        The seed; the same ``root`` and ``key`` always give the same numbers.
    """
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, *key))
