"""Shipped network weights: ``data/models/<name>.pt`` (a state dict, in half precision unless
the model needs more) beside ``<name>.json`` (the model card: network configuration, training,
data and benchmark figures), and the noise scale every network works in (:func:`normalise`).

A card with no ``.pt`` beside it, whose ``blend`` entry maps other weights to their shares
(``{"unet3d": 0.7, "unet3d_family": 0.3}``), is a blend: the weighted mean of those networks'
outputs (:class:`galcube_lib.denoise.deep.networks.unet3d.UNet3DBlend`), loaded from the
members' own files."""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

from galcube_lib._util import checks
from galcube_lib.io.files import atomic_path, write_text
from galcube_lib.noise.level import sigma_negative

#: where the shipped weights live; GALCUBE_MODELS overrides it
MODELS_DIR = Path(__file__).resolve().parents[3] / "data" / "models"


def normalise(noisy) -> float:
    """The scale ``s`` the networks work in: the noise level of the cube's negative voxels.

    Every deep method divides the cube by ``s``, runs the network and multiplies the output
    by ``s``, and the training pairs are divided by it too, so the methods are scale-equivariant,
    ``f(a x) = a f(x)``.

    Parameters
    ----------
    noisy : numpy.ndarray
        The noisy cube (continuum-subtracted: zero-mean noise).

    Returns
    -------
    float
        ``s`` > 0; a ValueError when the cube has no negative finite voxel.
    """
    s = sigma_negative(noisy)
    if not (math.isfinite(s) and s > 0):
        raise ValueError("cannot normalise a cube without negative finite voxels: its noise level "
                         "is unknown (is it continuum-subtracted, and not blank?)")
    return s


def models_dir() -> Path:
    """The folder of the shipped weights.

    Returns
    -------
    pathlib.Path
        ``$GALCUBE_MODELS`` when set, else ``data/models`` of the repository.
    """
    return Path(os.environ.get("GALCUBE_MODELS", MODELS_DIR))


def weights_path(name_or_path) -> Path:
    """The ``.pt`` file of a shipped model name (e.g. "unet3d") or an explicit path.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A shipped model name or the path of a ``.pt`` file (or of a blend's ``.json`` card).

    Returns
    -------
    pathlib.Path
        The file (a shipped blend's ``.json`` card); a ValueError names an unknown model name,
        a FileNotFoundError a missing file.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"weights must be a shipped model name or the path of a .pt file, got "
                        f"{name_or_path!r} ({type(name_or_path).__name__})")
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = models_dir() / f"{name_or_path}.pt"
    if path.suffix != ".pt" and len(path.parts) == 1:
        if shipped.is_file():
            return shipped
        if _is_blend_card(shipped.with_suffix(".json")):
            return shipped.with_suffix(".json")
    names = ", ".join(sorted(p.stem for p in _shipped_files())) or "none"
    advice = (f"pass weights=<path to a .pt file> or a shipped model name ({names}), or "
              f"train them with galcube_lib.training.unet")
    if path.suffix == ".pt" or len(path.parts) > 1:
        raise FileNotFoundError(f"no weights file at {path}: {advice}")
    raise ValueError(f"weights={name_or_path!r} is not a shipped model name: {advice}")


def _is_blend_card(path: Path) -> bool:
    """Whether ``path`` is a card with no ``.pt`` beside it and a ``blend`` entry."""
    if not path.is_file() or path.with_suffix(".pt").exists():
        return False
    try:
        return "blend" in json.loads(path.read_text())
    except ValueError:
        return False


def _shipped_files() -> list[Path]:
    """The shipped ``.pt`` files and blend cards."""
    return sorted(models_dir().glob("*.pt")) + sorted(
        p for p in models_dir().glob("*.json") if _is_blend_card(p))


def _load_blend(path: Path):
    """``(state_dict, card)`` of a blend card: its members' states under ``members.<i>.``."""
    card = json.loads(path.read_text())
    blend = card.get("blend")
    if not (isinstance(blend, dict) and len(blend) >= 2):
        raise _not_weights(path, "a card without weights needs a 'blend' of at least 2 "
                                 "weights and their shares")
    state, members = {}, []
    for i, member in enumerate(blend):
        member_state, member_card = load(member)
        state.update({f"members.{i}.{k}": v for k, v in member_state.items()})
        members.append(member_card.get("network", {}))
    card = {**card, "architecture": "UNet3DBlend",
            "network": {"members": members, "shares": list(blend.values())}}
    return state, card


