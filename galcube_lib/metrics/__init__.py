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
gains, hallucination in units of sigma) do not depend on that choice (docs/conventions.md,
Apertures and SNR).

:func:`evaluate` returns every figure that its inputs allow, by name.

Modules (every public name is re-exported here, as ``gl.metrics.<name>``):

- ``apertures``: :func:`aperture`, :func:`published_aperture`, :func:`aperture_from_record`,
  :func:`aperture_flux`;
- ``errors``: errors against a truth: :func:`flux_conservation`, :func:`rmse`,
  :func:`normalised_rmse`, :func:`psnr`, :func:`snr_gain`, :func:`pearson_r`;
- ``offsource``: the aperture at off-source placements (:func:`offsource_placements`, the one
  implementation) and the noise and SNR it gives: :func:`offsource_shifts`,
  :func:`offsource_fluxes`, :func:`offsource_flux_noise`, :func:`snr_offsource`,
  :func:`snr_gain_offsource`;
- ``reinjection``: :func:`reinjection_flux_noise`, :func:`snr_gain_reinjection`;
- ``hallucination``: :func:`null_test`, :func:`offsource_hallucination`;
- ``morphology``: :func:`moment_mask`, :func:`truth_mask`, :func:`moments`, :func:`map_rmse`,
  :func:`ssim`, :func:`kinematic_pa`;
- ``spectra``: :func:`aperture_spectrum`, :func:`line_width`, :func:`gaussian_fwhm`,
  :func:`centroid`;
- ``evaluation``: :func:`evaluate`;
- ``real``: what denoising did to a real cube, which has no truth (imported on its own:
  ``from galcube_lib.metrics import real``).
"""
from galcube_lib.metrics.apertures import aperture, aperture_flux, aperture_from_record, published_aperture
from galcube_lib.metrics.errors import (flux_conservation, normalised_rmse, pearson_r, psnr, rmse,
                                        snr_gain)
from galcube_lib.metrics.evaluation import evaluate
from galcube_lib.metrics.hallucination import null_test, offsource_hallucination
from galcube_lib.metrics.morphology import kinematic_pa, map_rmse, moment_mask, moments, ssim, truth_mask
from galcube_lib.metrics.offsource import (OffsourcePlacements, offsource_flux_noise, offsource_fluxes,
                                           offsource_placements, offsource_shifts, snr_gain_offsource,
                                           snr_offsource)
from galcube_lib.metrics.reinjection import reinjection_flux_noise, snr_gain_reinjection
from galcube_lib.metrics.spectra import aperture_spectrum, centroid, gaussian_fwhm, line_width

__all__ = [
    "OffsourcePlacements",
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
    "offsource_placements",
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
