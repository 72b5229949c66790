"""What PCA and ICA share: spaxel x channel matrices, the source aperture, the published
rule for how many components to keep."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from galcube_lib._util.conventions import FWHM_PER_SIGMA, MAD_TO_SIGMA
from galcube_lib._util import checks as check

VARIANCE_FALLBACK = 0.70   # published fallback: keep components explaining 70% of the variance
SPECTRAL_SMOOTH_CHANNELS = 1.5  # sigma of the spectral part of the source-finding filter
PLATEAU_TOL = 0.05         # aperture flux "levelled off": it stays within 5% ...
PLATEAU_SPAN = 3           # ... over the next 3 component counts
MATCHED_FILTER_TRUNCATE = 4.0  # the filter's kernel reaches this many sigmas (scipy's default)


def to_matrix(data: np.ndarray):
    """(v, y, x) -> (spaxels, channels), each channel centred and divided by its robust noise;
    returns matrix, mean, scale."""
    return standardised(data.reshape(data.shape[0], -1).T.astype(np.float64))


def standardised(x: np.ndarray):
    """A (spaxels, channels) float64 matrix with each channel centred and divided by its
    robust noise; returns matrix, mean, scale."""
    mean = x.mean(axis=0)
    # Each channel in units of its noise (robust: MAD), not its total spread, which a bright
    # line would inflate and so down-weight the very channels that hold the signal.
    scale = MAD_TO_SIGMA * np.median(np.abs(x - np.median(x, axis=0)), axis=0)
    scale[scale == 0] = 1.0
    return (x - mean) / scale, mean, scale


def to_cube(matrix: np.ndarray, mean, scale, shape) -> np.ndarray:
    """Inverse of :func:`to_matrix`."""
    return (matrix * scale + mean).T.reshape(shape).astype(np.float32)


def source_aperture(data: np.ndarray, beam_fwhm_px, aperture=None) -> np.ndarray:
    """A (y, x) boolean aperture: the user's, or a disk of diameter 3 beam FWHM centred on the
    peak of the cube smoothed by the beam and over a few channels (a 3-D matched filter, which
    finds a faint line far better than the all-channel moment-0 map)."""
    if aperture is not None:
        return checked_aperture(aperture, data.shape[1:])
    _, yc, xc = np.unravel_index(np.argmax(matched_filter(data, beam_fwhm_px)), data.shape)
    return aperture_disk(range(data.shape[1]), range(data.shape[2]), (yc, xc), beam_fwhm_px)


def checked_aperture(aperture, shape) -> np.ndarray:
    """The user's aperture as a (y, x) boolean mask of the spatial ``shape``; a ValueError
    unless it has pixels both inside and outside."""
    mask = np.asarray(aperture, dtype=bool)
    mask = mask.any(axis=0) if mask.ndim == 3 else mask
    if mask.shape != tuple(shape) or not mask.any() or mask.all():
        raise ValueError(f"aperture must be a (y, x) or (v, y, x) boolean mask of the cube's "
                         f"spatial shape {tuple(shape)} with pixels both inside and outside it")
    return mask


def matched_filter(data: np.ndarray, beam_fwhm_px) -> np.ndarray:
    """The cube smoothed by the beam and over a few channels, to find the source's peak."""
    sigma = max(beam_fwhm_px) / FWHM_PER_SIGMA
    return ndimage.gaussian_filter(data, (SPECTRAL_SMOOTH_CHANNELS, sigma, sigma),
                                   truncate=MATCHED_FILTER_TRUNCATE)


def matched_filter_reach(beam_fwhm_px) -> int:
    """Pixels that :func:`matched_filter` reaches spatially (scipy's kernel radius)."""
    return int(MATCHED_FILTER_TRUNCATE * max(beam_fwhm_px) / FWHM_PER_SIGMA + 0.5)


def aperture_disk(rows, cols, centre, beam_fwhm_px) -> np.ndarray:
    """The part ``rows`` x ``cols`` (ranges of pixel indices) of the default aperture: a disk
    of diameter 3 beam FWHM around ``centre`` (y, x)."""
    y = np.asarray(rows)[:, None]
    x = np.asarray(cols)[None, :]
    return np.hypot(y - centre[0], x - centre[1]) <= 1.5 * max(beam_fwhm_px)


def choose_count(reconstruct, n_max: int, aperture: np.ndarray, explained: np.ndarray) -> int:
    """:func:`count_rule` for the cubes ``reconstruct(k)``, k = 1 .. ``n_max``: their flux in
    the (y, x) ``aperture`` and their scatter (std) outside it."""
    flux, scatter = [], []
    for k in range(1, n_max + 1):
        cube = reconstruct(k)
        flux.append(float(cube[:, aperture].sum()))
        scatter.append(float(cube[:, ~aperture].std()))
    return count_rule(np.array(flux), np.array(scatter), explained)


def count_rule(flux: np.ndarray, scatter: np.ndarray, explained: np.ndarray) -> int:
    """The published rule, given the aperture flux and the scatter outside the aperture of the
    cubes rebuilt from k = 1 .. n_max components: among counts k where the aperture flux has
    levelled off (it stays within PLATEAU_TOL of its value over the next PLATEAU_SPAN counts),
    the one with the lowest scatter outside the aperture; if it never levels off, the smallest
    k explaining VARIANCE_FALLBACK of the variance (``explained``: the fraction of each
    component, in order), at most n_max."""
    n_max = len(flux)
    plateau = np.array([k for k in range(n_max - PLATEAU_SPAN)
                        if np.all(np.abs(flux[k + 1:k + 1 + PLATEAU_SPAN] - flux[k])
                                  <= PLATEAU_TOL * max(abs(flux[k]), 1e-30))], dtype=int)
    if plateau.size:
        return int(plateau[np.argmin(scatter[plateau])] + 1)
    return int(min(np.searchsorted(np.cumsum(explained), VARIANCE_FALLBACK) + 1, n_max))


def matrix_size(method: str, data: np.ndarray) -> tuple[int, int]:
    """(channels, spaxels with data) of a (v, y, x) cube whose blank voxels are 0, after
    :func:`check_matrix_size`."""
    n_chan = data.shape[0]
    n_spaxels = int(np.count_nonzero(np.any(data != 0, axis=0)))
    check_matrix_size(method, n_chan, n_spaxels)
    return n_chan, n_spaxels


def check_matrix_size(method: str, n_chan: int, n_spaxels: int) -> None:
    """A ValueError unless there are at least 2 channels and 2 spaxels with data: the
    components are spectra, found across spaxels."""
    if n_chan < 2 or n_spaxels < 2:
        raise ValueError(f"the cube is too small for {method}: it has {n_chan} channel(s) and "
                         f"{n_spaxels} spaxel(s) with data, and {method} needs at least 2 of each "
                         "(its components are spectra); use method='gaussian' or 'ist' instead")


def check_count(name: str, value, n_max: int, limit: str, default=None):
    """A component count in [1, ``n_max``], ``n_max`` being set by ``limit`` (e.g. "the cube's
    5 channels"); None gives ``default`` clipped to ``n_max`` (None: choose by the rule)."""
    if value is None:
        return None if default is None else min(default, n_max)
    value = check.integer(name, value, 1)
    if value > n_max:
        raise ValueError(f"{name}={value} is more than {limit} allow: give at most {n_max}, or "
                         f"leave it unset")
    return value
