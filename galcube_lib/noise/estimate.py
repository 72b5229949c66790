"""Noise of a cube: its level (globally, per channel, as a map where it varies), the channels
free of line emission, and its spatial and spectral correlation.

Radio line cubes are continuum-subtracted, so the noise has zero mean and the emission is
(almost only) positive: the negative voxels see the noise alone. Every function ignores NaN
(blank or masked) voxels and leaves its input unchanged. This module is the public face of
the noise statistics: the levels are implemented in :mod:`galcube_lib.noise.level`, the
correlations in :mod:`galcube_lib.noise.correlation`; the noise maps and the summary here.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.interpolate import RegularGridInterpolator

from galcube_lib._util import checks as check
from galcube_lib._util.checks import real_array
from galcube_lib.io.header import GAIN_MAX
from galcube_lib.noise.correlation import (correlation_fwhm_px, noise_blob_pixels,
                                           spatial_autocorrelation, spectral_correlation)
from galcube_lib.noise.level import (NOISE_STATISTICS, line_free_channels, line_free_or_raise,
                                     noise_level, sigma_by, sigma_mad, sigma_negative)

__all__ = ["sigma_negative", "sigma_mad", "line_free_channels", "noise_level", "noise_map",
           "spatial_autocorrelation", "correlation_fwhm_px", "spectral_correlation",
           "noise_blob_pixels", "describe_noise"]



@check.renamed(method="noise_statistic")
def noise_map(data, *, gain=None, box_px: int | None = None,
              noise_statistic: str = "negative") -> np.ndarray:
    """Noise standard deviation at every pixel, for cubes whose noise varies across the field.

    With ``gain`` (primary-beam corrected cubes): sigma = sigma0 / gain, with sigma0 the noise
    of the whitened cube ``data * gain``. Without: the noise is measured in square boxes of
    ``box_px`` pixels pooled over all channels, and interpolated linearly between the box
    centres (extrapolated linearly beyond the outermost ones).

    Parameters
    ----------
    data : array_like
        (v, y, x) cube, continuum-subtracted; NaN voxels are ignored.
    gain : array_like, optional
        Primary-beam gain, (v, y, x) or (y, x), finite values in (0, ``GAIN_MAX``]; NaN where
        unknown.
    box_px : int, optional
        Box side in pixels, in [2, min(ny, nx) // 2]; default 1.5 FWHM of the noise's spatial
        correlation (one to two beams), at least 8 pixels: larger boxes are less noisy but
        blur a varying noise (on NGC 4047, 12 px boxes follow sigma0 / gain to 3.5 %, 27 px
        ones to 10 %). Ignored with ``gain``.
    noise_statistic : {"negative", "mad", "line_free"}
        As in :func:`noise_level` ("line_free": the channels found on the whole cube).
        (Formerly ``method``, deprecated.)

    Returns
    -------
    numpy.ndarray
        float32 (y, x) map, or (v, y, x) when ``gain`` varies from channel to channel. NaN
        where the gain is NaN, or (without gain) where a spectrum has no finite voxel.
    """
    x = real_array("data", data)
    check.choice("noise_statistic", noise_statistic, NOISE_STATISTICS)
    if gain is not None:
        g = real_array("gain", gain, ndim=(2, 3))
        if g.shape not in (x.shape, x.shape[1:]):
            raise ValueError(f"gain has shape {g.shape}; it must be the cube's {x.shape} or {x.shape[1:]}")
        known = np.isfinite(g)
        if np.any(known & ~((g > 0) & (g <= GAIN_MAX))):
            raise ValueError(f"gain must lie in (0, {GAIN_MAX}] where finite, got values from "
                             f"{np.nanmin(g):g} to {np.nanmax(g):g}")
        if g.ndim == 3 and np.array_equal(g, np.broadcast_to(g[:1], g.shape), equal_nan=True):
            g = g[0]
        sigma0 = noise_level(x * g, noise_statistic)
        return (sigma0 / g).astype(np.float32)
    ny, nx = x.shape[1:]
    if min(ny, nx) < 4:
        raise ValueError(f"data is {ny} x {nx} px: noise_map measures the noise in boxes of 2 px "
                         "or more, at most half the image, and needs an image of at least 4 x 4 "
                         "px; use noise_level for one value")
    if box_px is None:
        fwhm = correlation_fwhm_px(spatial_autocorrelation(x, negative=True))
        width = 1.0 if np.isnan(fwhm[0]) else math.sqrt(fwhm[0] * fwhm[1])
        box_px = min(max(8, math.ceil(1.5 * width)), min(ny, nx) // 2)
    box = check.integer("box_px", box_px, 2, min(ny, nx) // 2)
    if noise_statistic == "line_free":
        x = x[line_free_or_raise(x)]
    edges = [np.linspace(0, n, round(n / box) + 1).round().astype(int) for n in (ny, nx)]
    blocks = np.array([[sigma_by(x[:, y0:y1, x0:x1], noise_statistic)
                        for x0, x1 in zip(edges[1][:-1], edges[1][1:])]
                       for y0, y1 in zip(edges[0][:-1], edges[0][1:])])
    if np.isnan(blocks).all():
        raise ValueError(f"no box of {box} px holds the voxels noise_statistic="
                         f"{noise_statistic!r} needs")
    # blocks without data (blank corners) take their nearest measured neighbour's value
    nearest = ndimage.distance_transform_edt(np.isnan(blocks), return_distances=False,
                                             return_indices=True)
    blocks = blocks[tuple(nearest)]
    centres = [(e[:-1] + e[1:] - 1) / 2 for e in edges]
    interpolate = RegularGridInterpolator(centres, blocks, bounds_error=False, fill_value=None)
    out = interpolate(np.stack(np.mgrid[:ny, :nx], axis=-1))
    out[~np.isfinite(x).any(axis=0)] = np.nan
    return out.astype(np.float32)


def describe_noise(data, beam_fwhm_px=None) -> dict:
    """Summary of a cube's noise: level, line-free channels, spatial and spectral correlation.

    Every figure is measured so that positive line emission does not bias it (negative voxels,
    line-free channels, or correlations of the negative parts).

    Parameters
    ----------
    data : array_like
        (v, y, x) cube, continuum-subtracted; NaN voxels are ignored.
    beam_fwhm_px : float or (float, float), optional
        Restoring beam FWHM (bmaj, bmin) in pixels, to compare the noise correlation with.

    Returns
    -------
    dict
        ``sigma_negative``, ``sigma_mad`` (about 0), ``sigma_line_free`` (None without
        line-free channels); ``n_channels``, ``n_line_free_channels``;
        ``channel_sigma_max_over_min`` (spread of the per-channel sigma_negative);
        ``correlation_fwhm_major_px``, ``correlation_fwhm_minor_px``, ``correlation_pa_deg``
        and ``correlation_fwhm_px`` (their geometric mean) of the spatial noise
        autocorrelation (NaN when spatially white, or the image is one pixel wide);
        ``correlation_fwhm_over_beam`` (that geometric mean over the beam's; sqrt(2) = 1.41
        for white noise convolved with the beam;
        None without a beam); ``spectral_correlation_lag1`` and ``_lag2`` (None when the cube
        has too few channels).
    """
    x = real_array("data", data)
    beam = None if beam_fwhm_px is None else check.beam_fwhm("beam_fwhm_px", beam_fwhm_px)
    free = line_free_channels(x)
    per_channel = noise_level(x, per_channel=True)
    major, minor, pa = (correlation_fwhm_px(spatial_autocorrelation(x, negative=True))
                        if min(x.shape[1:]) > 1 else (math.nan,) * 3)
    width = math.sqrt(major * minor)
    lags = spectral_correlation(x, min(2, x.shape[0] - 1)) if x.shape[0] > 1 else []
    spectral = [float(r) for r in lags] + [None] * (2 - len(lags))
    return {
        "sigma_negative": sigma_negative(x),
        "sigma_mad": sigma_mad(x, center=0.0),
        "sigma_line_free": sigma_by(x[free], "line_free") if free.any() else None,
        "n_channels": x.shape[0],
        "n_line_free_channels": int(free.sum()),
        "channel_sigma_max_over_min": float(np.nanmax(per_channel) / np.nanmin(per_channel)),
        "correlation_fwhm_major_px": major,
        "correlation_fwhm_minor_px": minor,
        "correlation_pa_deg": pa,
        "correlation_fwhm_px": width,
        "correlation_fwhm_over_beam": None if beam is None else width / math.sqrt(beam[0] * beam[-1]),
        "spectral_correlation_lag1": spectral[0],
        "spectral_correlation_lag2": spectral[1],
    }
