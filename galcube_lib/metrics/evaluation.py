"""Every figure of merit the inputs allow, by name (:func:`evaluate`)."""
from __future__ import annotations

import math

import numpy as np

from galcube_lib._util import checks as _validate
from galcube_lib._util import rng as _rng
from galcube_lib._util.conventions import MAD_TO_SIGMA
from galcube_lib.io.cube import Cube
from galcube_lib.metrics._inputs import as_array, as_mask, finite, same_shape
from galcube_lib.metrics.apertures import aperture_from_record
from galcube_lib.metrics.errors import flux_conservation, normalised_rmse, pearson_r, psnr, rmse, snr_gain
from galcube_lib.metrics.hallucination import detections
from galcube_lib.metrics.morphology import kinematic_pa, map_rmse, moment_mask, moments, ssim, truth_mask
from galcube_lib.metrics.offsource import offsource_placements
from galcube_lib.metrics.spectra import aperture_spectrum, centroid, gaussian_fwhm, line_width


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
        placed = offsource_placements([d, n], ap, n_placements, rng, exclude=exclude)
    except ValueError:
        return {}
    snr_d, snr_n = placed.snr(0), placed.snr(1)
    found = detections(placed.flux_sigma(0, reference=1), n_sigma)
    return {"snr_offsource_noisy": float(snr_n), "snr_offsource_denoised": float(snr_d),
            "snr_gain_offsource": float(snr_d / snr_n),
            "offsource_mean_flux_sigma": found["mean_flux_sigma"],
            "offsource_detection_fraction": found["detection_fraction"]}


def evaluate(denoised, truth=None, noisy=None, aperture=None, rng=0, *, mask=None,
             velocity_kms=None, beam_area_px=None, n_placements=200, mask_frac=0.05,
             n_sigma=3.0) -> dict:
    """Every figure of merit the inputs allow, by name.

    Parameters
    ----------
    denoised : Cube or (v, y, x) array
        The denoised cube; NaN voxels (in any cube given) are left out of every figure.
    truth : Cube or array, optional
        Defaults to the ``clean`` of ``denoised`` or ``noisy`` when they are Cubes that carry one.
    noisy : Cube or array, optional
        The cube that was denoised.
    aperture : bool array, optional
        (y, x) or (v, y, x); default :func:`aperture_from_record` of the first Cube whose record
        describes a simulation. Without one, aperture-based figures are left out.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Draws the off-source placements (default 0, repeatable).
    mask : bool array, optional
        Moment mask; default ``truth > mask_frac * max(truth)`` with a truth, else voxels of
        the denoised cube above ``n_sigma`` times the noisy cube's (MAD) noise (inside the
        aperture when there is one).
    velocity_kms, beam_area_px : optional
        Channel velocities in km/s and beam area in pixels; default from the first Cube given,
        for arrays channel indices and 1.
    n_placements : int
        Off-source aperture placements, >= 1 (default 200; docs/conventions.md, Apertures).
    mask_frac : float
        Truth-based mask level, in (0, 1) (default 0.05); also sets the truth's line window for the centroid and the
        pixels (truth peak above it) that off-source placements avoid.
    n_sigma : float
        Detection threshold for hallucination and the no-truth moment mask, > 0 (default 3).

    Returns
    -------
    dict of str -> float
        With a truth: ``rmse_cube``, ``psnr``, ``mom{0,1,2}_rmse``, ``mom{0,1,2}_ssim``,
        ``kinematic_pa_truth_deg``, ``kinematic_pa_error_deg`` (and with noisy
        ``nrmse_cube``); plus with an aperture
        ``flux_conservation``, ``rmse_aperture``, ``spectrum_pearson``, ``w50_error_kms``,
        ``fwhm_error_kms``, ``centroid_error_kms``; plus with noisy ``nrmse``, ``snr_gain``,
        ``mom{0,1,2}_nrmse``. With noisy and an aperture: ``snr_offsource_noisy``,
        ``snr_offsource_denoised``, ``snr_gain_offsource``, ``offsource_mean_flux_sigma``,
        ``offsource_detection_fraction``. Always ``kinematic_pa_deg``; with an aperture
        ``w50_kms``, ``fwhm_kms``, ``centroid_kms``. A figure the data cannot give is NaN.
        Definitions: docs/conventions.md, Benchmark protocol and SNR.

    Raises
    ------
    ValueError
        Shapes that differ, a bad aperture or mask, or an option out of range.

    Examples
    --------
    A simulated cube carries its truth and its aperture (:func:`aperture_from_record`):

    >>> cube = gl.simulate(gl.Galaxy(r_eff_kpc=1.0),
    ...                    gl.Observation(n_pix=32, n_chan=16, channel_kms=40.0))
    >>> noisy = gl.add_noise(cube, peak_snr=5, rng=0)
    >>> figures = gl.metrics.evaluate(gl.denoise(noisy, "gaussian"), noisy=noisy)
    >>> figures["nrmse"] < 1, figures["snr_gain"] > 1
    (True, True)
    >>> gl.metrics.evaluate(noisy, noisy=noisy)["nrmse"]   # the identity: no improvement
    1.0
    """
    n_placements = _validate.integer("n_placements", n_placements, 1)
    mask_frac = _validate.number("mask_frac", mask_frac, 0.0, 1.0, lo_open=True, hi_open=True)
    n_sigma = _validate.number("n_sigma", n_sigma, 0.0, lo_open=True)
    _rng.generator(rng)  # checks rng before any work; the placements draw from it later
    cubes = (denoised, noisy, truth)
    if truth is None:
        truth = next((c.clean for c in (denoised, noisy) if isinstance(c, Cube)
                      and c.clean is not None), None)
    d = as_array(denoised, "denoised")
    t = None if truth is None else as_array(truth, "truth")
    n = None if noisy is None else as_array(noisy, "noisy")
    same_shape({"denoised": d, "truth": t, "noisy": n})
    ok = finite(d, t, n)  # one set of voxels for every figure
    d, t, n = (None if a is None else np.where(ok, a, np.nan) for a in (d, t, n))
    vel, area = _context(cubes, velocity_kms, beam_area_px, d.shape[0])
    ap = aperture if aperture is not None else _default_aperture(cubes)
    if ap is not None:
        ap = as_mask(ap, d.shape)
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
