"""Per-spaxel features of a line cube, grouped by where their information comes from.

* ``spatial`` (what a moment-0 map carries): log moment 0, log moment 0 smoothed over two
  beams, log distance from the moment-0 centroid on the sky and deprojected (by the axis ratio
  and major axis of the moment 0's second moments), and of the whole galaxy the log rms
  radius and the axis ratio of its moment 0 where the smoothed moment 0 is bright.
* ``kinematic`` (the spectral axis through moments): log |moment 1 - systemic velocity|, log
  moment 2 and log local gradient of moment 1 (km/s per beam), from a signal mask, and of the
  whole galaxy the log FWHM W of its integrated spectrum and log W / (2 sin i), sin i from the
  axis ratio (at least MIN_SIN_I): a rotation speed; and per spaxel log Omega, the local
  rotation speed |moment 1 - v_sys| / (sin i |cos phi|) over the deprojected radius (km/s per
  beam; |cos phi| >= MIN_COS_PHI).
* ``spectrum``: the spaxel's whole spectrum in units of the cube's noise (reduced by PCA in the
  models).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from galcube_lib._util import checks as check
from galcube_lib._util.conventions import FWHM_PER_SIGMA
from galcube_lib.io.cube import Cube
from galcube_lib.metrics.morphology import moments
from galcube_lib.noise.level import sigma_mad

GROUPS = {"spatial": ("log_m0", "log_m0_smooth", "log_radius", "log_radius_deprojected", "log_size",
                      "axis_ratio"),
          "kinematic": ("log_v_offset", "log_dispersion", "log_gradient", "log_line_width",
                        "log_rotation", "log_omega")}
MIN_COS_PHI = 0.3   # the local rotation speed is not read closer than this to the minor axis
MIN_SIN_I = 0.3   # the inclination estimated from the axis ratio is at least asin(0.3)
MIN_AXIS_RATIO = 0.1   # the deprojection stretches the minor axis at most tenfold
#: the feature sets the models compare: group names, plus "spectrum" for the PCA of spectra
FEATURE_SETS = {"moment0": ("spatial",), "moments": ("spatial", "kinematic"),
                "spectrum": ("spatial", "spectrum"), "all": ("spatial", "kinematic", "spectrum")}
REGION_SIGMA = 3.0   # the galaxy: smoothed moment 0 above this many times its own noise
MASK_SIGMA = 2.5   # the kinematic moments use voxels above this many sigma of the smoothed cube
EVALUATED = 0.05   # spaxels where the true line surface density is >= this fraction of its peak


def feature_maps(cube: Cube, noise_sigma: float | None = None) -> dict:
    """Every per-spaxel feature of a cube, as maps.

    Parameters
    ----------
    cube : Cube
        A (v, y, x) cube in Jy/beam with its beam and channels.
    noise_sigma : float, optional
        The noise level per voxel of the observed cube, > 0; default the cube's own
        (median absolute deviation). Give the noisy cube's for a denoised one, whose own
        spread is not its noise: it sets the units of the spectrum, the floor of moment 0
        and the SNRs, so that they mean the same before and after denoising. The masks of
        the galaxy and of the moments use the cube's own spread either way.

    Returns
    -------
    dict
        Feature name -> (y, x) float64 map (the names of ``GROUPS``); "m0_snr" -> moment 0
        over its noise and "cube_snr" -> the cube's measured peak SNR, max over the MAD noise
        (for calibration, not features); "spectrum" -> the (v, y, x) cube over
        its noise level. Moments the mask leaves undefined are 0.
    """
    data = np.nan_to_num(np.asarray(cube.data, dtype=np.float64))
    v = cube.velocity_kms
    dv = abs(cube.channel_kms)
    beam = math.sqrt(cube.beam_fwhm_px[0] * cube.beam_fwhm_px[1])
    sigma = sigma_mad(data) if noise_sigma is None else check.number("noise_sigma", noise_sigma, 0.0, lo_open=True)
    m0 = data.sum(axis=0) * dv
    m0_noise = sigma * math.sqrt(data.shape[0] * cube.beam_area_px) * dv   # beam-correlated
    floor = 0.5 * m0_noise / math.sqrt(cube.beam_area_px)
    smooth = ndimage.gaussian_filter(m0, 2 * beam / FWHM_PER_SIGMA)
    y, x = np.indices(m0.shape)
    bright = smooth > REGION_SIGMA * sigma_mad(smooth)
    weight = np.clip(m0, 0, None) * bright   # moment 0 where the smoothed one is bright
    total = max(weight.sum(), 1e-300)
    cy, cx = (float((a * weight).sum() / total) for a in (y, x))
    cyy, cxx, cxy = (float((a * b * weight).sum() / total) for a, b in
                     ((y - cy, y - cy), (x - cx, x - cx), (x - cx, y - cy)))
    eig, vec = np.linalg.eigh([[cxx, cxy], [cxy, cyy]])
    eig = np.clip(eig, 1e-12, None)
    ratio = math.sqrt(eig[0] / eig[1])
    radius = np.hypot(y - cy, x - cx)
    along = (x - cx) * vec[0, 1] + (y - cy) * vec[1, 1]     # along the major axis of moment 0
    across = (x - cx) * vec[0, 0] + (y - cy) * vec[1, 0]
    deprojected = np.hypot(along, across / max(ratio, MIN_AXIS_RATIO))
    sin_i = max(math.sqrt(max(1.0 - ratio ** 2, 0.0)), MIN_SIN_I)
    size = math.sqrt(eig.sum()) / beam     # rms radius of the smoothed moment 0, in beams
    cube_smooth = ndimage.gaussian_filter(data, (1.0, beam / FWHM_PER_SIGMA, beam / FWHM_PER_SIGMA))
    mask = cube_smooth > MASK_SIGMA * sigma_mad(cube_smooth)
    _, m1, m2 = moments(data, v, mask)
    spectrum = (cube_smooth * mask * (weight > 0)).sum(axis=(1, 2))   # over the galaxy only
    norm = max(spectrum.sum(), 1e-300)
    v_sys = float((v * spectrum).sum() / norm)
    width = math.sqrt(max(float(((v - v_sys) ** 2 * spectrum).sum() / norm), 0.0)) * FWHM_PER_SIGMA
    gy, gx = np.gradient(m1)
    # the local rotation speed |m1 - v_sys| / (sin i |cos phi|), phi the azimuth in the disk, over
    # the deprojected radius: an angular velocity in km/s per beam
    cos_phi = np.maximum(np.abs(along) / np.maximum(deprojected, 1e-9), MIN_COS_PHI)
    v_rot = np.nan_to_num(np.abs(m1 - v_sys)) / (sin_i * cos_phi)
    omega = v_rot / (deprojected / beam + 0.25)
    constant = np.ones_like(m0)
    return {"m0_snr": m0 / m0_noise,
            "cube_snr": constant * float(data.max() / sigma),
            "log_m0": np.log10(np.maximum(m0, floor)),
            "log_m0_smooth": np.log10(np.maximum(smooth, floor)),
            "log_radius": np.log10(radius / beam + 0.25),
            "log_radius_deprojected": np.log10(deprojected / beam + 0.25),
            "log_size": constant * math.log10(size + 0.1),
            "axis_ratio": constant * ratio,
            "log_v_offset": np.log10(np.nan_to_num(np.abs(m1 - v_sys)) + dv),
            "log_dispersion": np.log10(np.nan_to_num(m2) + dv),
            "log_gradient": np.log10(np.nan_to_num(np.hypot(gy, gx) * beam) + 1.0),
            "log_line_width": constant * math.log10(width + dv),
            "log_rotation": constant * math.log10(width / (2 * sin_i) + dv),
            "log_omega": np.log10(omega + dv),
            "spectrum": (data / sigma).astype(np.float32)}


def evaluated_spaxels(sigma_line: np.ndarray) -> np.ndarray:
    """The spaxels a property map is scored on: true line surface density >= EVALUATED x peak.

    Parameters
    ----------
    sigma_line : numpy.ndarray
        The true (noise-free) line surface density map.

    Returns
    -------
    numpy.ndarray
        Boolean (y, x) mask.
    """
    return sigma_line >= EVALUATED * sigma_line.max()


def scored_spaxels(maps) -> np.ndarray:
    """The spaxels a prediction is scored on: :func:`evaluated_spaxels` with a positive true
    Sigma_SFR (its log is the target).

    Parameters
    ----------
    maps : PropertyMaps
        The true property maps.

    Returns
    -------
    numpy.ndarray
        Boolean (y, x) mask.
    """
    return evaluated_spaxels(maps.sigma_line) & (maps.sigma_sfr > 0)


def select(table: dict, feature_set: str):
    """The columns of a feature set from a table of a larger set.

    Parameters
    ----------
    table : dict
        A :func:`spaxel_table` (of the "all" set, say).
    feature_set : str
        A key of ``FEATURE_SETS`` whose columns ``table`` holds.

    Returns
    -------
    X : numpy.ndarray
        (rows, columns of the set), in the table's order.
    names : list of str
        Their names.
    """
    groups = FEATURE_SETS[feature_set]
    keep = [i for i, n in enumerate(table["names"])
            if (n.startswith("ch") and "spectrum" in groups) or any(n in GROUPS[g] for g in groups if g != "spectrum")]
    return table["X"][:, keep], [table["names"][i] for i in keep]


def spaxel_table(pairs, feature_set: str = "moments") -> dict:
    """Rows of features and labels over the evaluated spaxels of some pairs.

    Parameters
    ----------
    pairs : list of Pair
        Cubes with their true property maps.
    feature_set : str
        A key of ``FEATURE_SETS``.

    Returns
    -------
    dict
        ``X`` (rows, features) float64 (the spectrum last, channels as columns, for the
        "spectrum" set), ``names`` (column names; "spectrum" columns "ch<k>"), ``y`` (true
        log10 Sigma_SFR), ``galaxy``, ``pair`` (index in ``pairs``), ``peak_snr``, ``log_m0``
        (the power law's input), ``m0_snr`` and ``cube_snr`` (calibration inputs) and ``log_m0_true`` (of the
        noise-free cube, NaN without one) per row.

    Raises
    ------
    ValueError
        An unknown ``feature_set``.
    """
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"feature_set={feature_set!r} is not one of {', '.join(map(repr, FEATURE_SETS))}")
    columns = [n for g in FEATURE_SETS[feature_set] if g != "spectrum" for n in GROUPS[g]]
    spectrum = "spectrum" in FEATURE_SETS[feature_set]
    rows = {k: [] for k in ("X", "y", "galaxy", "pair", "peak_snr", "log_m0", "m0_snr", "cube_snr", "log_m0_true")}
    names = list(columns)
    for i, pair in enumerate(pairs):
        feats = feature_maps(pair.noisy, pair.noise_sigma)
        on = scored_spaxels(pair.maps)
        block = [feats[n][on] for n in columns]
        if spectrum:
            block += list(feats["spectrum"][:, on])
        rows["X"].append(np.stack(block, axis=1))
        rows["y"].append(np.log10(pair.maps.sigma_sfr[on]))
        rows["galaxy"].append(np.full(on.sum(), pair.galaxy))
        rows["pair"].append(np.full(on.sum(), i))
        rows["peak_snr"].append(np.full(on.sum(), pair.peak_snr))
        rows["log_m0"].append(feats["log_m0"][on])
        rows["m0_snr"].append(feats["m0_snr"][on])
        rows["cube_snr"].append(feats["cube_snr"][on])
        clean = pair.noisy.clean
        true_m0 = np.full(on.sum(), np.nan) if clean is None else \
            np.log10(np.maximum(np.asarray(clean, dtype=np.float64).sum(axis=0)[on] * abs(pair.noisy.channel_kms), 1e-300))
        rows["log_m0_true"].append(true_m0)
    if spectrum:
        names += [f"ch{k}" for k in range(pairs[0].noisy.shape[0])]
    table = {k: np.concatenate(v) for k, v in rows.items()}
    table["names"] = names
    return table
