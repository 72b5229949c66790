"""What denoising did to a real cube, which has no truth.

Three measurements, all from the cube itself (docs/conventions.md, Apertures and SNR):

- :func:`evaluate_real`: the aperture flux against the noisy cube's and against a masked-moment
  reference; the aperture-flux noise from off-source placements and, for the denoised cube, by
  re-injecting the cube's own noise (thresholding methods drive the off-source flux to zero, so
  that placement figure alone would be flattering); and a null test on the cube's own noise.
- :func:`inject` and :func:`injection_recovery`: a simulated galaxy added to the real noise of
  the cube at an emission-free place, denoised, and compared with what was injected.
- :func:`moment_images`, :func:`write_moments`: masked moment maps as FITS images with the cube's sky WCS and beam.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from galcube_lib._util import rng as _rng
from galcube_lib._util import checks as _validate
from galcube_lib.io.files import as_path, atomic_path
from galcube_lib.io.cube import Cube, check_cube
from galcube_lib.metrics.apertures import aperture as cylinder, aperture_flux
from galcube_lib.metrics.errors import flux_conservation, normalised_rmse, pearson_r, snr_gain
from galcube_lib.metrics.hallucination import detections
from galcube_lib.metrics.morphology import moments
from galcube_lib.metrics.offsource import offsource_placements, offsource_shifts
from galcube_lib.metrics.spectra import aperture_spectrum
from galcube_lib.denoise import denoise, source_box, source_mask
from galcube_lib.denoise.emission import (emission_zone, flux_aperture, own_noise, voxel_mask,
                                          with_null_check)
from galcube_lib.sim.components import Galaxy
from galcube_lib.noise.estimate import sigma_negative
from galcube_lib.sim.scene_record import component_record
from galcube_lib.sim.simulate import stamp


#: fewest off-source placements from which an aperture-flux noise is quoted
MIN_PLACEMENTS = 20


def _options(name: str, value) -> dict:
    """``options`` (None or a dict) as a new dict; anything else is a TypeError naming it."""
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict or None, got {value!r} ({type(value).__name__})")
    return dict(value or {})


def evaluate_real(noisy: Cube, method: str = "ist", *, options=None, box=None, mask=None,
                  aperture=None, n_realisations: int = 8, n_null: int = 8,
                  n_placements: int = 200, n_sigma: float = 3.0, rng=0) -> dict:
    """Denoise a real cube and measure what that did.

    Parameters
    ----------
    noisy : Cube
        The observation (NaN = blank).
    method, options : str, dict
        The denoiser and its options (as :func:`galcube_lib.denoise`).
    box : None, "auto" or index ranges
        As :func:`galcube_lib.denoise`; "auto" is resolved once on ``noisy`` and the same box is
        used for every re-injection and null cube.
    mask : bool array, optional
        (v, y, x) source mask; default :func:`galcube_lib.denoise.source_mask`.
    aperture : bool array, optional
        Where the flux is measured; default :func:`flux_aperture`.
    n_realisations, n_null : int
        Re-injected noise cubes and pure-noise null cubes (each 0, to skip that check, or >= 2),
        drawn by :func:`own_noise`; each costs one denoising.
    n_placements : int
        Off-source aperture placements for the noisy cube's flux noise.
    n_sigma : float
        Detection threshold of the null test, in units of the null cubes' undenoised spread
        (one-sided: flux > n_sigma * spread is a false detection).
    rng : None, int, numpy SeedSequence or Generator
        Randomness of the placements and the noise draws (default 0, repeatable).

    Returns
    -------
    dict
        ``denoised`` (the Cube) and figures. Flux: ``flux_noisy`` and ``flux_denoised`` (Jy km/s
        for Jy/beam cubes), ``flux_ratio_pct`` (denoised / noisy), ``flux_moment`` (the noisy
        cube summed inside ``mask``: the masked-moment reference), ``flux_vs_moment_pct``.
        The aperture-flux noise of the noisy and the denoised cube, three ways, each giving a
        ``noise_reduction_<way>`` (noisy / denoised) and ``snr_gain_<way>`` (the reduction times
        flux_denoised / flux_noisy):

        - ``offsource``: the aperture placed at emission-free places of the cube itself, moved
          across the sky and the spectrum (the published protocol); NaN when fewer than
          ``MIN_PLACEMENTS`` fit (``offsource_placements``), as for sources filling the cube;
        - ``null``: the aperture on pure own-noise cubes (:func:`own_noise`): the same question
          for any aperture size. Both are flattering for methods that zero what they do not
          detect: they see noise far from any emission;
        - ``reinjection``: own noise added to the cube, at fixed signal: what the noise does to
          the flux of this source, including inside the emission that every method keeps.

        ``noise_reduction_ideal_mask``: what a method that kept exactly the source mask's voxels
        (with their noise) and zeroed the rest of the aperture would reach on white noise,
        sqrt(aperture voxels / source voxels in it): the scale on which a re-injection
        reduction below 2x is to be read (a source that fills its aperture leaves no room).
        Keys ``flux_noise_<way>`` and ``flux_noise_<way>_denoised`` hold the spreads;
        ``snr_noisy`` is flux_noisy over the re-injection spread. ``null_mean_sigma``,
        ``null_worst_sigma`` (the largest absolute value) and ``null_detection_fraction``:
        denoised null flux in units of its undenoised spread (detection above ``n_sigma``).
        ``seconds``: one denoising.
    """
    check_cube("noisy", noisy)
    options = _options("options", options)
    for name, value in (("n_realisations", n_realisations), ("n_null", n_null)):
        if _validate.integer(name, value) < 0 or value == 1:
            raise ValueError(f"{name}={value!r} must be 0 (skip) or in the range [2, inf)")
    _validate.integer("n_placements", n_placements, 0)
    n_sigma = _validate.number("n_sigma", n_sigma, 0.0, lo_open=True)
    mask = voxel_mask("mask", mask, noisy, source_mask)
    aperture = voxel_mask("aperture", aperture, noisy, lambda cube: flux_aperture(cube, mask))
    if isinstance(box, str) and box == "auto":
        box = source_box(noisy, mask)
    run = lambda cube: denoise(cube, method, box=box, null_check=0, **options)  # noqa: E731
    flux = lambda c: aperture_flux(c, aperture)  # noqa: E731
    gen, _ = _rng.generator(rng)
    start = time.perf_counter()
    den = run(noisy)
    seconds = time.perf_counter() - start
    f_noisy, f_den = flux(noisy), flux(den)
    spreads = {"offsource": _offsource(noisy, den, aperture, mask, n_placements, gen)}
    n_draws = n_null + n_realisations
    draws = own_noise(noisy, n_draws, mask, gen) if n_draws else []
    nulls = [noisy.replace(data=d) for d in draws[:n_null]]
    null_fluxes = [np.array([flux(c) for c in nulls]), np.array([flux(run(c)) for c in nulls])]
    spreads["null"] = [_spread(f) for f in null_fluxes]
    added = [noisy.replace(data=noisy.data + e) for e in draws[n_null:]]
    spreads["reinjection"] = [_spread([flux(f(c)) for c in added]) for f in (lambda c: c, run)]
    out = {"denoised": den, "flux_noisy": f_noisy, "flux_denoised": f_den,
           "flux_ratio_pct": 100.0 * f_den / f_noisy, "flux_moment": aperture_flux(noisy, mask),
           "offsource_placements": spreads["offsource"].pop()}
    out["flux_vs_moment_pct"] = 100.0 * f_den / out["flux_moment"]
    inside = np.broadcast_to(aperture, noisy.shape) & noisy.valid
    out["noise_reduction_ideal_mask"] = math.sqrt(inside.sum() / max(1, (mask & inside).sum()))
    for way, (before, after) in spreads.items():
        reduction = before / after if after != 0 else math.inf
        out.update({f"flux_noise_{way}": before, f"flux_noise_{way}_denoised": after,
                    f"noise_reduction_{way}": reduction,
                    f"snr_gain_{way}": reduction * f_den / f_noisy})
    null = detections(null_fluxes[1] / spreads["null"][0], n_sigma) if n_null else {
        "mean_flux_sigma": math.nan, "detection_fraction": math.nan}
    if n_null:  # the denoised cube carries its null test, as denoise's own null check does
        values = [float(v) for v in null_fluxes[1] / spreads["null"][0]]
        out["denoised"] = den = with_null_check(den, {
            "null_flux_sigma": null["mean_flux_sigma"], "values": values, "n_null": n_null})
    out.update({"snr_noisy": f_noisy / spreads["reinjection"][0],
                "null_mean_sigma": null["mean_flux_sigma"],
                "null_worst_sigma": float(np.max(np.abs(values))) if n_null else math.nan,
                "null_detection_fraction": null["detection_fraction"], "seconds": seconds})
    return out


def _spread(fluxes) -> float:
    """Standard deviation (ddof=1) of some fluxes; NaN for none (a skipped check)."""
    return float(np.std(fluxes, ddof=1)) if len(fluxes) > 1 else math.nan


def _offsource(noisy: Cube, den: Cube, aperture, mask, n_placements: int, gen) -> list:
    """[noisy spread, denoised spread, number of placements] of the aperture flux at the same
    off-source placements (across the sky and the spectrum, clear of the grown source mask);
    the spreads are NaN when fewer than ``MIN_PLACEMENTS`` fit."""
    try:
        placed = offsource_placements([noisy, den], aperture, n_placements, gen,
                                      exclude=emission_zone(noisy, mask), spectral=True)
    except ValueError:
        return [math.nan, math.nan, 0]
    if len(placed.shifts) < MIN_PLACEMENTS:
        return [math.nan, math.nan, len(placed.shifts)]
    return [float(spread) for spread in placed.flux_noise] + [len(placed.shifts)]


# ----------------------------------------------------------------------------- injection

def default_galaxy(cube: Cube, r_eff_beams: float = 1.5) -> Galaxy:
    """A disk the cube could hold, in units where 1 kpc = 1 pixel.

    Parameters
    ----------
    cube : Cube
        The real cube; its beam and band set the disk's size and speeds.
    r_eff_beams : float, optional
        R_e in units of the beam's major FWHM, > 0 (default 1.5).

    Returns
    -------
    Galaxy
        An exponential disk inclined 60 deg at PA 30 deg, rotating (arctan) so that the line
        spans about 40% of the band, with dispersion max(1.5 channels, 3% of the band).
    """
    r_eff_beams = _validate.number("r_eff_beams", r_eff_beams, 0.0, lo_open=True)
    band = cube.channel_kms * cube.shape[0]
    return Galaxy(sersic_n=1.0, r_eff_kpc=r_eff_beams * cube.beam_fwhm_px[0],
                  h_z_kpc=0.3 * cube.beam_fwhm_px[0], inclination_deg=60.0, pa_deg=30.0,
                  v_max_kms=0.2 * band / math.sin(math.radians(60.0)), rotation="arctan",
                  r_turn_kpc=0.5 * cube.beam_fwhm_px[0],
                  sigma_kms=max(1.5 * cube.channel_kms, 0.03 * band))


def _stamp(cube: Cube, galaxy: Galaxy, size: int) -> np.ndarray:
    """The galaxy as the cube would see it: (n_chan, size, size), the cube's beam and channels
    (:func:`galcube_lib.sim.simulate.stamp`), in the cube's velocity order."""
    model = stamp(galaxy, cube.shape[0], size, cube.channel_kms, cube.beam_fwhm_px,
                  cube.beam_pa_deg)
    velocity = cube.velocity_kms
    return model[::-1] if velocity[-1] < velocity[0] else model


