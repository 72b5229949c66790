"""``add_noise``: white, beam-correlated or Hanning-correlated Gaussian noise, or a real noise cube.

The published recipe (Lahiry et al. 2026): white Gaussian noise convolved with the beam, then
rescaled so that the realisation's global standard deviation is max(clean) / peak_snr.
"""
from __future__ import annotations

import dataclasses
import warnings
from numbers import Real

import numpy as np
from scipy import fft
from scipy.interpolate import RegularGridInterpolator

from galcube_lib._util import rng as _rng
from galcube_lib.sim.render import gaussian_transfer
from galcube_lib.sim.simulate import HANNING
from galcube_lib._util import checks as check
from galcube_lib.io.cube import Cube, check_cube
from galcube_lib.noise.models import NoiseModel

KINDS = ("white", "beam", "hanning")
NOISE_BYTES = 48   # memory per voxel while a noise cube is drawn (float64 and complex128 copies)
F32_TINY, F32_MAX = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)


def _hanning(noise: np.ndarray) -> np.ndarray:
    """Spectral Hanning smoothing (the simulator's kernel, 1/4, 1/2, 1/4), periodic so the
    noise stays stationary."""
    side, centre, _ = HANNING
    return centre * noise + side * (np.roll(noise, 1, axis=0) + np.roll(noise, -1, axis=0))


