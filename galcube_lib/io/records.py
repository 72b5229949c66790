"""Records (provenance and parameters) as JSON text, for FITS headers, stores and model cards."""
from __future__ import annotations

import json
import os

import numpy as np


def record_json(record: dict) -> str:
    """``record`` as JSON text.

    Parameters
    ----------
    record : dict
        Numbers, strings, booleans, None, lists, tuples and dicts (keys strings or numbers);
        numpy arrays and scalars become lists and numbers, paths strings.

    Returns
    -------
    str
        The JSON text.

    Raises
    ------
    TypeError
        A value or key JSON cannot hold; the message names its key.
    """
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
