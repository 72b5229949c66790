"""Checkpoint bookkeeping shared by the training loops (:mod:`galcube_lib.training.unet`,
:mod:`galcube_lib.training.spectral`): the learning-rate schedule, the run folder's configuration
check, atomic checkpoint writes and the validation history."""
from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

from galcube_lib.io.files import atomic_path


def lr_factor(step: int, steps: int) -> float:
    """Learning-rate factor: linear warm-up over 2% of the steps, then cosine decay to 1%."""
    warm = max(1, steps // 50)
    if step < warm:
        return (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))


def config_json(config) -> dict:
    """A configuration dataclass as plain JSON values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def resolve_config(cls, config, overrides: dict):
    """``config`` (default ``cls()``) with the fields in ``overrides`` replaced; a TypeError
    that names a config of another type or an unknown field."""
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
    """Record ``config`` in a new run folder, or check that an existing run has the same one."""
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
    """``torch.save`` atomically (a killed run never leaves a half-written checkpoint)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def log(path: Path, row: dict) -> None:
    """Append a row to a CSV history, writing the header first for a new file."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
