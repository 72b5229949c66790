"""Denoisers: ``gl.denoise(cube, method=..., **options)`` and one module per method.

Every method is also a plain function on arrays, ``method(data, *, <context>, **options)``,
taking a finite float (v, y, x) array. The context parameters a method may declare are filled
from the cube: ``beam_fwhm_px`` (bmaj, bmin), ``beam_pa_deg``, ``channel_kms``. ``denoise``
handles NaN/blank voxels for every method: they are set to 0 going in and to NaN coming out.
"""
from __future__ import annotations

import importlib
import inspect
import warnings

import numpy as np

from galcube_lib._util import checks as _validate
from galcube_lib.io.crop import as_box, crop, mask_box, pad
from galcube_lib._version import __version__
from galcube_lib.io import lazy
from galcube_lib.io.cube import Cube, check_cube
from galcube_lib.noise.correlation import noise_blob_pixels
from galcube_lib.denoise.smooth_clip import smooth_clip_mask

#: method name -> "module:function" of its array function
METHODS = {
    "gaussian": "gaussian:gaussian",
    "pca": "pca:pca",
    "ica": "ica:ica",
    "ist": "ist:ist",
    "smooth_clip": "smooth_clip:smooth_clip",
    "unet": "deep.unet:unet",
    "noise2self": "deep.noise2self:noise2self",
    "spectral": "deep.spectral:spectral",
    "lcae": "deep.lcae:lcae",
}
CONTEXT = ("beam_fwhm_px", "beam_pa_deg", "channel_kms")


