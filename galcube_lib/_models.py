"""Shipped network weights: ``data/models/<name>.pt`` (half-precision state dict) beside
``<name>.json`` (the model card: network configuration, training, data and benchmark figures)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ._io import atomic_path, write_text

#: where the shipped weights live; GALCUBE_MODELS overrides it
MODELS_DIR = Path(__file__).resolve().parents[1] / "data" / "models"


def models_dir() -> Path:
    return Path(os.environ.get("GALCUBE_MODELS", MODELS_DIR))


def weights_path(name_or_path) -> Path:
    """The ``.pt`` file of a shipped model name (e.g. "unet3d") or an explicit path."""
    path = Path(name_or_path)
    if path.suffix != ".pt":
        path = models_dir() / f"{name_or_path}.pt"
    if not path.exists():
        raise FileNotFoundError(f"no weights at {path}: train them with galcube_lib.train, or "
                                f"pass weights=<path to a .pt file>")
    return path


def load(name_or_path):
    """``(state_dict in float32, model card dict)`` of a shipped model or a ``.pt`` file.

    Training checkpoints (``best.pt``/``last.pt`` of :func:`galcube_lib.train.train`) load too;
    their card is built from the configuration they carry.
    """
    import torch

    path = weights_path(name_or_path)
    state = torch.load(path, map_location="cpu", weights_only=False)
    if "model" in state:  # a training checkpoint
        card = {"network": state["model_config"], "training": state.get("config", {}),
                "step": state.get("step")}
        state = state["model"]
    else:
        card_path = path.with_suffix(".json")
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
    return {k: v.float() for k, v in state.items()}, card


def save(model, name_or_path, card: dict) -> Path:
    """Write a model's weights in half precision and its card, atomically."""
    import torch

    path = Path(name_or_path)
    if path.suffix != ".pt":
        path = models_dir() / f"{name_or_path}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16) for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    write_text(path.with_suffix(".json"), json.dumps(card, indent=1) + "\n")
    return path