def matched_noise(template: np.ndarray, shape, gen: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``shape`` with the spatial and spectral power spectra of ``template``.

    The 3-D power spectrum is modelled as separable: the spatial spectrum averaged over
    channels times the spectral one averaged over pixels, both interpolated onto the new grid.

    Parameters
    ----------
    template : numpy.ndarray
        A finite (v, y, x) noise cube, >= 2 along each axis.
    shape : tuple of int
        (v, y, x) shape of the noise to draw.
    gen : numpy.random.Generator
        Randomness; advanced.

    Returns
    -------
    numpy.ndarray
        float64 noise of ``shape``, zero mean; its level is not normalised (rescale it).
    """
    t = template - template.mean()
    p_xy = fft.fftshift(np.mean(np.abs(fft.fft2(t)) ** 2, axis=0))
    source_axes = [fft.fftshift(fft.fftfreq(n)) for n in t.shape[1:]]
    ky, kx = np.meshgrid(fft.fftfreq(shape[1]), fft.fftfreq(shape[2]), indexing="ij")
    spatial = RegularGridInterpolator(source_axes, p_xy, bounds_error=False, fill_value=None)(
        np.stack([ky, kx], axis=-1))
    p_v = np.mean(np.abs(fft.rfft(t, axis=0)) ** 2, axis=(1, 2))
    spectral = np.interp(np.abs(fft.fftfreq(shape[0])), fft.rfftfreq(t.shape[0]), p_v)
    amplitude = np.sqrt(np.clip(spectral[:, None, None] * spatial[None], 0.0, None))
    return np.real(fft.ifftn(fft.fftn(gen.standard_normal(shape)) * amplitude))


def realisations(noise, shape, n_realisations: int, rng=None, *, sigma: float | None = None) -> list:
    """Noise cubes of ``shape``: given, drawn like a noise cube, or white of a given sigma.

    Parameters
    ----------
    noise : numpy.ndarray or None
        A finite 3-D noise cube (new Gaussian noise with its spatial and spectral power
        spectra, rescaled to its standard deviation) or a 4-D stack of >= 2 realisations of
        ``shape`` (returned as they are); None with ``sigma``. A number here is taken as
        ``sigma``, with a DeprecationWarning (``noise`` is a realisation, docs/conventions.md,
        Noise).
    shape : tuple of int
        (v, y, x) shape of each realisation.
    n_realisations : int
        How many to draw, >= 1 (ignored for a stack).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Randomness (docs/conventions.md, Randomness).
    sigma : float, optional
        Draw white Gaussian noise of this standard deviation (> 0, data units) instead.

    Returns
    -------
    list of numpy.ndarray
        The realisations, float64 of ``shape``.

    Raises
    ------
    TypeError
        ``noise`` is not numbers, or both or neither of ``noise`` and ``sigma`` are given.
    ValueError
        A sigma <= 0, a stack of the wrong shape, a non-finite or constant noise cube, or
        realisations that do not fit in memory.
    """
    if isinstance(noise, Real) or (isinstance(noise, np.ndarray) and noise.ndim == 0):
        if sigma is not None:
            raise TypeError("give noise (a realisation) or sigma (a number), not both")
        warnings.warn("realisations(): a number as noise is deprecated, give it as sigma=",
                      DeprecationWarning, stacklevel=2)
        noise, sigma = None, (noise.item() if isinstance(noise, np.ndarray) else noise)
    if (noise is None) == (sigma is None):
        raise TypeError("give noise (a 3-D noise cube or a stack of realisations) or sigma "
                        "(a number), one of the two")
    if sigma is not None:
        sigma = check.number("sigma", sigma, 0.0, None, lo_open=True)
        arr = None
    else:
        try:
            arr = np.asarray(noise, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"noise must be a 3-D noise cube or a stack of realisations (an "
                            f"array), got {type(noise).__name__} {noise!r:.60}") from None
        if arr.ndim == 4:
            if arr.shape[1:] != tuple(shape) or arr.shape[0] < 2:
                raise ValueError(f"noise realisations have shape {arr.shape}; need (>=2, *{tuple(shape)})")
            return list(arr)
        if arr.ndim != 3 or not np.isfinite(arr).all():
            raise ValueError(f"noise must be a finite 3-D noise cube or a stack of realisations, "
                             f"got shape {arr.shape}")
        sigma = float(np.std(arr))
        if not sigma > 0:
            raise ValueError("noise is a constant cube: it has no spread to draw noise from")
    n_realisations = check.integer("n_realisations", n_realisations, 1)
    _check_memory("n_realisations", n_realisations, shape)
    gen, _ = _rng.generator(rng)
    if arr is None:
        return [sigma * gen.standard_normal(shape) for _ in range(n_realisations)]
    out = []
    for _ in range(n_realisations):
        draw = matched_noise(arr, shape, gen)
        out.append(draw * (sigma / np.std(draw)))
    return out


def add_noise(cube: Cube, peak_snr: float | None = None, *, rms_jy: float | None = None,
              kind="beam", rng=None) -> Cube:
    """Return a new Cube with Gaussian noise added to ``cube.data`` (docs/conventions.md, Noise).

    Parameters
    ----------
    cube : Cube
        Usually the output of :func:`simulate` (its ``clean`` truth is kept).
    peak_snr : float, optional
        Sets the noise standard deviation to max(clean) / peak_snr (> 0).
    rms_jy : float, optional
        Sets the noise standard deviation directly, in the cube's units (> 0).
    kind : {"white", "beam", "hanning"}, NoiseModel or numpy.ndarray
        "white": independent voxels; "beam": white noise convolved with the cube's beam (the
        published recipe); "hanning": beam-correlated and Hanning-smoothed along the spectrum.
        A :class:`~galcube_lib.noise.models.NoiseModel` draws interferometric noise with the
        cube's beam (correlation, sidelobes, spectral correlation, primary-beam level); the
        level set by peak_snr/rms_jy is then the one at the field centre, where the gain is 1
        (the model's parameters go into ``record["noise"]["model"]``; its
        :meth:`~galcube_lib.noise.models.NoiseModel.level_map` is the level across the field).
        An array is a real noise cube (e.g. line-free channels of an observation): if it has
        the cube's shape it is added as it is, otherwise new noise with its spatial and
        spectral power spectra is drawn. Its own rms is kept unless peak_snr/rms_jy is given.
    rng : int, None, numpy SeedSequence or Generator
        Source of randomness; recorded so the noise can be re-created.

    Returns
    -------
    Cube
        ``data = clean + noise``; ``noise`` and the noise parameters (in ``record["noise"]``,
        and the header's ``NOISE``, ``NOISERMS``, ``PEAKSNR``) kept. The realisation's standard
        deviation is exactly the requested sigma (for a NoiseModel, before its level map).

    Raises
    ------
    ValueError
        The cube already has noise, both or neither of ``peak_snr`` and ``rms_jy`` (for a named
        kind), an unknown kind, a bad noise cube, or a level outside single precision.

    Examples
    --------
    >>> cube = gl.simulate(gl.Galaxy(r_eff_kpc=1.0),
    ...                    gl.Observation(n_pix=32, n_chan=16, channel_kms=40.0))
    >>> noisy = gl.add_noise(cube, peak_snr=5, rng=0)
    >>> bool(np.isclose(noisy.noise.std(), cube.data.max() / 5))
    True
    >>> noisy.record["noise"]["kind"], noisy.header["NOISE"]
    ('beam', 'beam')
    >>> bool(np.array_equal(gl.add_noise(cube, peak_snr=5, rng=0).data, noisy.data))
    True
    """
    check_cube("cube", cube)
    if cube.noise is not None:
        raise ValueError("cube already has noise; add noise to its clean truth instead")
    if peak_snr is not None and rms_jy is not None:
        raise ValueError("give peak_snr or rms_jy, not both")
    template = None
    if isinstance(kind, (str, NoiseModel)):
        if isinstance(kind, str):
            check.choice("kind", kind, KINDS)
        if peak_snr is None and rms_jy is None:
            raise ValueError("give peak_snr (> 0) or rms_jy (> 0) to set the noise level")
    else:
        try:
            template = np.asarray(kind, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"kind must be one of {', '.join(map(repr, KINDS))} or a 3-D noise cube "
                            f"(an array), got {kind!r:.60} ({type(kind).__name__})") from None
        if template.ndim != 3 or min(template.shape) < 2:
            raise ValueError(f"a noise cube (kind) must be 3-D with >= 2 channels and pixels, got shape {template.shape}")
        if not np.all(np.isfinite(template)):
            raise ValueError("the noise cube (kind) has NaN or infinite values; select a finite region")
    reference = cube.clean if cube.clean is not None else cube.data
    if peak_snr is not None:
        peak_snr = check.number("peak_snr", peak_snr, 0.0, None, lo_open=True)
        peak = float(np.max(reference, initial=-np.inf, where=~np.isnan(reference)))
        if not 0 < peak < np.inf:
            raise ValueError(f"peak_snr needs a cube whose largest value is positive and finite, "
                             f"not {peak!r}; use rms_jy instead")
        sigma, level = peak / peak_snr, "peak_snr"
    elif rms_jy is not None:
        sigma, level = check.number("rms_jy", rms_jy, 0.0, None, lo_open=True), "rms_jy"
    else:
        sigma, level = float(np.std(template)), "kind (the noise cube's rms)"
    if not F32_TINY <= sigma <= F32_MAX / 100:
        raise ValueError(f"{level} gives a noise rms of {sigma:.3g}, outside what single precision "
                         f"holds, [{F32_TINY:.3g}, {F32_MAX / 100:.3g}] (the cube's units, "
                         f"{cube.header.get('BUNIT', 'Jy/beam')})")

    gen, seed_record = _rng.generator(rng)
    shape = cube.shape
    _check_memory("cube", 1, shape)
    if isinstance(kind, NoiseModel):
        noise = kind.draw(shape, cube.beam_fwhm_px, cube.beam_pa_deg, gen).astype(np.float64)
    elif template is not None:
        noise = template if template.shape == shape else matched_noise(template, shape, gen)
    else:
        noise = gen.standard_normal(shape)
        if kind in ("beam", "hanning"):
            ky, kx = fft.fftfreq(shape[1])[:, None], fft.rfftfreq(shape[2])[None, :]
            gain = gaussian_transfer(*cube.beam_fwhm_px, cube.beam_pa_deg, ky, kx)
            noise = fft.irfft2(fft.rfft2(noise) * gain, s=shape[1:])
        if kind == "hanning":
            noise = _hanning(noise)
    # a model's noise has unit level where its gain is 1; the others are scaled to sigma
    noise = noise * (sigma if isinstance(kind, NoiseModel) else sigma / np.std(noise))
    data = cube.data + noise
    record = dict(cube.record)
    name = "model" if isinstance(kind, NoiseModel) else kind if template is None else "cube"
    record["noise"] = {"kind": name, "peak_snr": peak_snr, "rms_jy": float(sigma),
                       "rng": seed_record}
    if isinstance(kind, NoiseModel):
        record["noise"]["model"] = dataclasses.asdict(kind)
    header = cube.header.copy()
    header["NOISE"] = (record["noise"]["kind"], "galcube noise kind")
    header["NOISERMS"] = (float(f"{sigma:.12g}"), "noise standard deviation (BUNIT)")
    if peak_snr is not None:
        header["PEAKSNR"] = (peak_snr, "max(clean) / noise rms")
    return Cube(data, header, clean=cube.clean, noise=noise, record=record)


def _check_memory(name: str, count: int, shape) -> None:
    """Refuse, before drawing any, ``count`` noise cubes of ``shape`` that do not fit in memory."""
    check.memory(f"drawing {count} noise cube(s) of shape {tuple(shape)} ({name})",
                 (count + NOISE_BYTES / 8) * 8 * np.prod(shape, dtype=float),
                 f"use a smaller {name}" + (" (crop it: cube.crop)" if name == "cube" else ""))
