"""The parameter record of a simulated cube: written with it, and enough to simulate it again."""
from __future__ import annotations

import json
import os
from dataclasses import fields, is_dataclass

import numpy as np

from .model import galaxy as _galaxy
from .observation import Observation


def component_record(comp) -> dict:
    """A JSON-able description of a component; callables are recorded by their repr."""
    def convert(value):
        if is_dataclass(value):
            return component_record(value)
        if callable(value):
            return {"callable": repr(value)}
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        return value
    return {"type": type(comp).__name__, **{f.name: convert(getattr(comp, f.name)) for f in fields(comp)}}


def component_from_record(rec: dict):
    """Rebuild a component from :func:`component_record` output."""
    cls = getattr(_galaxy, rec.get("type", ""), None)
    if cls not in _galaxy.COMPONENTS:
        raise ValueError(f"unknown component type {rec.get('type')!r}")
    kwargs = {}
    for key, value in rec.items():
        if key == "type":
            continue
        if isinstance(value, dict) and "callable" in value:
            raise ValueError(f"{rec['type']}.{key} was a Python callable ({value['callable']}); "
                             "it cannot be rebuilt from the record")
        if isinstance(value, dict) and "type" in value:
            value = component_from_record(value)
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[key] = value
    return cls(**kwargs)


def scene_from_record(record: dict) -> tuple[list, Observation]:
    """The components and observation that made a cube, from ``cube.record``.

    ``gl.simulate(*gl.scene_from_record(cube.record))`` re-creates the truth bit for bit.
    """
    if not isinstance(record, dict):
        raise TypeError(f"record must be a dict (cube.record), got {type(record).__name__}")
    if "components" not in record or "observation" not in record:
        raise ValueError("this record has no simulation parameters (a real observation?)")
    obs = dict(record["observation"])
    for key in ("beam_fwhm_px", "beam_fwhm_arcsec"):
        obs[key] = tuple(obs[key])
    return [component_from_record(c) for c in record["components"]], Observation(**obs)


def record_json(record: dict) -> str:
    """``record`` as JSON text. numpy arrays and scalars become lists and numbers, paths strings;
    anything else JSON cannot hold is a TypeError naming its key."""
    return json.dumps(_jsonable(record, "record"))


def _jsonable(value, key: str):
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(f"{key} has a key {k!r} ({type(k).__name__}); record keys must be "
                                "strings or numbers")
        return {k: _jsonable(v, f"{key}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), key)
    if isinstance(value, np.generic):
        return _jsonable(value.item(), key)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"{key} is a {type(value).__name__} ({str(value)[:60]}), which a FITS/JSON "
                    "record cannot hold: records hold numbers, strings, booleans, None, lists and "
                    "dicts (numpy arrays and scalars are converted); convert it or leave it out")
