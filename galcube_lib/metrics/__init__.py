"""Figures of merit for denoised spectral-line cubes (the published benchmark's definitions).

Every function takes plain (v, y, x) arrays, or :class:`~galcube_lib.Cube` objects where that is
natural (their ``data`` is used, and their velocity axis and beam fill in the context), and never
modifies its inputs. NaN voxels (blanked edges of real cubes) are ignored consistently: a voxel
that is not finite in any of the cubes compared is left out of every sum.

Apertures are boolean masks: a (v, y, x) mask, or a (y, x) mask that covers all channels (the
published aperture is such a cylinder). :func:`aperture`, :func:`published_aperture` and
:func:`aperture_from_record` build them; a user's own mask is accepted wherever an aperture is.

Fluxes are ``sum_A(data) * channel_kms / beam_area_px`` (Jy km/s for a cube in Jy/beam); for plain
arrays ``channel_kms`` and ``beam_area_px`` default to 1, i.e. plain voxel sums. Ratios (SNR,
gains, hallucination in units of sigma) do not depend on that choice.

:func:`evaluate` returns every figure that its inputs allow, by name.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage, optimize, signal

from galcube_lib._util.conventions import FWHM_PER_SIGMA, MAD_TO_SIGMA
from galcube_lib._util import rng as _rng
from galcube_lib._util import checks as _validate
from galcube_lib.io.cube import Cube
from galcube_lib.noise.realise import realisations

__all__ = [
    "aperture",
    "aperture_flux",
    "aperture_from_record",
    "aperture_spectrum",
    "centroid",
    "evaluate",
    "flux_conservation",
    "gaussian_fwhm",
    "kinematic_pa",
    "line_width",
    "map_rmse",
    "moment_mask",
    "moments",
    "normalised_rmse",
    "null_test",
    "offsource_flux_noise",
    "offsource_fluxes",
    "offsource_hallucination",
    "offsource_shifts",
    "pearson_r",
    "psnr",
    "published_aperture",
    "reinjection_flux_noise",
    "rmse",
    "snr_gain",
    "snr_gain_offsource",
    "snr_gain_reinjection",
    "snr_offsource",
    "ssim",
    "truth_mask",
]



# ----------------------------------------------------------------------------- input helpers

def _array(x, name: str) -> np.ndarray:
    """The data of a Cube or array as float64 (a new array: inputs are never modified)."""
    data = x.data if isinstance(x, Cube) else x
    data = np.array(data, dtype=float)
    if data.ndim != 3:
        raise ValueError(f"{name} must be a 3-D (v, y, x) array or Cube, got shape {data.shape}")
    return data


def _same_shape(arrays: dict) -> None:
    shapes = {name: a.shape for name, a in arrays.items() if a is not None}
    if len(set(shapes.values())) > 1:
        text = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"shapes do not match: {text}")


def _mask(mask, shape, name: str = "aperture") -> np.ndarray:
    """A (y, x) or (v, y, x) boolean mask as a (v, y, x) boolean array; non-empty."""
    if isinstance(mask, Cube):
        raise TypeError(f"{name} must be a boolean array, not a Cube")
    m = np.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"{name} must be a boolean array, got dtype {m.dtype}")
    if m.shape == tuple(shape[1:]):
        m = np.broadcast_to(m, shape)
    elif m.shape != tuple(shape):
        raise ValueError(f"{name} has shape {m.shape}; expected {tuple(shape[1:])} (y, x) "
                         f"or {tuple(shape)} (v, y, x)")
    if not m.any():
        raise ValueError(f"{name} is empty (no True voxel)")
    return m


def _valid(*arrays) -> np.ndarray:
    """Voxels finite in every array given."""
    ok = np.ones(arrays[0].shape, dtype=bool)
    for a in arrays:
        if a is not None:
            ok &= np.isfinite(a)
    return ok


def _select(mask, *arrays, name="aperture"):
    """The values of each array in ``mask`` (or everywhere), restricted to voxels finite in all."""
    shape = arrays[0].shape
    sel = _valid(*arrays) if mask is None else _mask(mask, shape, name) & _valid(*arrays)
    if not sel.any():
        raise ValueError(f"{name} holds no finite voxel")
    return [a[sel] for a in arrays]


def _scale(x, channel_kms, beam_area_px) -> float:
    """channel_kms / beam_area_px, taken from a Cube when not given (1 for plain arrays)."""
    if channel_kms is None:
        channel_kms = x.channel_kms if isinstance(x, Cube) else 1.0
    if beam_area_px is None:
        beam_area_px = x.beam_area_px if isinstance(x, Cube) else 1.0
    if not (channel_kms > 0 and beam_area_px > 0):
        raise ValueError(f"channel_kms={channel_kms!r} and beam_area_px={beam_area_px!r} must be > 0")
    return float(channel_kms) / float(beam_area_px)


# ----------------------------------------------------------------------------- apertures

def aperture(shape, center_yx, diameter_px) -> np.ndarray:
    """A cylindrical aperture: pixels within ``diameter_px / 2`` of ``center_yx``, all channels.

    Parameters
    ----------
    shape : tuple of int
        (n_chan, ny, nx) of the cube.
    center_yx : (float, float)
        Centre in 0-based pixel coordinates (y, x); need not be an integer.
    diameter_px : float
        Diameter in pixels (> 0). A pixel is inside when its centre is at distance <= radius.

    Returns
    -------
    numpy.ndarray
        Boolean (v, y, x) mask.
    """
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (n_chan, ny, nx) with positive sizes, got {shape!r}")
    if not (np.isfinite(diameter_px) and diameter_px > 0):
        raise ValueError(f"diameter_px={diameter_px!r} is outside the valid range (0, inf)")
    cy, cx = (float(c) for c in center_yx)
    y, x = np.indices(shape[1:])
    disk = (y - cy) ** 2 + (x - cx) ** 2 <= (diameter_px / 2.0) ** 2
    if not disk.any():
        raise ValueError(f"the aperture at center_yx={center_yx!r} with diameter_px={diameter_px!r} "
                         f"holds no pixel of a {shape[1:]} field")
    return np.broadcast_to(disk, tuple(shape)).copy()


def published_aperture(shape, center_yx, r_eff_px, beam_fwhm_px) -> np.ndarray:
    """The benchmark aperture: a cylinder of diameter 2 * max(2 R_e, FWHM) (DESIGN.md).

    ``beam_fwhm_px`` may be a number or (bmaj, bmin); the major axis is used.
    """
    fwhm = float(np.max(np.atleast_1d(beam_fwhm_px)))
    if not (r_eff_px > 0):
        raise ValueError(f"r_eff_px={r_eff_px!r} is outside the valid range (0, inf)")
    if not (fwhm > 0):
        raise ValueError(f"beam_fwhm_px={beam_fwhm_px!r} must be > 0")
    return aperture(shape, center_yx, 2.0 * max(2.0 * r_eff_px, fwhm))


def aperture_from_record(cube: Cube) -> np.ndarray:
    """The published aperture of a simulated cube, centred on its first component.

    The centre is pixel ``n_pix // 2 + offset_kpc / pixel_kpc`` along x and y, R_e is the first
    component's ``r_eff_kpc / pixel_kpc`` and the beam FWHM comes from the record's observation.
    """
    _validate.cube("cube", cube)
    try:
        comp = cube.record["components"][0]
        obs = cube.record["observation"]
        px = float(obs["pixel_kpc"])
        centre = obs["n_pix"] // 2
        dx, dy = (float(o) / px for o in comp["offset_kpc"])
        r_eff = float(comp["r_eff_kpc"]) / px
        fwhm = obs.get("beam_fwhm_px", cube.beam_fwhm_px if "BMAJ" in cube.header else None)
    except (KeyError, IndexError, TypeError) as err:
        raise ValueError(f"cube.record does not describe a simulated galaxy (missing {err}); "
                         "give an aperture mask instead") from None
    return published_aperture(cube.shape, (centre + dy, centre + dx), r_eff, fwhm)


# ----------------------------------------------------------------------------- flux and errors

def aperture_flux(data, aperture, *, channel_kms=None, beam_area_px=None) -> float:
    """Flux in an aperture: ``sum_A(data) * channel_kms / beam_area_px`` over finite voxels.

    For a Cube the channel width and beam area default to the cube's (Jy km/s for Jy/beam data);
    for an array both default to 1 (a plain voxel sum).
    """
    arr = _array(data, "data")
    (values,) = _select(aperture, arr)
    return float(values.sum()) * _scale(data, channel_kms, beam_area_px)


def flux_conservation(denoised, truth, aperture) -> float:
    """Flux conservation F = 100 * sum_A(denoised) / sum_A(truth), in per cent."""
    d, t = _array(denoised, "denoised"), _array(truth, "truth")
    _same_shape({"denoised": d, "truth": t})
    d, t = _select(aperture, d, t)
    total = t.sum()
    if total == 0:
        raise ValueError("truth has zero flux in the aperture: flux conservation is undefined")
    return float(100.0 * d.sum() / total)


def rmse(data, truth, aperture=None) -> float:
    """Root-mean-square error of ``data`` against ``truth`` in an aperture (None: whole cube)."""
    d, t = _array(data, "data"), _array(truth, "truth")
    _same_shape({"data": d, "truth": t})
    d, t = _select(aperture, d, t)
    return float(np.sqrt(np.mean((d - t) ** 2)))


def normalised_rmse(denoised, truth, noisy, aperture=None) -> float:
    """Normalised RMSE = RMSE_A(denoised, truth) / RMSE_A(noisy, truth); < 1 is an improvement.

    The three cubes are compared on the same voxels (those finite in all three).
    """
    d, t, n = _array(denoised, "denoised"), _array(truth, "truth"), _array(noisy, "noisy")
    _same_shape({"denoised": d, "truth": t, "noisy": n})
    d, t, n = _select(aperture, d, t, n)
    ref = np.sqrt(np.mean((n - t) ** 2))
    if ref == 0:
        raise ValueError("noisy equals truth in the aperture: normalised RMSE is undefined")
    return float(np.sqrt(np.mean((d - t) ** 2)) / ref)


def psnr(data, truth) -> float:
    """Peak signal-to-noise ratio of the whole cube, 20 log10(max(truth) / RMSE(data, truth)), dB."""
    t = _array(truth, "truth")
    err = rmse(data, t)
    peak = float(np.nanmax(t))
    return float(20.0 * math.log10(peak / err)) if err > 0 else math.inf


# ----------------------------------------------------------------------------- SNR gain

def snr_gain(denoised, truth, noisy, aperture=None) -> float:
    """SNR gain on simulations: std_A(noisy - truth) / std_A(denoised - truth).

    At fixed signal (the truth), the SNR rises by the factor by which the noise falls. The
    standard deviations are over the voxels of the aperture (None: whole cube); a constant
    bias is not noise here (flux conservation reports it).
    """
    d, t, n = _array(denoised, "denoised"), _array(truth, "truth"), _array(noisy, "noisy")
    _same_shape({"denoised": d, "truth": t, "noisy": n})
    d, t, n = _select(aperture, d, t, n)
    residual = np.std(d - t)
    return float(np.std(n - t) / residual) if residual > 0 else math.inf


def offsource_shifts(shape, aperture, n_placements=200, rng=0, *, exclude=None, invalid=None,
                     spectral=False):
    """Random shifts that place the aperture off source, inside the cube, off NaN.

    Parameters
    ----------
    shape : tuple of int
        (n_chan, ny, nx) of the cube.
    aperture : bool array
        (y, x) or (v, y, x) source aperture.
    n_placements : int
        Number of placements; fewer (all there are) when the cube holds fewer.
    rng : int, None or numpy Generator
        Draws the placements (without replacement among all allowed ones).
    exclude : bool array, optional
        (y, x) or (v, y, x) voxels a placement must not touch (e.g. other sources).
    invalid : bool array, optional
        (v, y, x) or (y, x) voxels that are not data (NaN): a placement may not touch them.
    spectral : bool
        False (default): the aperture's footprint (its pixels in any channel) moves across the
        sky, (dy, dx) shifts. True: the (v, y, x) aperture moves along the spectrum too, with
        (dv, dy, dx) shifts, so that a source filling the field can still be placed in its
        line-free channels; only the voxels of ``aperture``, ``exclude`` and ``invalid``
        themselves (not their footprints) must not overlap.

    Returns
    -------
    numpy.ndarray
        int array (n, 2), or (n, 3) when ``spectral``; placement k covers ``aperture`` moved by
        ``shifts[k]``.
    """
    n_placements = int(n_placements)
    if n_placements < 2:
        raise ValueError(f"n_placements={n_placements!r} is outside the valid range [2, inf)")
    mask = _mask(aperture, shape)
    body = mask if spectral else mask.any(axis=0)
    forbidden = body.copy()
    for name, extra in (("exclude", exclude), ("invalid", invalid)):
        if extra is not None and np.asarray(extra).any():
            extra = _mask(np.asarray(extra, dtype=bool), shape, name)
            forbidden |= extra if spectral else extra.any(axis=0)
    hit = [np.flatnonzero(body.any(axis=tuple(a for a in range(body.ndim) if a != ax)))
           for ax in range(body.ndim)]
    origin = np.array([h[0] for h in hit])
    crop = body[tuple(slice(h[0], h[-1] + 1) for h in hit)].astype(float)
    allowed = np.argwhere(signal.correlate(forbidden.astype(float), crop, mode="valid") < 0.5)
    if len(allowed) < 2:
        raise ValueError("fewer than 2 off-source placements fit in the cube for this aperture")
    gen, _ = _rng.generator(rng)
    pick = gen.choice(len(allowed), size=min(n_placements, len(allowed)), replace=False)
    return allowed[pick] - origin


def offsource_fluxes(data, aperture, shifts, *, channel_kms=None, beam_area_px=None):
    """Aperture fluxes (as :func:`aperture_flux`) at each placement of :func:`offsource_shifts`."""
    arr = _array(data, "data")
    voxels = np.nonzero(_mask(aperture, arr.shape))
    shifts = np.asarray(shifts, dtype=int)
    shifts = shifts.reshape(-1, shifts.shape[-1] if shifts.ndim > 1 else 2)
    if shifts.shape[1] == 2:
        shifts = np.column_stack([np.zeros(len(shifts), int), shifts])
    sums = np.array([np.nansum(arr[tuple(i + d for i, d in zip(voxels, shift))])
                     for shift in shifts])
    return sums * _scale(data, channel_kms, beam_area_px)


def _invalid(*arrays):
    bad = ~_valid(*[a for a in arrays if a is not None])
    return bad if bad.any() else None


def offsource_flux_noise(data, aperture, n_placements=200, rng=0, *, exclude=None,
                         channel_kms=None, beam_area_px=None) -> float:
    """Aperture-flux noise: the std (ddof=1) of the aperture's flux at random off-source places.

    Placing the same aperture shape elsewhere measures the noise of the aperture flux
    including its spatial and spectral correlations (DESIGN.md). Placements avoid the source
    aperture, ``exclude``, the field edge and NaN voxels; ``rng`` draws them.
    """
    arr = _array(data, "data")
    shifts = offsource_shifts(arr.shape, aperture, n_placements, rng, exclude=exclude,
                              invalid=_invalid(arr))
    fluxes = offsource_fluxes(data, aperture, shifts, channel_kms=channel_kms,
                              beam_area_px=beam_area_px)
    return float(np.std(fluxes, ddof=1))


def snr_offsource(data, aperture, n_placements=200, rng=0, *, exclude=None) -> float:
    """SNR of the aperture flux: aperture flux / :func:`offsource_flux_noise`."""
    arr = _array(data, "data")  # flux and noise both as plain sums: the ratio is unit-free
    noise = offsource_flux_noise(arr, aperture, n_placements, rng, exclude=exclude)
    flux = aperture_flux(arr, aperture)
    return flux / noise if noise > 0 else math.inf


def snr_gain_offsource(denoised, noisy, aperture, n_placements=200, rng=0, *, exclude=None) -> float:
    """SNR gain on real data: SNR_offsource(denoised) / SNR_offsource(noisy).

    Both cubes use the same placements (drawn once from ``rng``, avoiding voxels that are NaN in
    either). Caution: methods that threshold drive the denoised cube's off-source flux to ~0,
    and hence this gain to very large values; :func:`snr_gain_reinjection` measures the
    denoised noise by re-denoising instead.
    """
    d, n = _array(denoised, "denoised"), _array(noisy, "noisy")
    _same_shape({"denoised": d, "noisy": n})
    shifts = offsource_shifts(d.shape, aperture, n_placements, rng, exclude=exclude,
                              invalid=_invalid(d, n))
    sel = _mask(aperture, d.shape) & _valid(d, n)
    snr = []
    for a in (d, n):
        noise = np.std(offsource_fluxes(a, aperture, shifts), ddof=1)
        snr.append(a[sel].sum() / noise if noise > 0 else math.inf)
    return float(snr[0] / snr[1]) if math.isfinite(snr[0]) else math.inf


def _denoised_array(denoise_fn, cube, template):
    arg = template.replace(data=cube, noise=None) if isinstance(template, Cube) else cube
    return _array(denoise_fn(arg), "denoise_fn(...)")


def reinjection_flux_noise(denoise_fn, noisy, aperture, noise, n_realisations=8, rng=0,
                           *, channel_kms=None, beam_area_px=None) -> dict:
    """Aperture-flux noise of a denoiser by re-injection of the cube's own noise.

    Each of ``n_realisations`` extra noise cubes is added to ``noisy`` and the sum re-denoised;
    the spread of the aperture flux of those outputs is the denoised flux noise. The injected
    noise adds its variance to the cube's own, so compare with the same spread for the
    identity (see :func:`snr_gain_reinjection`), not with the noise of ``noisy`` itself.

    Parameters
    ----------
    denoise_fn : callable
        Cube or array -> Cube or array (it receives a Cube when ``noisy`` is one).
    noisy : Cube or array
    aperture : bool array
    noise : float, 3-D array or sequence of 3-D arrays
        A standard deviation (white noise), a noise cube (realisations with its spatial and
        spectral power spectra are drawn, as ``gl.add_noise(..., kind=noise_cube)`` does), or the
        realisations themselves (e.g. from ``gl.add_noise``), used as given.
    n_realisations : int
        Number of realisations drawn (>= 2); ignored when realisations are given.
    rng : int, None or numpy Generator

    Returns
    -------
    dict
        ``flux_noise`` (std, ddof=1, of the fluxes), ``fluxes`` (array), ``flux`` (of denoise(noisy)).
    """
    if not callable(denoise_fn):
        raise TypeError("denoise_fn must be callable")
    n_realisations = _validate.integer("n_realisations", n_realisations, 2)
    arr = _array(noisy, "noisy")
    extras = realisations(noise, arr.shape, n_realisations, rng)
    scale = _scale(noisy, channel_kms, beam_area_px)
    flux = lambda cube: aperture_flux(cube, aperture) * scale
    fluxes = np.array([flux(_denoised_array(denoise_fn, arr + e, noisy)) for e in extras])
    return {"flux_noise": float(np.std(fluxes, ddof=1)), "fluxes": fluxes,
            "flux": flux(_denoised_array(denoise_fn, arr, noisy))}


def snr_gain_reinjection(denoise_fn, noisy, aperture, noise, n_realisations=8, rng=0) -> float:
    """SNR gain by re-injection: (F_d / sigma_d) / (F_n / sigma_n).

    F_d is the aperture flux of denoise(noisy), sigma_d the spread of the flux of
    denoise(noisy + extra noise); F_n and sigma_n the same for the identity (no denoising),
    with the same noise realisations.
    """
    den = reinjection_flux_noise(denoise_fn, noisy, aperture, noise, n_realisations, rng)
    ref = reinjection_flux_noise(lambda c: c, noisy, aperture, noise, n_realisations, rng)
    if den["flux_noise"] == 0:
        return math.inf
    return float((den["flux"] / den["flux_noise"]) / (ref["flux"] / ref["flux_noise"]))


# ----------------------------------------------------------------------------- morphology

def moment_mask(data, n_sigma=3.0, sigma=None) -> np.ndarray:
    """Voxels above ``n_sigma`` times the noise; sigma defaults to 1.4826 * MAD of the data."""
    arr = _array(data, "data")
    if sigma is None:
        finite = arr[np.isfinite(arr)]
        sigma = MAD_TO_SIGMA * np.median(np.abs(finite - np.median(finite)))
    with np.errstate(invalid="ignore"):
        return arr > n_sigma * float(sigma)


def truth_mask(truth, frac=0.05) -> np.ndarray:
    """Voxels where the truth exceeds ``frac`` of its peak: the default mask against a truth."""
    t = _array(truth, "truth")
    with np.errstate(invalid="ignore"):
        return t > frac * np.nanmax(t)


def moments(data, velocity_kms, mask=None):
    """Masked moment maps: 0 (Jy/beam km/s), 1 (mean velocity, km/s), 2 (dispersion, km/s).

    moment 0 = sum_v(I) dv; moment 1 = sum(I v) / sum(I); moment 2 = sqrt(sum(I (v - m1)^2) /
    sum(I)), over masked finite voxels. Moments 1 and 2 are NaN where sum(I) <= 0 (or the
    variance is negative, possible with noise). All three are NaN on spaxels with no finite
    voxel (blank, not zero emission); a finite spaxel that the mask leaves out has moment 0 = 0.

    Parameters
    ----------
    data : (v, y, x) array or Cube
    velocity_kms : (v,) array
        Channel velocities; dv = |v[1] - v[0]|.
    mask : bool array, optional
        (v, y, x) or (y, x); default all voxels.
    """
    arr = _array(data, "data")
    vel = np.asarray(velocity_kms, dtype=float)
    if vel.shape != arr.shape[:1]:
        raise ValueError(f"velocity_kms has shape {vel.shape}; the cube has {arr.shape[0]} channels")
    keep = _valid(arr) if mask is None else _mask(mask, arr.shape, "mask") & _valid(arr)
    w = np.where(keep, arr, 0.0)
    dv = abs(vel[1] - vel[0]) if vel.size > 1 else 1.0
    total = w.sum(axis=0)
    pos = total > 0
    safe = np.where(pos, total, 1.0)
    m1 = np.tensordot(vel, w, axes=1) / safe
    var = (((vel[:, None, None] - m1) ** 2) * w).sum(axis=0) / safe
    with np.errstate(invalid="ignore"):
        m2 = np.where(pos & (var >= 0), np.sqrt(np.clip(var, 0, None)), np.nan)
    blank = ~np.isfinite(arr).any(axis=0)
    return np.where(blank, np.nan, total * dv), np.where(pos, m1, np.nan), m2


def map_rmse(image, reference) -> float:
    """RMSE between two maps over the pixels finite in both (NaN if there are none)."""
    a, b = np.asarray(image, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"image has shape {a.shape}, reference has {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))) if ok.any() else math.nan


def ssim(image, reference, data_range=None, sigma=1.5) -> float:
    """Structural similarity (Wang et al. 2004) of two 2-D maps, Gaussian-weighted.

    Local means, variances and covariance use a Gaussian window of ``sigma`` px (truncated at
    3.5 sigma, reflecting edges); K1 = 0.01, K2 = 0.03, L = ``data_range`` (default: the
    reference's max - min); the SSIM map is averaged away from a border of the window's half
    width, as scikit-image's ``structural_similarity(gaussian_weights=True,
    use_sample_covariance=False)`` does. Both maps must be finite.
    """
    x, y = np.asarray(image, dtype=float), np.asarray(reference, dtype=float)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"image {x.shape} and reference {y.shape} must be 2-D of the same shape")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("image and reference must be finite (fill NaN first)")
    L = float(np.ptp(y)) if data_range is None else float(data_range)
    if not L > 0:
        raise ValueError(f"data_range={data_range!r} must be > 0 (the reference is constant)")
    blur = lambda a: ndimage.gaussian_filter(a, sigma, mode="reflect", truncate=3.5)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    pad = int(3.5 * sigma + 0.5)
    if min(x.shape) > 2 * pad:
        smap = smap[pad:-pad, pad:-pad]
    return float(smap.mean())


def kinematic_pa(moment1, mask=None) -> float:
    """Kinematic position angle (deg, north through east) of the receding side.

    A plane v = v0 + a x + b y is fitted by least squares to the finite (masked) pixels of the
    moment-1 map; the velocity rises fastest along (a, b), so PA = atan2(-a, b) mod 360
    (PA 0 is +y, PA 90 is -x).
    """
    m1 = np.asarray(moment1, dtype=float)
    if m1.ndim != 2:
        raise ValueError(f"moment1 must be a 2-D map, got shape {m1.shape}")
    sel = np.isfinite(m1) if mask is None else np.isfinite(m1) & np.asarray(mask, dtype=bool)
    if sel.sum() < 3:
        raise ValueError("moment1 has fewer than 3 finite (masked) pixels for the plane fit")
    y, x = np.nonzero(sel)
    design = np.stack([np.ones(x.size), x, y], axis=1)
    _, a, b = np.linalg.lstsq(design, m1[sel], rcond=None)[0]
    return float(math.degrees(math.atan2(-a, b)) % 360.0 % 360.0)  # -1e-17 -> 0, not 360


# ----------------------------------------------------------------------------- spectra

def aperture_spectrum(data, aperture, beam_area_px=None) -> np.ndarray:
    """Spectrum S(v) = sum over the aperture's (finite) pixels / beam_area_px (Jy for Jy/beam).

    ``beam_area_px`` defaults to the Cube's beam area, or 1 for an array.
    """
    arr = _array(data, "data")
    mask = _mask(aperture, arr.shape) & _valid(arr)
    return np.where(mask, arr, 0.0).sum(axis=(1, 2)) * _scale(data, 1.0, beam_area_px)


def pearson_r(a, b) -> float:
    """Pearson correlation coefficient of two 1-D arrays (finite entries of both)."""
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"a has {x.size} values, b has {y.size}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    denom = math.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else math.nan


def _crossing(spec, vel, peak, level, step):
    i = peak
    while 0 <= i + step < spec.size and spec[i + step] > level:
        i += step
    j = i + step
    if not 0 <= j < spec.size:
        return math.nan  # the line does not fall to the level inside the band
    return vel[i] + (level - spec[i]) / (spec[j] - spec[i]) * (vel[j] - vel[i])


def line_width(spectrum, velocity_kms, level=0.5) -> float:
    """Width of the line at ``level`` of its peak (W50 for 0.5), km/s.

    From the peak channel outwards, the first channel at or below level * peak on each side;
    the crossing is interpolated linearly between it and its neighbour. NaN when the line does
    not fall that low inside the band.
    """
    s, v = np.asarray(spectrum, dtype=float), np.asarray(velocity_kms, dtype=float)
    if s.shape != v.shape or s.ndim != 1:
        raise ValueError(f"spectrum {s.shape} and velocity_kms {v.shape} must be 1-D and match")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} is outside the valid range (0, 1)")
    s = np.where(np.isfinite(s), s, -np.inf)
    peak = int(np.argmax(s))
    if not s[peak] > 0:
        return math.nan
    cut = level * s[peak]
    return float(abs(_crossing(s, v, peak, cut, 1) - _crossing(s, v, peak, cut, -1)))


def gaussian_fwhm(spectrum, velocity_kms) -> float:
    """FWHM (km/s) of a least-squares Gaussian fit to the spectrum (NaN if the fit fails)."""
    s, v = np.asarray(spectrum, dtype=float), np.asarray(velocity_kms, dtype=float)
    if s.shape != v.shape or s.ndim != 1:
        raise ValueError(f"spectrum {s.shape} and velocity_kms {v.shape} must be 1-D and match")
    ok = np.isfinite(s)
    s, v = s[ok], v[ok]
    if s.size < 4 or not s.max() > 0:
        return math.nan
    w = np.clip(s, 0, None)
    mu = (w * v).sum() / w.sum()
    sig = max(math.sqrt(max((w * (v - mu) ** 2).sum() / w.sum(), 0.0)), abs(v[1] - v[0]) / 2)
    gauss = lambda x, a, m, sd: a * np.exp(-0.5 * ((x - m) / sd) ** 2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            p, _ = optimize.curve_fit(gauss, v, s, p0=(s.max(), mu, sig), maxfev=2000)
    except RuntimeError:
        return math.nan
    return float(FWHM_PER_SIGMA * abs(p[2]))


def centroid(spectrum, velocity_kms, channels=None) -> float:
    """Flux-weighted mean velocity sum(S v) / sum(S) (km/s) over ``channels`` (default all)."""
    s, v = np.asarray(spectrum, dtype=float), np.asarray(velocity_kms, dtype=float)
    if s.shape != v.shape or s.ndim != 1:
        raise ValueError(f"spectrum {s.shape} and velocity_kms {v.shape} must be 1-D and match")
    keep = np.isfinite(s) if channels is None else np.isfinite(s) & np.asarray(channels, bool)
    total = s[keep].sum()
    return float((s[keep] * v[keep]).sum() / total) if total != 0 else math.nan


# ----------------------------------------------------------------------------- hallucination

def null_test(denoise_fn, noise_cubes, aperture, *, n_sigma=3.0, flux_noise=None) -> dict:
    """Hallucination on pure noise: the denoised aperture flux in units of the noisy flux noise.

    Parameters
    ----------
    denoise_fn : callable
        Cube or array -> Cube or array.
    noise_cubes : sequence of Cubes or arrays
        Pure-noise cubes (no source), all of one shape.
    aperture : bool array
    n_sigma : float
        Detection threshold (one-sided: flux > n_sigma * noise is a false detection).
    flux_noise : float, optional
        The noisy cubes' aperture-flux noise; default the std (ddof=1) over ``noise_cubes`` of
        their aperture flux (needs >= 2 cubes). ``offsource_flux_noise`` of one cube also fits.

    Returns
    -------
    dict
        ``flux_sigma`` (per cube), ``mean_flux_sigma``, ``detection_fraction``, ``flux_noise``.
    """
    cubes = list(noise_cubes)
    if not cubes:
        raise ValueError("noise_cubes is empty")
    noisy_flux = np.array([aperture_flux(_array(c, "noise_cubes"), aperture) for c in cubes])
    if flux_noise is None:
        if len(cubes) < 2:
            raise ValueError("noise_cubes needs >= 2 cubes to estimate flux_noise; or give it")
        flux_noise = float(np.std(noisy_flux, ddof=1))
    if not flux_noise > 0:
        raise ValueError(f"flux_noise={flux_noise!r} must be > 0")
    den = np.array([aperture_flux(_array(denoise_fn(c), "denoise_fn(...)"), aperture) for c in cubes])
    z = den / flux_noise
    return {"flux_sigma": z, "mean_flux_sigma": float(z.mean()),
            "detection_fraction": float(np.mean(z > n_sigma)), "flux_noise": float(flux_noise)}


def offsource_hallucination(denoised, noisy, aperture, n_placements=200, rng=0, *,
                            exclude=None, n_sigma=3.0) -> dict:
    """Flux the denoiser puts where there is no source, in units of the noisy flux noise.

    The aperture is placed at random off-source positions (as :func:`offsource_shifts`); the
    denoised flux there is divided by the std of the noisy cube's flux at the same places.

    Returns
    -------
    dict
        ``mean_flux_sigma`` and ``detection_fraction`` (placements with flux > n_sigma).
    """
    d, n = _array(denoised, "denoised"), _array(noisy, "noisy")
    _same_shape({"denoised": d, "noisy": n})
    shifts = offsource_shifts(d.shape, aperture, n_placements, rng, exclude=exclude,
                              invalid=_invalid(d, n))
    noise = np.std(offsource_fluxes(n, aperture, shifts), ddof=1)
    z = offsource_fluxes(d, aperture, shifts) / noise
    return {"mean_flux_sigma": float(z.mean()), "detection_fraction": float(np.mean(z > n_sigma))}


# ----------------------------------------------------------------------------- evaluate

def _context(cubes, velocity_kms, beam_area_px, n_chan):
    first = next((c for c in cubes if isinstance(c, Cube)), None)
    if velocity_kms is None:
        velocity_kms = first.velocity_kms if first is not None else np.arange(n_chan, dtype=float)
    if beam_area_px is None:
        beam_area_px = first.beam_area_px if first is not None and "BMAJ" in first.header else 1.0
    return np.asarray(velocity_kms, dtype=float), float(beam_area_px)


def _default_aperture(cubes):
    for c in cubes:
        if isinstance(c, Cube) and c.record.get("components"):
            try:
                return aperture_from_record(c)
            except ValueError:
                pass
    return None


def _fill(m):
    return np.where(np.isfinite(m), m, 0.0)


def _angle_diff(a, b):
    return (a - b + 180.0) % 360.0 - 180.0


def _safe(fn, *args, **kwargs):
    """A figure that the data cannot give (no placement fits, flat maps) is NaN, not an error."""
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return math.nan


def _morphology(d, t, n, vel, mask):
    out = {}
    md = moments(d, vel, mask)
    if t is None:
        out["kinematic_pa_deg"] = _safe(kinematic_pa, md[1])
        return out
    mt = moments(t, vel, mask)
    mn = moments(n, vel, mask) if n is not None else None
    for k in range(3):
        out[f"mom{k}_rmse"] = map_rmse(md[k], mt[k])
        if mn is not None:
            ref = map_rmse(mn[k], mt[k])
            out[f"mom{k}_nrmse"] = out[f"mom{k}_rmse"] / ref if ref > 0 else math.nan
        out[f"mom{k}_ssim"] = _safe(ssim, _fill(md[k]), _fill(mt[k]))
    out["kinematic_pa_deg"] = _safe(kinematic_pa, md[1])
    out["kinematic_pa_truth_deg"] = _safe(kinematic_pa, mt[1])
    out["kinematic_pa_error_deg"] = _angle_diff(out["kinematic_pa_deg"], out["kinematic_pa_truth_deg"])
    return out


def _spectral(d, t, vel, area, ap, frac):
    sd = aperture_spectrum(d, ap, area)
    out = {"w50_kms": line_width(sd, vel), "fwhm_kms": gaussian_fwhm(sd, vel)}
    if t is None:
        out["centroid_kms"] = centroid(sd, vel)
        return out
    st = aperture_spectrum(t, ap, area)
    window = st > frac * st.max()
    out["centroid_kms"] = centroid(sd, vel, window)
    out["spectrum_pearson"] = pearson_r(sd, st)
    out["w50_error_kms"] = out["w50_kms"] - line_width(st, vel)
    out["fwhm_error_kms"] = out["fwhm_kms"] - gaussian_fwhm(st, vel)
    out["centroid_error_kms"] = out["centroid_kms"] - centroid(st, vel, window)
    return out


def _offsource(d, t, n, ap, n_placements, rng, frac, n_sigma):
    exclude = None
    if t is not None:  # keep placements off every source, not only the aperture's
        exclude = np.nanmax(t, axis=0) > frac * np.nanmax(t)
    try:
        shifts = offsource_shifts(d.shape, ap, n_placements, rng, exclude=exclude,
                                  invalid=_invalid(d, n))
    except ValueError:
        return {}
    sel = _mask(ap, d.shape) & _valid(d, n)
    fd, fn = offsource_fluxes(d, ap, shifts), offsource_fluxes(n, ap, shifts)
    sig_d, sig_n = np.std(fd, ddof=1), np.std(fn, ddof=1)
    snr_d = d[sel].sum() / sig_d if sig_d > 0 else math.inf
    snr_n = n[sel].sum() / sig_n
    z = fd / sig_n
    return {"snr_offsource_noisy": float(snr_n), "snr_offsource_denoised": float(snr_d),
            "snr_gain_offsource": float(snr_d / snr_n),
            "offsource_mean_flux_sigma": float(z.mean()),
            "offsource_detection_fraction": float(np.mean(z > n_sigma))}


def evaluate(denoised, truth=None, noisy=None, aperture=None, rng=0, *, mask=None,
             velocity_kms=None, beam_area_px=None, n_placements=200, mask_frac=0.05,
             n_sigma=3.0) -> dict:
    """Every figure of merit the inputs allow, by name.

    Parameters
    ----------
    denoised : Cube or (v, y, x) array
    truth : Cube or array, optional
        Defaults to the ``clean`` of ``denoised`` or ``noisy`` when they are Cubes that carry one.
    noisy : Cube or array, optional
        The cube that was denoised.
    aperture : bool array, optional
        (y, x) or (v, y, x); default :func:`aperture_from_record` of the first Cube whose record
        describes a simulation. Without one, aperture-based figures are left out.
    rng : int, None or numpy Generator
        Draws the off-source placements.
    mask : bool array, optional
        Moment mask; default ``truth > mask_frac * max(truth)`` with a truth, else voxels of
        the denoised cube above ``n_sigma`` times the noisy cube's (MAD) noise (inside the
        aperture when there is one).
    velocity_kms, beam_area_px : optional
        Default from the first Cube given; for arrays channel indices and 1.
    n_placements : int
        Off-source aperture placements.
    mask_frac : float
        Truth-based mask level; also sets the truth's line window for the centroid and the
        pixels (truth peak above it) that off-source placements avoid.
    n_sigma : float
        Detection threshold for hallucination and the no-truth moment mask.

    Returns
    -------
    dict of str -> float
        With a truth: ``rmse_cube``, ``psnr``, ``mom{0,1,2}_rmse``, ``mom{0,1,2}_ssim``,
        ``kinematic_pa_truth_deg``, ``kinematic_pa_error_deg``; plus with an aperture
        ``flux_conservation``, ``rmse_aperture``, ``spectrum_pearson``, ``w50_error_kms``,
        ``fwhm_error_kms``, ``centroid_error_kms``; plus with noisy ``nrmse``, ``snr_gain``,
        ``mom{0,1,2}_nrmse``. With noisy and an aperture: ``snr_offsource_noisy``,
        ``snr_offsource_denoised``, ``snr_gain_offsource``, ``offsource_mean_flux_sigma``,
        ``offsource_detection_fraction``. Always ``kinematic_pa_deg``; with an aperture
        ``w50_kms``, ``fwhm_kms``, ``centroid_kms``. A figure the data cannot give is NaN.
    """
    n_placements = _validate.integer("n_placements", n_placements, 1)
    mask_frac = _validate.number("mask_frac", mask_frac, 0.0, 1.0, lo_open=True, hi_open=True)
    n_sigma = _validate.number("n_sigma", n_sigma, 0.0, lo_open=True)
    _rng.generator(rng)  # checks rng before any work; the placements draw from it later
    cubes = (denoised, noisy, truth)
    if truth is None:
        truth = next((c.clean for c in (denoised, noisy) if isinstance(c, Cube)
                      and c.clean is not None), None)
    d = _array(denoised, "denoised")
    t = None if truth is None else _array(truth, "truth")
    n = None if noisy is None else _array(noisy, "noisy")
    _same_shape({"denoised": d, "truth": t, "noisy": n})
    ok = _valid(d, t, n)  # one set of voxels for every figure
    d, t, n = (None if a is None else np.where(ok, a, np.nan) for a in (d, t, n))
    vel, area = _context(cubes, velocity_kms, beam_area_px, d.shape[0])
    ap = aperture if aperture is not None else _default_aperture(cubes)
    if ap is not None:
        ap = _mask(ap, d.shape)
    if mask is None:
        if t is not None:
            mask = truth_mask(t, mask_frac)
        else:
            sigma = None if n is None else MAD_TO_SIGMA * np.nanmedian(np.abs(n - np.nanmedian(n)))
            mask = moment_mask(d, n_sigma, sigma)
            if ap is not None:  # noise spikes far from the source would dominate the PA fit
                mask &= ap

    out = {}
    if t is not None:
        out["rmse_cube"] = rmse(d, t)
        out["psnr"] = psnr(d, t)
        if n is not None:
            out["nrmse_cube"] = normalised_rmse(d, t, n)
    if t is not None and ap is not None:
        out["flux_conservation"] = flux_conservation(d, t, ap)
        out["rmse_aperture"] = rmse(d, t, ap)
        if n is not None:
            out["nrmse"] = normalised_rmse(d, t, n, ap)
            out["snr_gain"] = snr_gain(d, t, n, ap)
    if n is not None and ap is not None:
        out.update(_offsource(d, t, n, ap, n_placements, rng, mask_frac, n_sigma))
    if np.asarray(mask).any():
        out.update(_morphology(d, t, n, vel, mask))
    if ap is not None:
        out.update(_spectral(d, t, vel, area, ap, mask_frac))
    return {k: float(v) for k, v in out.items()}