def method_function(method: str):
    """The array function implementing ``method``.

    Parameters
    ----------
    method : str
        A name in ``METHODS``; its module is imported now.

    Returns
    -------
    callable
        ``func(data, *, <context>, **options)`` (see the module docstring).

    Raises
    ------
    TypeError
        ``method`` is not a string.
    ValueError
        An unknown method.
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {', '.join(map(repr, METHODS))}; got "
                        f"{method!r} ({type(method).__name__})")
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}")
    module, name = METHODS[method].split(":")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def source_mask(cube: Cube, **options) -> np.ndarray:
    """The smooth-and-clip source mask of a cube, with the cube's beam.

    NaN voxels count as blank (0); a primary-beam corrected cube is masked in flat-noise
    units, data x gain.

    Parameters
    ----------
    cube : Cube
        The cube.
    **options
        Options of :func:`galcube_lib.smooth_clip_mask`. Its size cut ``min_size`` defaults
        to :func:`noise_blob_pixels` of the cube, so that it follows the measured noise
        correlation rather than the restoring beam.

    Returns
    -------
    numpy.ndarray
        Boolean (v, y, x) mask, True on the emission.
    """
    flat = cube.data if cube.gain is None else cube.data * cube.gain
    if "min_size" not in options:
        options["min_size"] = noise_blob_pixels(flat)
    data = np.where(np.isfinite(flat), flat, np.float32(0.0))
    return smooth_clip_mask(data, beam_fwhm_px=cube.beam_fwhm_px, beam_pa_deg=cube.beam_pa_deg,
                            **options)


def source_box(cube: Cube, mask=None) -> tuple[slice, slice, slice]:
    """A box around the emission, for ``denoise(..., box="auto")``.

    The bounding box of ``mask`` grown by 8 channels and 8 beam FWHM (at least 16 px) on each
    side, and to at least 64 along each axis (as the cube allows). The margin is generous
    because the methods measure the noise inside the box: with a 16 px margin and 32-channel
    boxes IST kept 72% and 84% of the flux of two SNR-5 test cubes, against 91% and 105% on
    the whole cubes.

    Parameters
    ----------
    cube : Cube
        The cube.
    mask : array_like, optional
        Boolean (v, y, x) emission mask of the cube's shape; :func:`source_mask` by default.

    Returns
    -------
    tuple of slice
        (v, y, x) slices.

    Raises
    ------
    ValueError
        A mask of the wrong shape, or an empty one.
    """
    mask = source_mask(cube) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != cube.shape:
        raise ValueError(f"mask has shape {mask.shape}, the cube has {cube.shape}")
    margin_px = max(16, int(np.ceil(8 * cube.beam_fwhm_px[0])))
    box = mask_box(mask, margin=(8, margin_px, margin_px), min_side=64)
    if box is None:
        raise ValueError("box='auto' found no emission (the smooth_clip mask is empty): use "
                         "box=None to denoise the whole cube, or give the box yourself")
    return box


def denoise(cube: Cube, method: str = "ist", *, box=None, null_check="auto", out=None,
            **options) -> Cube:
    """Denoise a cube.

    Parameters
    ----------
    cube : Cube
        Noisy cube (simulated or real); NaN voxels are treated as blank. A primary-beam
        corrected cube with a gain (``cube.gain``) is denoised in flat-noise units,
        data x gain, and divided by the gain again after.
    method : str
        One of ``METHODS``: "gaussian", "pca", "ica", "ist", "smooth_clip", "unet",
        "noise2self", "spectral", "lcae".
    box : None, "auto" or ((v0, v1), (y0, y1), (x0, x1))
        Denoise only this part of the cube (half-open index ranges) and pad the result back to
        the full size with 0 (no emission) outside it, NaN where the input is NaN; the
        uncertainty is NaN outside it. "auto" takes :func:`source_box`: the emission found by
        the smooth_clip mask with a margin. None (default) denoises the whole cube.
    null_check : "auto" or int
        Own-noise nulls to denoise as a hallucination check (docs/conventions.md, Benchmark
        protocol): cubes of pure noise like this cube's own (:func:`~galcube_lib.denoise.
        emission.own_noise`), denoised the same way; their flux in the source's aperture
        (:func:`~galcube_lib.denoise.emission.flux_aperture`), in units of the spread of that
        flux over 16 undenoised draws, goes into ``record["denoise"]["null_check"]`` and a
        HISTORY card, with a warning above 3 sigma. "auto" (default): 1 for a cube read from
        FITS with no truth (a real cube), 0 for a simulated one; 0 switches it off. Each null
        costs one more denoising. A lazy cube gets none ("auto"): run it on a part of the cube
        in memory, ``gl.denoise(cube.crop(box).compute(), method)``.
    out : str or os.PathLike, optional
        For a lazy cube (:attr:`Cube.lazy`, e.g. ``gl.read_fits(path, lazy=True)``), where the
        result goes (``.zarr`` or ``.fits``): the cube is denoised tile by tile and the result
        written as it goes, resumably (:func:`~galcube_lib.denoise.blockwise.denoise_blocks`,
        whose defaults it takes; call that for the tiles, workers or a dask client). Only the
        methods in ``blockwise.BLOCKWISE`` run this way.
    **options
        Options of that method (see its function's docstring); unknown options are an error.
        An option's deprecated old name (e.g. ist's ``k`` for ``n_sigma``) still works, with
        a DeprecationWarning.
        The deep methods take ``uncertainty=n`` (noise re-samplings) for an uncertainty cube.

    Returns
    -------
    Cube
        The denoised data, NaN where the input was NaN. ``clean`` (the truth, when known) and
        the header are kept; ``record["denoise"]`` and a HISTORY card name the method and options;
        ``uncertainty`` holds the per-voxel 1-sigma uncertainty when the method returned one.
        With a null check, ``record["denoise"]["null_check"]`` holds ``null_flux_sigma`` (the
        mean over the nulls), ``values`` and ``n_null``, or ``skipped`` with the reason.

    Raises
    ------
    TypeError, ValueError
        An unknown method or option, an option of the wrong type or range (naming it), a cube
        with no finite voxel or a constant one, or an empty ``box="auto"``.

    Examples
    --------
    >>> cube = gl.simulate(gl.Galaxy(r_eff_kpc=1.0),
    ...                    gl.Observation(n_pix=32, n_chan=16, channel_kms=40.0))
    >>> noisy = gl.add_noise(cube, peak_snr=5, rng=0)
    >>> smooth = gl.denoise(noisy, "gaussian", spectral_fwhm_channels=1.0)
    >>> smooth.record["denoise"]
    {'method': 'gaussian', 'options': {'spectral_fwhm_channels': 1.0}}
    >>> rmse = lambda c: float(np.sqrt(np.mean((c.data - cube.data) ** 2)))
    >>> rmse(smooth) < rmse(noisy), rmse(gl.denoise(noisy)) < rmse(noisy)   # gaussian, IST
    (True, True)
    """
    check_cube("cube", cube)
    if cube.lazy or out is not None:
        return _denoise_lazy(cube, method, box, null_check, out, options)
    func = method_function(method)
    # options renamed to the project's names (checks.renamed) keep working, with a warning
    options = _validate.rename_keywords(options, getattr(func, "__renamed__", {}), "denoise")
    n_null = _n_null(null_check, cube)
    mask = None
    if isinstance(box, str) and box == "auto":
        mask = source_mask(cube)     # the nulls, which have no emission, get the same box
        box = source_box(cube, mask)
    out = _denoise(cube, method, func, box, options)
    if not n_null:
        return out
    from galcube_lib.denoise.emission import null_check as check_nulls, with_null_check

    found = check_nulls(cube, lambda noise: _denoise(noise, method, func, box, options).data,
                        n_null, mask=mask)
    if found.get("null_flux_sigma", 0.0) > 3:
        warnings.warn(f"{method} puts {found['null_flux_sigma']:+.1f} sigma of flux into pure "
                      "noise like this cube's own (its null check): part of the flux it returns "
                      "may be invented", UserWarning, stacklevel=2)
    return with_null_check(out, found)


def _denoise_lazy(cube: Cube, method: str, box, null_check, out, options) -> Cube:
    """:func:`denoise` of a lazy cube, or of any cube with ``out``: block-wise."""
    from galcube_lib.denoise.blockwise import denoise_blocks

    if out is None:
        raise ValueError("a lazy cube is denoised block by block into a file: give out= a .zarr "
                         "or .fits path (or cube.compute() to denoise it in memory)")
    if box is not None:
        raise ValueError("box= needs the cube in memory: denoise cube.crop(box).compute(), or "
                         "the whole lazy cube with box=None")
    if not (isinstance(null_check, str) and null_check == "auto") and _n_null(null_check, cube):
        raise ValueError(f"null_check={null_check!r}: a lazy cube gets no null check; run it on a "
                         "part of the cube in memory, gl.denoise(cube.crop(box).compute(), method)")
    result = denoise_blocks(cube, method, out, options=options)
    if "read" not in cube.record or cube.clean is not None:
        return result
    record = {**result.record, "denoise": {
        **result.record["denoise"],
        "null_check": {"skipped": "a lazy cube: run it on a part in memory"}}}
    return result.replace(record=record)


def _n_null(null_check, cube: Cube) -> int:
    if isinstance(null_check, str):
        _validate.choice("null_check", null_check, ("auto",))
        return int(cube.clean is None and "read" in cube.record)
    return _validate.integer("null_check", null_check, 0, 100)


def method_input(cube: Cube):
    """What a method's array function gets from a cube: its data in the units of a flat noise
    (times the primary-beam gain, where the cube has one), blanks set to 0.

    Parameters
    ----------
    cube : Cube
        The cube.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray or numpy.float32)
        The float32 (v, y, x) data, where it was finite (boolean), and the gain (1 without
        one); a ValueError for a cube with no finite voxel or a constant one.
    """
    flat, finite, gain = flat_input(cube.data, cube.gain)
    _check_content(flat, finite)
    return flat, finite, gain


def flat_input(data, gain=None):
    """Data (or a part of it, also from a lazy cube) in the units of a flat noise, blanks 0.

    Parameters
    ----------
    data : array_like or dask.array.Array
        (v, y, x) data; a dask array is computed.
    gain : array_like, dask.array.Array or None
        The primary-beam gain of the same voxels, or None.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray or numpy.float32)
        float32 data x gain with non-finite voxels 0, where it was finite (boolean), and the
        gain (1 without one).
    """
    gain = np.float32(1.0) if gain is None else np.asarray(lazy.compute(gain), np.float32)
    flat = np.asarray(lazy.compute(data), np.float32) * gain
    finite = np.isfinite(flat)
    return np.where(finite, flat, np.float32(0.0)), finite, gain


def _denoise(cube: Cube, method: str, func, box, options) -> Cube:
    """:func:`denoise` without its null check."""
    if box is not None:
        return _denoise_box(cube, method, func, box, options)
    context = method_context(cube, method, func, options)
    data, finite, gain = method_input(cube)
    result = func(data, **context, **options)
    # the deep methods with an uncertainty option return Denoised(data, uncertainty), always
    out, sigma = result if isinstance(result, tuple) else (result, None)
    out = np.where(finite, np.asarray(out, dtype=np.float32) / gain, np.float32(np.nan))
    if sigma is not None:
        sigma = np.where(finite, np.asarray(sigma, dtype=np.float32) / gain, np.float32(np.nan))
    header, record = denoised_metadata(cube, method, options)
    return Cube(out, header, clean=cube.clean, uncertainty=sigma, gain=cube.gain, record=record)


def method_context(cube: Cube, method: str, func, options: dict) -> dict:
    """Check a method's options, and give the context parameters it takes from the cube.

    Parameters
    ----------
    cube : Cube
        The cube to denoise.
    method : str
        The method's name, for error messages.
    func : callable
        Its array function (:func:`method_function`).
    options : dict
        The options given.

    Returns
    -------
    dict
        The context parameters (``CONTEXT``) that ``func`` declares, from the cube.

    Raises
    ------
    TypeError, ValueError
        An unknown option, or one of the wrong type (naming it).
    """
    params = inspect.signature(func).parameters
    allowed = [p for p in params if p not in CONTEXT and p != "data"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for method {method!r}; "
                         f"valid options: {', '.join(allowed) or 'none'}")
    for name, value in options.items():
        _validate.annotated(name, value, params[name].annotation)
    context = {"beam_fwhm_px": cube.beam_fwhm_px, "beam_pa_deg": cube.beam_pa_deg,
               "channel_kms": cube.channel_kms}
    return {k: v for k, v in context.items() if k in params}


def denoised_metadata(cube: Cube, method: str, options: dict):
    """The header and record of a denoised cube: a HISTORY card and ``record["denoise"]`` that
    name the method and its options.

    Parameters
    ----------
    cube : Cube
        The cube that was denoised.
    method : str
        The method.
    options : dict
        Its options (arrays are described by shape).

    Returns
    -------
    (astropy.io.fits.Header, dict)
        A new header and record.
    """
    header = cube.header.copy()
    described = {k: describe_option(v) for k, v in options.items()}
    header["HISTORY"] = f"galcube {__version__} denoise: method={method} options={described}"
    return header, {**cube.record, "denoise": {"method": method, "options": described}}


def _check_content(flat: np.ndarray, finite: np.ndarray) -> None:
    """A ValueError when the cube holds nothing to denoise: no finite voxel, or one value."""
    if not finite.any():
        raise ValueError(f"cube has no finite voxel (all {flat.size} are NaN or inf): there is "
                         "nothing to denoise; check that the right file, HDU or box was read")
    values = flat[finite]
    if values.min() == values.max():
        raise ValueError(f"cube is constant (every finite voxel is {values[0]:g}): there is no "
                         "noise to measure and nothing to denoise; check that the data were read "
                         "and that the box holds the observation")


def _denoise_box(cube: Cube, method: str, func, box, options) -> Cube:
    box = as_box(box, cube.shape)
    inner = _denoise(crop(cube, box), method, func, None, options)
    blank = ~np.isfinite(cube.data)
    data = np.where(blank, np.float32(np.nan), pad(inner.data, box, cube.shape, 0.0))
    sigma = (None if inner.uncertainty is None
             else pad(inner.uncertainty, box, cube.shape, np.nan))
    ranges = [(s.start, s.stop) for s in box]
    header = cube.header.copy()
    header["HISTORY"] = inner.header["HISTORY"][-1]
    header["HISTORY"] = f"galcube denoise: only box (v, y, x) = {ranges}; 0 outside it"
    record = {**inner.record, "denoise": {**inner.record["denoise"], "box": ranges}}
    return Cube(data, header, clean=cube.clean, uncertainty=sigma, gain=cube.gain, record=record)


def describe_option(value):
    """An option as it goes into the record and the HISTORY card (arrays by shape only).

    Parameters
    ----------
    value : object
        The option's value.

    Returns
    -------
    object
        ``value`` when JSON can hold it as it is, ``<dtype array shape>`` for an array, else
        its repr.
    """
    if isinstance(value, np.ndarray):
        return f"<{value.dtype} array {value.shape}>"
    return value if isinstance(value, (bool, int, float, str, type(None))) else repr(value)