def inject(cube: Cube, galaxy: Galaxy | None = None, *, peak_snr: float = 5.0, mask=None,
           rng=0) -> tuple[Cube, np.ndarray]:
    """Add a simulated galaxy to the real noise of a cube, at an emission-free place.

    Parameters
    ----------
    cube : Cube
        The real cube (its beam, channels and blanks are used).
    galaxy : Galaxy, optional
        The disk to inject, in units where 1 kpc = 1 pixel, centred on the band
        (``v_sys_kms`` is relative to the band centre); default :func:`default_galaxy` with
        R_e = 1.5, 1 or 0.5 beams, the largest that fits beside the cube's own emission.
    peak_snr : float
        Peak of the injected cube over the cube's noise (negative voxels), > 0.
    mask : bool array, optional
        The cube's own emission (default :func:`galcube_lib.denoise.source_mask`), kept clear.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Chooses the place among all that fit (default 0, repeatable).

    Returns
    -------
    (Cube, numpy.ndarray)
        The cube with the galaxy added (``clean`` = the injected galaxy alone, 0 elsewhere;
        ``record["injection"]`` says where and how bright) and its flux aperture (the published
        one: a cylinder of diameter 2 max(2 R_e, FWHM)).
    """
    check_cube("cube", cube)
    peak_snr = _validate.number("peak_snr", peak_snr, 0.0, lo_open=True)
    if galaxy is not None and not isinstance(galaxy, Galaxy):
        raise TypeError(f"galaxy must be a galcube Galaxy or None, got {type(galaxy).__name__}")
    mask = voxel_mask("mask", mask, cube, source_mask)
    busy = emission_zone(cube, mask, dilate_v=0)
    centre = (cube.shape[1] // 2, cube.shape[2] // 2)
    candidates = [galaxy] if galaxy is not None else [default_galaxy(cube, r) for r in (1.5, 1.0, 0.5)]
    for galaxy in candidates:
        diameter = 2.0 * max(2.0 * galaxy.r_eff_kpc, cube.beam_fwhm_px[0])
        disk = cylinder(cube.shape, centre, diameter)
        try:
            shifts = offsource_shifts(cube.shape, disk, 2, rng, exclude=busy,
                                      invalid=~np.isfinite(cube.data))
            break
        except ValueError:
            continue
    else:
        raise ValueError("no emission-free place in the cube fits the injected galaxy (aperture "
                         f"{diameter:.0f} px across); give a smaller galaxy")
    size = int(min(min(cube.shape[1:]), 2 * math.ceil(diameter)))
    model = _stamp(cube, galaxy, size)
    sigma = sigma_negative(cube.data)
    model *= peak_snr * sigma / float(model.max())
    dy, dx = (int(s) for s in shifts[0])
    truth = np.zeros(cube.shape, dtype=np.float32)
    y0, x0 = centre[0] + dy - size // 2, centre[1] + dx - size // 2
    ys, xs = slice(max(y0, 0), min(y0 + size, cube.shape[1])), slice(max(x0, 0), min(x0 + size, cube.shape[2]))
    truth[:, ys, xs] = model[:, ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    aperture = np.roll(disk, (dy, dx), axis=(1, 2))
    truth[~np.isfinite(cube.data)] = np.nan
    record = {**cube.record, "injection": {"center_yx": [centre[0] + dy, centre[1] + dx],
                                           "peak_snr": peak_snr, "sigma": sigma,
                                           "aperture_diameter_px": diameter,
                                           "galaxy": component_record(galaxy)}}
    return cube.replace(data=cube.data + truth, clean=truth, noise=None, record=record), aperture


def injection_recovery(cube: Cube, methods=("ist",), *, galaxy: Galaxy | None = None,
                       peak_snr: float = 5.0, options=None, box=None, rng=0) -> list[dict]:
    """Inject a simulated galaxy into the cube's real noise and score each method's recovery.

    The galaxy is injected by :func:`inject`, the cube denoised with every method, and the
    result compared with what was injected, in the injected galaxy's aperture.

    Parameters
    ----------
    cube : Cube
        The real cube.
    methods : list or tuple of str
        Method names (as :func:`galcube_lib.denoise`), default ("ist",).
    galaxy : Galaxy, optional
        The disk to inject, as for :func:`inject`.
    peak_snr : float, optional
        Peak of the injected galaxy over the cube's noise, > 0 (default 5).
    options : dict, optional
        Maps a method name to a dict of its options.
    box : None, "auto" or index ranges, optional
        As for :func:`galcube_lib.denoise`.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Chooses the place of the injection (default 0, repeatable).

    Returns
    -------
    list of dict
        One row per method: ``method``, ``flux_pct`` (flux conservation in the aperture, per
        cent), ``nrmse`` (normalised RMSE), ``snr_gain`` (std of the noisy over the denoised
        error in the aperture), ``spectrum_r`` (Pearson r of the aperture spectra),
        ``seconds`` (one denoising).

    Raises
    ------
    TypeError
        ``methods`` is not a list of names, or ``options`` not a dict.
    ValueError
        No emission-free place fits the galaxy.
    """
    options = _options("options", options)
    if not isinstance(methods, (list, tuple)) or not all(isinstance(m, str) for m in methods):
        raise TypeError(f"methods must be a list of method names, got {methods!r} (for one method, "
                        "give ['ist'])")
    injected, aperture = inject(cube, galaxy, peak_snr=peak_snr, rng=rng)
    truth, noisy = injected.clean, injected.data
    rows = []
    for method in methods:
        start = time.perf_counter()
        den = denoise(injected, method, box=box, **options.get(method, {})).data
        seconds = time.perf_counter() - start
        rows.append({"method": method,
                     "flux_pct": flux_conservation(den, truth, aperture),
                     "nrmse": normalised_rmse(den, truth, noisy, aperture),
                     "snr_gain": snr_gain(den, truth, noisy, aperture),
                     "spectrum_r": pearson_r(aperture_spectrum(den, aperture),
                                             aperture_spectrum(truth, aperture)),
                     "seconds": seconds})
    return rows


# ----------------------------------------------------------------------------- moments

def moment_images(cube: Cube, mask=None) -> list:
    """The masked moment maps 0, 1 and 2 of ``cube`` as FITS images (``astropy.io.fits.PrimaryHDU``).

    Each has the cube's celestial WCS, beam and a BUNIT (moment 0: the cube's unit times km/s;
    moments 1 and 2: km/s). Spaxels with no finite voxel are NaN in all three (blank, not zero
    emission). A one-channel cube's moment 0 is the map times its channel width.

    Parameters
    ----------
    cube : Cube
        The cube.
    mask : bool array, optional
        (v, y, x) or (y, x) voxels to use; all finite voxels by default.

    Returns
    -------
    list of astropy.io.fits.PrimaryHDU
        Moments 0, 1 and 2, float32 (y, x).
    """
    maps = list(moments(cube.data, cube.velocity_kms, mask))
    if cube.shape[0] == 1:   # moments takes dv from two channels, and has one
        maps[0] = maps[0] * cube.channel_kms
    header = cube.wcs.celestial.to_header()
    for key in ("BMAJ", "BMIN", "BPA", "OBJECT", "TELESCOP", "DATE-OBS"):
        if key in cube.header:
            header[key] = cube.header[key]
    unit = str(cube.header.get("BUNIT", "")).strip()
    images = []
    for k, (image, bunit) in enumerate(zip(maps, (f"{unit} km/s".strip(), "km/s", "km/s"))):
        h = header.copy()
        h["BUNIT"] = bunit
        h["HISTORY"] = f"galcube moment {k} of the cube, masked" if mask is not None else \
            f"galcube moment {k} of the cube"
        images.append(fits.PrimaryHDU(np.asarray(image, dtype=np.float32), header=h))
    return images


def write_moments(cube: Cube, path, mask=None) -> list[Path]:
    """Write the masked moment maps 0, 1 and 2 of ``cube`` (:func:`moment_images`) as FITS.

    Parameters
    ----------
    cube : Cube
        The cube.
    path : str or os.PathLike
        Names the cube (e.g. ``out/ngc4710_ist.fits``); the maps go beside it as
        ``<stem>.mom0.fits``, ``.mom1.fits`` and ``.mom2.fits``, each written atomically.
    mask : bool array, optional
        (v, y, x) or (y, x) voxels to use; all finite voxels by default.

    Returns
    -------
    list of pathlib.Path
        The three files written.
    """
    path = as_path("path", path)
    written = []
    for k, image in enumerate(moment_images(cube, mask)):
        out = path.with_name(f"{path.stem.removesuffix('.fits')}.mom{k}.fits")
        with atomic_path(out) as tmp:
            image.writeto(tmp)
        written.append(out)
    return written