def load(name_or_path):
    """``(state_dict in float32, model card dict)`` of a shipped model or a ``.pt`` file.

    Training checkpoints (``best.pt``/``last.pt`` of :func:`galcube_lib.training.unet.train`) load too;
    their card is built from the configuration they carry. A blend card (module docstring) gives
    its members' states, each under ``members.<i>.``, and a card whose ``network`` holds the
    members' configurations and shares. Only tensors and plain containers
    are read (``torch.load(weights_only=True)``): a file that holds anything else, or is not a
    torch file at all, is a ValueError naming it.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A shipped model name, a ``.pt`` weights file, a training checkpoint or a blend card.

    Returns
    -------
    tuple
        ``(state_dict, card)``.
    """
    path = weights_path(name_or_path)
    import torch

    if path.suffix == ".json":
        return _load_blend(path)
    state = _read(path, "cpu", _not_weights)
    if isinstance(state, dict) and "model" in state:  # a training checkpoint
        card = {"network": state.get("model_config", {}), "training": state.get("config", {}),
                "step": state.get("step")}
        state = state["model"]
    else:
        card_path = path.with_suffix(".json")
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
    if not (isinstance(state, dict) and state
            and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise _not_weights(path, "it holds no state dict of tensors")
    return {k: v.float() for k, v in state.items()}, card


def load_network(cls, name_or_path, **config):
    """A network with the weights of ``name_or_path``, and its model card.

    Parameters
    ----------
    cls : type or dict
        The torch module, or ``{architecture: module}``: the one the card's ``architecture``
        names (the first where it names none of them).
    name_or_path : str or os.PathLike
        A shipped model name, a ``.pt`` weights file or a training checkpoint.
    **config
        Constructor arguments of ``cls`` (default the card's ``network`` entry).

    Returns
    -------
    tuple
        ``(network, card)``; a ValueError when the weights do not fit the network.
    """
    state, card = load(name_or_path)
    if isinstance(cls, dict):
        cls = cls.get(card.get("architecture"), next(iter(cls.values())))
    config = config or card.get("network", {})
    try:
        model = cls(**config)
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"the weights in {weights_path(name_or_path)} do not fit the "
                         f"{cls.__name__} network (weights of another model, or another "
                         f"configuration): {str(err).splitlines()[0][:200]}") from err
    return model, card


def read_checkpoint(path, map_location="cpu") -> dict:
    """A training checkpoint (a run's ``last.pt`` or ``best.pt``) as its dict.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint.
    map_location : str
        torch device of its tensors.

    Returns
    -------
    dict
        Tensors and plain containers only; a ValueError names a file that is not a checkpoint.
    """
    state = _read(Path(path), map_location, _not_checkpoint)
    if not (isinstance(state, dict) and "model" in state):
        raise _not_checkpoint(path, "it has no 'model' entry")
    return state


def _read(path: Path, map_location, error):
    """``torch.load(path, weights_only=True)``; what torch raises for a file that is no torch
    file becomes ``error(path, why)``."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise
    except Exception as err:  # noqa: BLE001 - torch raises pickle, zip and runtime errors alike
        raise error(path, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}") from err


def _not_checkpoint(path, why: str) -> ValueError:
    return ValueError(f"{path} is not a galcube training checkpoint ({why}); it is corrupt or in "
                      "another format: delete it (the run then starts afresh) or pass the "
                      "checkpoint a galcube training run wrote")


def _not_weights(path: Path, why: str) -> ValueError:
    return ValueError(f"{path} is not a galcube weights file ({why}); it is corrupt or in "
                      "another format: pass a .pt file written by galcube_lib.training.unet (a run's "
                      "best.pt) or a shipped model name, and re-download or re-train it if it "
                      "is damaged")


def available_devices() -> list[str]:
    """The torch devices of this machine.

    Returns
    -------
    list of str
        "cpu", then "cuda" and "cuda:N" when CUDA is available, "mps" on Apple silicon.
    """
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        out += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        out.append("mps")
    return out


def device(value, *, auto: bool = False) -> str:
    """A torch device this machine has.

    Parameters
    ----------
    value : str
        "cpu", "cuda", "cuda:N" or "mps" (and "auto" with ``auto``).
    auto : bool
        Accept "auto": CUDA when present, else the CPU.

    Returns
    -------
    str
        The device; a ValueError names the available ones.
    """
    if not isinstance(value, str):
        raise TypeError(f"device must be a string such as 'cpu', got {value!r} "
                        f"({type(value).__name__})")
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps" + ("|auto" if auto else ""), value):
        raise ValueError(f"device={value!r} is not a torch device: use 'cpu', or 'cuda', "
                         f"'cuda:N' or 'mps' where this machine has them"
                         + (", or 'auto'" if auto else ""))
    available = available_devices()  # imports torch: after the cheap checks
    if value == "auto":
        return "cuda" if "cuda" in available else "cpu"
    if value not in available:
        raise ValueError(f"device={value!r} is not available on this machine; use one of "
                         f"{', '.join(map(repr, available + (['auto'] if auto else [])))}")
    return value


def save(model, name_or_path, card: dict, precision: str = "float16") -> Path:
    """Write a model's weights (in half precision unless told) and its card, atomically.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    name_or_path : str or os.PathLike
        A model name (saved in :func:`models_dir`) or a ``.pt`` path.
    card : dict
        The model card, written beside as ``.json``.
    precision : str
        "float16" (the denoisers: half the size, no measurable loss) or "float32" (models
        whose outputs need more than three significant digits, such as the PDR emulator).

    Returns
    -------
    pathlib.Path
        The weights file.
    """
    import torch

    dtype = getattr(torch, checks.choice("precision", precision, ("float16", "float32")))
    path = Path(name_or_path)
    if path.suffix != ".pt":
        path = models_dir() / f"{name_or_path}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype) for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    write_text(path.with_suffix(".json"), json.dumps(card, indent=1) + "\n")
    return path
