"""The denoise panel's logic without any widget: methods, their options, runs and metrics.

Methods come from the library's registry (``galcube_lib.denoise.METHODS``) and each method's
options from its array function's signature (defaults and annotations) and numpydoc docstring
(types, choices and its description), so a new method or option shows up by itself.
"""
from __future__ import annotations

import ast
import inspect
import re
import time
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

import galcube_lib as gl
from galcube_lib.io import checks
from galcube_lib.io.cube import check_cube
from galcube_lib.metrics import real
from galcube_lib.denoise import CONTEXT, METHODS, method_function

from ._docs import parameter_docs

#: options the model sets itself (``progress``) besides the cube's context and the data
MANAGED = ("data", "progress", *CONTEXT)
#: figures of :func:`galcube_lib.metrics.evaluate` shown with a truth, with their labels
TRUTH_FIGURES = {"flux_conservation": "flux conservation [%]", "nrmse": "normalised RMSE",
                 "snr_gain": "SNR gain", "spectrum_pearson": "spectrum Pearson r",
                 "mom0_ssim": "moment-0 SSIM",
                 "offsource_mean_flux_sigma": "off-source flux [sigma]",
                 "offsource_detection_fraction": "off-source detections"}
#: figures of :func:`galcube_lib.metrics.real.evaluate_real` shown without a truth
REAL_FIGURES = {"flux_ratio_pct": "flux denoised/noisy [%]",
                "flux_vs_moment_pct": "flux vs masked moment [%]",
                "snr_gain_offsource": "SNR gain (off-source)", "snr_gain_null": "SNR gain (null)",
                "snr_gain_reinjection": "SNR gain (re-injection)",
                "null_mean_sigma": "null flux [sigma]",
                "null_detection_fraction": "null detections"}
#: evaluate_real's counts in the panel: small, so that a run takes seconds (each re-injection
#: and null cube costs one denoising)
REAL_COUNTS = {"n_realisations": 2, "n_null": 2, "n_placements": 100}


@dataclass(frozen=True)
class Option:
    """One option of a method.

    Attributes
    ----------
    name : str
    kind : str
        "bool", "int", "float", "text", "choice", "tuple" (of numbers), "optional int" or
        "optional float" (None lets the method choose).
    default
        The function's default.
    choices : tuple
        Values of a "choice".
    doc : str
        Its description in the function's docstring (the control's tooltip).
    """

    name: str
    kind: str
    default: object
    choices: tuple = ()
    doc: str = ""


def _docs(func) -> dict:
    """:func:`~widgets._docs.parameter_docs` of ``func``, over those of the functions it defers
    to (":func:`name`" found in ``galcube_lib``)."""
    out = {}
    for ref in re.findall(r":func:`~?(?:[\w.]+\.)?(\w+)`", inspect.getdoc(func) or ""):
        target = getattr(gl, ref, None)
        if callable(target) and target is not func:
            out.update(_docs(target))
    return {**out, **parameter_docs(func)}


def _kind(default, annotation: str, doc_type: str):
    """An option's kind and choices, or None for options no control can set (arrays)."""
    choices = tuple(re.findall(r'"([^"]+)"', doc_type)) if doc_type.startswith("{") else ()
    described = f"{annotation} {doc_type}"
    if isinstance(default, bool):
        return "bool", ()
    if isinstance(default, Real) and not re.search(r"\bNone\b|optional", described):
        return ("int" if isinstance(default, Integral) else "float"), ()
    if isinstance(default, str):
        return ("choice", choices) if choices else ("text", ())
    if isinstance(default, tuple):
        return "tuple", ()
    if "array" in doc_type:
        return None
    for number in ("int", "float"):
        if re.search(rf"\b{number}\b", described):
            return f"optional {number}", ()
    return None


def method_options(method: str) -> dict:
    """The options a user sets for ``method``, by name (:class:`Option`)."""
    func = method_function(method)
    docs = _docs(func)
    out = {}
    for name, p in inspect.signature(func).parameters.items():
        if name in MANAGED or p.default is inspect.Parameter.empty:
            continue
        doc_type, desc = docs.get(name, ("", ""))
        kind = _kind(p.default, str(p.annotation), doc_type)
        if kind is not None:
            out[name] = Option(name, kind[0], p.default, kind[1], desc)
    return out


def _literal(option: Option, text: str):
    """The value typed in a text box (tuple and optional kinds): a Python literal, None when
    empty."""
    try:
        return None if not text.strip() else ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        wanted = (f"numbers such as {option.default}" if option.kind == "tuple" else
                  f"an {option.kind.removeprefix('optional ')}, or nothing to let the method choose")
        raise ValueError(f"{option.name}={text!r} cannot be read: type {wanted}") from None


def _numbers(name: str, value) -> tuple:
    if not (isinstance(value, (tuple, list))
            and all(isinstance(x, Real) and not isinstance(x, bool) for x in value)):
        raise TypeError(f"{name} must be a tuple of numbers, got {value!r}")
    return tuple(value)


