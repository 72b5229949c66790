"""Argument checks that name the parameter, its value and the valid range."""
from __future__ import annotations

import functools
import math
import warnings
from numbers import Integral, Real


def _range_text(lo, hi, lo_open, hi_open) -> str:
    left = "(" if lo_open or lo is None else "["
    right = ")" if hi_open or hi is None else "]"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    return f"{left}{lo_s}, {hi_s}{right}"


def number(name: str, value, lo=None, hi=None, *, lo_open=False, hi_open=False) -> float:
    """Return ``value`` as a float after checking it is finite and inside the range.

    ``lo``/``hi`` of None mean unbounded; ``lo_open``/``hi_open`` exclude the bound.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    bad = not math.isfinite(value)
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        raise ValueError(
            f"{name}={value!r} is outside the valid range {_range_text(lo, hi, lo_open, hi_open)}"
        )
    return value


def integer(name: str, value, lo=None, hi=None) -> int:
    """Return ``value`` as an int after checking it is an integer inside [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name}={value!r} is outside the valid range {_range_text(lo, hi, False, False)}")
    return value


def choice(name: str, value, options) -> str:
    """Check that ``value`` is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, options))}")
    return value


def boolean(name: str, value) -> bool:
    """Check that ``value`` is a bool (or numpy bool); a string such as "no" is a TypeError."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def annotated(name: str, value, annotation: str):
    """Check ``value`` against a simple annotation ("bool", "int", "float" or "str", each
    optionally "| None"), as :func:`boolean`, :func:`integer` (no range) or :func:`number`
    (finite) do; other annotations (e.g. "str | os.PathLike") are left to the function.
    Returns ``value`` unchanged."""
    kinds = [kind.strip() for kind in str(annotation).split("|")]
    if value is None and "None" in kinds:
        return value
    checks = {"bool": boolean, "int": integer, "float": number, "str": _string}
    simple = [kind for kind in kinds if kind != "None"]
    if len(simple) == 1 and simple[0] in checks:
        checks[simple[0]](name, value)
    return value


def _string(name: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
    return value


def sequence(name: str, value, length: int) -> tuple:
    """Return ``value`` as a tuple after checking it is a list or tuple of ``length`` items."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a tuple of {length} values, got {value!r} "
                        f"({type(value).__name__})")
    if len(value) != length:
        raise ValueError(f"{name}={value!r} must have {length} values, got {len(value)}")
    return tuple(value)


_LAYOUTS = {2: "a 2-D (y, x) map", 3: "a 3-D (v, y, x) cube"}


def real_array(name: str, value, ndim=(3,), *, dtype="float64", some_finite: bool = True,
               copy: bool = True):
    """``value`` as an array of ``dtype`` (a new one unless ``copy=False``), checked.

    Parameters
    ----------
    name : str
        The argument's name, for error messages.
    value : array_like
        A real numeric array.
    ndim : tuple of int or None, optional
        The numbers of dimensions allowed, among 2 (a (y, x) map) and 3 (a (v, y, x) cube);
        default (3,); None: any.
    dtype : numpy dtype or None, optional
        Of the array returned (default float64); None keeps ``value``'s.
    some_finite : bool, optional
        Refuse an array without a finite value (default True).
    copy : bool, optional
        Always return a new array (default True); False returns ``value`` itself when it is
        already an array of ``dtype``.

    Returns
    -------
    numpy.ndarray
        Of ``dtype``.

    Raises
    ------
    TypeError
        Not a real numeric array.
    ValueError
        Another number of dimensions, or (``some_finite``) no finite value.
    """
    import numpy as np

    try:
        x = np.asarray(value)
    except ValueError:   # ragged nested sequences
        x = np.asarray(value, dtype=object)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        got = f"dtype {x.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
        raise TypeError(f"{name} must be a real numeric array, got {got}")
    if ndim is not None and x.ndim not in ndim:
        want = " or ".join(_LAYOUTS[n] for n in ndim)
        raise ValueError(f"{name} must be {want}, got shape {x.shape}")
    if some_finite and not np.isfinite(x).any():
        raise ValueError(f"{name} has no finite value")
    return np.array(x, dtype=dtype) if copy else np.asarray(x, dtype=dtype)


def beam_fwhm(name: str, value) -> tuple[float, float]:
    """A beam's (major, minor) FWHM from one number (a circular beam) or a (major, minor) pair
    (tuple, list or array): both finite and > 0, the minor not above the major
    (docs/conventions.md, Beam). Errors name ``name``, or ``name[0]``/``name[1]`` for one of a
    pair."""
    import numpy as np

    if np.ndim(value) == 0:
        major = number(name, value, 0.0, None, lo_open=True)
        return major, major
    major, minor = sequence(name, list(value) if isinstance(value, np.ndarray) else value, 2)
    major = number(f"{name}[0]", major, 0.0, None, lo_open=True)
    return major, number(f"{name}[1]", minor, 0.0, major, lo_open=True)


def memory(what: str, nbytes: float, advice: str) -> None:
    """Refuse, before allocating, a request for more memory than this machine has available:
    a ValueError that says what needs how much, what is available and ``advice`` (which
    parameter to change)."""
    import psutil

    available = psutil.virtual_memory().available
    if nbytes > available:
        raise ValueError(f"{what} needs about {size_text(nbytes)} of memory, more than the "
                         f"{size_text(available)} available: {advice}")


def size_text(nbytes: float) -> str:
    """A byte count for people: '1.2 GiB', '152 TiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024


def interval(name: str, value, lo=None, hi=None, *, lo_open=False, integral=False) -> tuple:
    """Return a (low, high) tuple after checking both ends as :func:`number` (or
    :func:`integer` if ``integral``) does and that low <= high."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise TypeError(f"{name} must be a (low, high) tuple, got {value!r} ({type(value).__name__})")
    ends = tuple(integer(f"{name}[{i}]", v, lo, hi) if integral
                 else number(f"{name}[{i}]", v, lo, hi, lo_open=lo_open) for i, v in enumerate(value))
    if ends[0] > ends[1]:
        raise ValueError(f"{name}={value!r} has low > high: give (low, high)")
    return ends


def renamed(**old_to_new: str):
    """Decorator: keyword arguments renamed to the project's names (``sigma``, ``n_sigma``,
    ``rng``) keep working under their old name, with a DeprecationWarning that names both.
    The map is kept as ``__renamed__`` so that dispatchers can accept the old names too."""
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            return function(*args, **rename_keywords(kwargs, old_to_new, function.__qualname__))
        wrapper.__renamed__ = dict(old_to_new)
        return wrapper
    return decorate


def rename_keywords(kwargs: dict, old_to_new: dict, where: str) -> dict:
    """``kwargs`` with deprecated names replaced by their new ones (a DeprecationWarning each)."""
    for old, new in old_to_new.items():
        if old not in kwargs:
            continue
        if new in kwargs:
            raise TypeError(f"{where}() got both {new}= and its deprecated old name {old}=; pass {new}= only")
        warnings.warn(f"{where}(): {old}= is deprecated, use {new}=", DeprecationWarning, stacklevel=3)
        kwargs[new] = kwargs.pop(old)
    return kwargs
