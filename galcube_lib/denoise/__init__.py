"""Denoisers: ``gl.denoise(cube, method=..., **options)`` and one module per method.

Every method is also a plain function on arrays, ``method(data, *, <context>, **options)``,
taking a finite float (v, y, x) array. The context parameters a method may declare are filled
from the cube: ``beam_fwhm_px`` (bmaj, bmin), ``beam_pa_deg``, ``channel_kms``. ``denoise``
handles NaN/blank voxels for every method: they are set to 0 going in and to NaN coming out.
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np

from .._version import __version__
from ..cube import Cube

#: method name -> "module:function" of its array function
METHODS = {
    "gaussian": "gaussian:gaussian",
    "pca": "pca:pca",
    "ica": "ica:ica",
    "ist": "ist:ist",
    "smooth_clip": "smooth_clip:smooth_clip",
    "unet": "unet:unet",
    "noise2self": "noise2self:noise2self",
    "spectral": "spectral:spectral",
    "lcae": "lcae:lcae",
}
CONTEXT = ("beam_fwhm_px", "beam_pa_deg", "channel_kms")


def method_function(method: str):
    """The array function implementing ``method``."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}")
    module, name = METHODS[method].split(":")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def denoise(cube: Cube, method: str = "ist", **options) -> Cube:
    """Denoise a cube.

    Parameters
    ----------
    cube : Cube
        Noisy cube (simulated or real); NaN voxels are treated as blank.
    method : str
        One of ``METHODS``: "gaussian", "pca", "ica", "ist", "smooth_clip", "unet",
        "noise2self", "spectral", "lcae".
    **options
        Options of that method (see its function's docstring); unknown options are an error.
        The deep methods take ``uncertainty=n`` (noise re-samplings) for an uncertainty cube.

    Returns
    -------
    Cube
        The denoised data, NaN where the input was NaN. ``clean`` (the truth, when known) and
        the header are kept; ``record["denoise"]`` and a HISTORY card name the method and options;
        ``uncertainty`` holds the per-voxel 1-sigma uncertainty when the method returned one.
    """
    if not isinstance(cube, Cube):
        raise TypeError(f"cube must be a galcube Cube, got {type(cube).__name__}")
    func = method_function(method)
    params = inspect.signature(func).parameters
    allowed = [p for p in params if p not in CONTEXT and p != "data"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for method {method!r}; "
                         f"valid options: {', '.join(allowed) or 'none'}")
    context = {"beam_fwhm_px": cube.beam_fwhm_px, "beam_pa_deg": cube.beam_pa_deg,
               "channel_kms": cube.channel_kms}
    finite = np.isfinite(cube.data)
    data = np.where(finite, cube.data, 0.0).astype(np.float32)
    result = func(data, **{k: v for k, v in context.items() if k in params}, **options)
    out, sigma = result if isinstance(result, tuple) else (result, None)
    out = np.where(finite, np.asarray(out, dtype=np.float32), np.float32(np.nan))
    if sigma is not None:
        sigma = np.where(finite, np.asarray(sigma, dtype=np.float32), np.float32(np.nan))
    header = cube.header.copy()
    described = {k: _describe(v) for k, v in options.items()}
    header["HISTORY"] = f"galcube {__version__} denoise: method={method} options={described}"
    record = {**cube.record, "denoise": {"method": method, "options": described}}
    return Cube(out, header, clean=cube.clean, uncertainty=sigma, record=record)


def _describe(value):
    """An option as it goes into the record and the HISTORY card (arrays by shape only)."""
    if isinstance(value, np.ndarray):
        return f"<{value.dtype} array {value.shape}>"
    return value if isinstance(value, (bool, int, float, str, type(None))) else repr(value)
