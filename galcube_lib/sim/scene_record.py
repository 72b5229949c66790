"""The parameter record of a simulated cube: written with it, and enough to simulate it again."""
from __future__ import annotations

from dataclasses import fields, is_dataclass

from galcube_lib.sim import components as _galaxy
from galcube_lib.sim.observation import Observation


def component_record(comp) -> dict:
    """A JSON-able description of a component.

    Parameters
    ----------
    comp : Galaxy, Halo, Bridge or Tail
        The component (nested components, e.g. a Halo's disk, are described too).

    Returns
    -------
    dict
        ``{"type": class name, field: value, ...}``; tuples become lists and callables
        ``{"callable": repr}`` (which cannot be rebuilt).
    """
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
    """Rebuild a component from :func:`component_record` output.

    Parameters
    ----------
    rec : dict
        A component's record, with its ``"type"``.

    Returns
    -------
    Galaxy, Halo, Bridge or Tail
        The component, equal to the one recorded.

    Raises
    ------
    ValueError
        An unknown type, or a field that was a Python callable.
    """
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

    Parameters
    ----------
    record : dict
        A simulated cube's ``cube.record``.

    Returns
    -------
    components : list
        The Galaxy, Halo, Bridge and Tail components, in order.
    observation : Observation
        The observation.

    Raises
    ------
    TypeError
        ``record`` is not a dict.
    ValueError
        The record has no simulation parameters (a real observation), or a component
        cannot be rebuilt.
    """
    if not isinstance(record, dict):
        raise TypeError(f"record must be a dict (cube.record), got {type(record).__name__}")
    if "components" not in record or "observation" not in record:
        raise ValueError("this record has no simulation parameters (a real observation?)")
    obs = dict(record["observation"])
    for key in ("beam_fwhm_px", "beam_fwhm_arcsec"):
        obs[key] = tuple(obs[key])
    return [component_from_record(c) for c in record["components"]], Observation(**obs)