def _text(name: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
    return value


#: the type check of each kind (without the "optional " prefix); ranges are the method's
_CHECKS = {"bool": checks.boolean, "int": checks.integer, "float": checks.number,
           "text": _text, "tuple": _numbers}


def _check(option: Option, value):
    """``value`` for ``option``, parsed from text where the control is a text box; a TypeError
    (wrong type) or ValueError (unreadable text, unknown choice) naming the option."""
    kind = option.kind
    if isinstance(value, str) and (kind == "tuple" or kind.startswith("optional")):
        value = _literal(option, value)
    if kind.startswith("optional") and value is None:
        return None
    if kind == "choice":
        return checks.choice(option.name, value, option.choices)
    return _CHECKS[kind.removeprefix("optional ")](option.name, value)


@dataclass(frozen=True)
class Run:
    """One denoising: method, the options given, the result, its wall time and its figures."""

    method: str
    options: dict
    denoised: gl.Cube
    seconds: float
    figures: dict


class DenoiseModel:
    """Everything the denoise panel shows and does, as plain Python.

    Parameters
    ----------
    cube : Cube
        The noisy cube.
    truth : Cube or array, optional
        The noise-free truth; default ``cube.clean`` (None for a real cube). With a truth the
        figures are :func:`galcube_lib.metrics.evaluate`'s, without one
        :func:`galcube_lib.metrics.real.evaluate_real`'s (with ``REAL_COUNTS``).

    Attributes
    ----------
    methods : tuple of str
        The methods of :func:`galcube_lib.denoise`.
    method : str
        The chosen method; setting it resets ``options``.
    options : dict
        The chosen method's options that differ from their defaults (what goes to denoise).
    runs : list of Run
        Every run so far, oldest first.
    """

    def __init__(self, cube: gl.Cube, truth=None):
        self.cube = check_cube("cube", cube)
        truth = cube.clean if truth is None else truth
        if truth is not None:
            truth = checks.real_array("truth", truth.data if isinstance(truth, gl.Cube) else truth,
                                      ndim=None, dtype=np.float32, some_finite=False, copy=False)
        self.truth = truth
        if self.truth is not None and self.truth.shape != cube.shape:
            raise ValueError(f"truth has shape {self.truth.shape}, the cube has {cube.shape}")
        self.methods = tuple(METHODS)
        self.runs = []
        self.method = "ist" if "ist" in self.methods else self.methods[0]

    @property
    def method(self) -> str:
        return self._method

    @method.setter
    def method(self, method: str):
        method_function(method)           # ValueError listing the methods
        self._method, self.options = method, {}
        self.available = method_options(method)

    def value(self, name: str):
        """The current value of an option (its default unless set)."""
        return self.options.get(name, self._option(name).default)

    def _option(self, name: str) -> Option:
        if name not in self.available:
            raise ValueError(f"unknown option {name!r} for method {self.method!r}; valid "
                             f"options: {', '.join(self.available) or 'none'}")
        return self.available[name]

    def set_option(self, name: str, value) -> None:
        """Set an option (text is parsed for tuple and optional kinds); its default removes it
        from ``options``."""
        option = self._option(name)
        value = _check(option, value)
        if value == option.default:
            self.options.pop(name, None)
        else:
            self.options[name] = value

    def run(self, progress=None, *, bars: bool = False) -> gl.Cube:
        """Denoise with the chosen method and options and measure the result.

        Parameters
        ----------
        progress : callable, optional
            Called as ``progress(fraction, text)`` before each step and at the end.
        bars : bool
            Let methods that take ``progress`` show their own (tqdm) progress bars.

        Returns
        -------
        Cube
            The denoised cube; the run is appended to ``runs``.
        """
        report = progress or (lambda fraction, text: None)
        options = dict(self.options)
        extra = {"progress": True} if bars and "progress" in inspect.signature(
            method_function(self.method)).parameters else {}
        report(0.0, f"denoising with {self.method}")
        if self.truth is None:
            figures = real.evaluate_real(self.cube, self.method, options={**options, **extra},
                                         **REAL_COUNTS)
            den, seconds = figures.pop("denoised"), figures["seconds"]
        else:
            start = time.perf_counter()
            den = gl.denoise(self.cube, self.method, **options, **extra)
            seconds = time.perf_counter() - start
            report(0.6, "measuring")
            figures = gl.metrics.evaluate(den, truth=self.truth, noisy=self.cube)
        self.runs.append(Run(self.method, options, den, seconds, figures))
        report(1.0, f"{self.method} done in {seconds:.2f} s")
        return den

    def metrics_table(self):
        """One row per run: method, options, seconds and the headline figures (column names
        are the library's keys; ``TRUTH_FIGURES``/``REAL_FIGURES`` give their labels).

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        names = REAL_FIGURES if self.truth is None else TRUTH_FIGURES
        rows = [{"method": r.method, "options": ", ".join(f"{k}={v}" for k, v in r.options.items()),
                 "seconds": r.seconds, **{k: r.figures.get(k, np.nan) for k in names}}
                for r in self.runs]
        columns = ["method", "options", "seconds", *names]
        return pd.DataFrame(rows, columns=columns, index=pd.RangeIndex(1, len(rows) + 1, name="run"))

    def comparison(self, run: int = -1) -> dict:
        """Cubes to compare for a run (default the last): noisy, denoised, truth (when known)
        and residual = noisy - denoised, by name."""
        if not self.runs:
            raise RuntimeError("nothing to compare: run a method first")
        den = self.runs[checks.integer("run", run, -len(self.runs), len(self.runs) - 1)].denoised
        out = {"noisy": self.cube, "denoised": den}
        if self.truth is not None:
            out["truth"] = self.cube.replace(data=self.truth, noise=None)
        out["residual"] = self.cube.replace(data=self.cube.data - den.data, noise=None)
        return out
