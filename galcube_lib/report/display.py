"""What displays of a cube need: colour limits, sky offsets, beam and scale bar, position-velocity cuts.

Plain numpy/scipy/astropy, no plotting: the widgets and the report's figures draw with these.
Conventions (docs/conventions.md, Axes and array order, Angles): arrays are (v, y, x); position angles run from north (+y) through east
(-x); a display shows north up and east to the LEFT, so sky offsets toward the east are positive
and decrease with the x index.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from galcube_lib._util.conventions import FWHM_PER_SIGMA
from galcube_lib._util import checks as check
from galcube_lib import metrics
from galcube_lib.io import lazy
from galcube_lib.io.cube import Cube, check_cube

__all__ = ["apply_stretch", "beam_ellipse", "contour_levels", "diverging_limits", "emission_mask", "frequency_ghz",
           "line_channels", "major_axis", "pixel_to_radec", "pv_slice", "reference_radec",
           "region_mask", "region_outline", "REGION_SHAPES", "scale_bar", "sky_offsets_arcsec",
           "stretch_limits", "stretched_palette", "zero_aligned_limits"]

REGION_SHAPES = ("circle", "box", "beam")


def _floats(name: str, values) -> np.ndarray:
    """``values`` as a float array; anything else (strings, None...) is a TypeError naming it."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numbers (an array of real values), got "
                        f"{type(values).__name__}") from None


def _yx(name: str, value) -> tuple[float, float]:
    """A (y, x) pair of finite numbers (a tuple, list or 2-element array)."""
    pair = check.sequence(name, np.asarray(value).tolist() if isinstance(value, np.ndarray) else value, 2)
    return check.number(f"{name}[0]", pair[0]), check.number(f"{name}[1]", pair[1])


def stretch_limits(image, mode="percentile", percent=99.5) -> tuple[float, float]:
    """Colour limits (vmin, vmax) of an image, from its finite values.

    Parameters
    ----------
    image : array_like
        Any shape; NaN and inf are ignored.
    mode : {"percentile", "zscale"}
        "percentile": the central ``percent`` per cent of the values (astropy's
        ``PercentileInterval``), i.e. ``np.nanpercentile(image, [(100 - percent) / 2,
        (100 + percent) / 2])``; "zscale": IRAF's zscale (astropy's ``ZScaleInterval``).
    percent : float
        In (0, 100]; used by "percentile" only.

    Returns
    -------
    (float, float)
        vmin < vmax. An image without finite values gives (0, 1); a constant one (c - 0.5, c + 0.5),
        so that a colour map always has a range.
    """
    check.choice("mode", mode, ("percentile", "zscale"))
    percent = check.number("percent", percent, 0.0, 100.0, lo_open=True)
    values = _floats("image", image)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    if mode == "percentile":
        lo, hi = np.percentile(values, [(100.0 - percent) / 2.0, (100.0 + percent) / 2.0])
    else:
        from astropy.visualization import ZScaleInterval

        lo, hi = ZScaleInterval().get_limits(values)
    lo, hi = float(lo), float(hi)
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def diverging_limits(image, centre=None, mode="percentile", percent=99.5) -> tuple[float, float]:
    """Colour limits symmetric about ``centre`` that hold the :func:`stretch_limits` range.

    For a diverging colour map (a residual about 0, a velocity field about the systemic
    velocity).

    Parameters
    ----------
    image : array_like
        Any shape; NaN and inf are ignored.
    centre : float, optional
        The middle of the colour map; the median of the finite values by default (0 when
        there are none).
    mode : {"percentile", "zscale"}
        As for :func:`stretch_limits`.
    percent : float
        As for :func:`stretch_limits`, in (0, 100].

    Returns
    -------
    (float, float)
        ``(centre - h, centre + h)`` with h > 0 (0.5 when the range is empty).
    """
    values = _floats("image", image)
    values = values[np.isfinite(values)]
    lo, hi = stretch_limits(values, mode, percent)
    if centre is None:
        centre = float(np.median(values)) if values.size else 0.0
    centre = check.number("centre", centre)
    half = max(hi - centre, centre - lo)
    half = half if half > 0 else 0.5
    return centre - half, centre + half


def stretched_palette(palette, kind="linear", n=512) -> list:
    """A palette resampled so that a linear colour mapper shows a stretched image.

    A LINEAR colour mapper over (vmin, vmax) with the result shows what ``palette`` shows of
    :func:`apply_stretch` (image, vmin, vmax, ``kind``). The image keeps its values (a hover
    reads them, a colour bar labels them) while the colours follow the stretch: colour i of
    the result is the palette's colour at the stretch of the centre of bin i.

    Parameters
    ----------
    palette : sequence
        The colours (any objects), low to high; not empty.
    kind : {"linear", "asinh"}
        The stretch, as for :func:`apply_stretch`.
    n : int
        Colours in the result, >= 1 (default 512).

    Returns
    -------
    list
        ``n`` colours taken from ``palette``.

    Raises
    ------
    ValueError
        An empty palette.
    """
    palette = list(palette)
    if not palette:
        raise ValueError("palette is empty: give a list of colours")
    n = check.integer("n", n, 1)
    stretched = apply_stretch((np.arange(n) + 0.5) / n, 0.0, 1.0, kind)
    index = np.minimum((stretched * len(palette)).astype(int), len(palette) - 1)
    return [palette[i] for i in index]


def zero_aligned_limits(*values, pad=0.05) -> list[tuple[float, float]]:
    """Axis limits that each hold their values and 0, with 0 at the same height.

    Two y axes of one plot then share their zero line.

    Parameters
    ----------
    *values : array_like
        One array per axis (at least one); NaN and inf are ignored.
    pad : float
        Each range is first widened by this fraction of its span on both sides, >= 0
        (default 0.05).

    Returns
    -------
    list of (float, float)
        One (low, high) per array, low <= 0 <= high.

    Raises
    ------
    ValueError
        No array given.
    """
    if not values:
        raise ValueError("zero_aligned_limits needs at least one array of values")
    pad = check.number("pad", pad, 0.0)
    spans = []
    for i, v in enumerate(values):
        v = _floats(f"values[{i}]", v)
        v = v[np.isfinite(v)]
        down, up = -min(0.0, v.min(initial=0.0)), max(0.0, v.max(initial=0.0))
        margin = pad * (down + up)
        spans.append((down + margin if down else 0.0, up + margin if up else 0.0) if down + up
                     else (0.5, 0.5))
    down = max(d / (d + u) for d, u in spans)   # the largest fraction below zero, and above
    up = max(u / (d + u) for d, u in spans)
    down, up = down / (down + up), up / (down + up)
    out = []
    for d, u in spans:
        total = max(d / down if down else 0.0, u / up if up else 0.0)
        out.append((-down * total, up * total))
    return out


def contour_levels(image, n_sigma=3.0, floor=0.1, n=4) -> list[float]:
    """Contour levels of a map: ``n`` levels doubling from the lowest, below the peak.

    The lowest is ``n_sigma`` times the map's noise (from its negative values,
    ``sqrt(mean(x**2 | x < 0))``) but at least ``floor`` of the peak, so that a noise-free map gets
    10, 20, 40, 80 % of its peak and a noisy one 3, 6, 12, 24 sigma.

    Parameters
    ----------
    image : array_like
        The map; NaN and inf are ignored.
    n_sigma : float
        The lowest level in units of the map's noise, >= 0 (default 3).
    floor : float
        The lowest level's least fraction of the peak, in (0, 1) (default 0.1).
    n : int
        Most levels, >= 1 (default 4).

    Returns
    -------
    list of float
        Rising levels in the map's units, each below the peak (fewer than ``n`` when the
        peak is reached); empty without a positive peak.
    """
    from galcube_lib.noise.level import sigma_negative

    values = _floats("image", image)
    values = values[np.isfinite(values)]
    peak = values.max(initial=0.0)
    if not peak > 0:
        return []
    n_sigma = check.number("n_sigma", n_sigma, 0.0)
    floor = check.number("floor", floor, 0.0, 1.0, lo_open=True, hi_open=True)
    sigma = sigma_negative(values)
    lowest = max(floor * peak, n_sigma * sigma if math.isfinite(sigma) else 0.0)
    return [float(lowest * 2.0 ** k) for k in range(check.integer("n", n, 1)) if lowest * 2.0 ** k < peak]


def frequency_ghz(velocity_kms, rest_frequency_hz):
    """Observed frequency of radio-convention velocities: rest (1 - v / c).

    Parameters
    ----------
    velocity_kms : float or array_like
        Radio velocities in km/s.
    rest_frequency_hz : float
        The rest frequency in Hz, > 0.

    Returns
    -------
    float or numpy.ndarray
        Frequencies in GHz, shaped like ``velocity_kms``.
    """
    import astropy.units as u

    rest = check.number("rest_frequency_hz", rest_frequency_hz, 0.0, lo_open=True) * u.Hz
    speed = _floats("velocity_kms", velocity_kms) * (u.km / u.s)
    return speed.to_value(u.GHz, u.doppler_radio(rest))


def _region_axes(shape, pa_deg, axis_ratio):
    """Unit vectors (x, y) of a region's two axes and the second's length relative to the first."""
    check.choice("shape", shape, REGION_SHAPES)
    if shape != "beam":
        return (1.0, 0.0), (0.0, 1.0), 1.0
    pa = math.radians(check.number("pa_deg", pa_deg))
    ratio = check.number("axis_ratio", axis_ratio, 0.0, 1.0, lo_open=True)
    return (-math.sin(pa), math.cos(pa)), (math.cos(pa), math.sin(pa)), ratio


def region_mask(image_shape, center_yx, radius_px, shape="circle", pa_deg=0.0, axis_ratio=1.0):
    """Boolean (y, x) pixels inside a region around ``center_yx`` (a pixel is in when its centre is).

    Parameters
    ----------
    image_shape : (int, int)
        (ny, nx) of the image, each >= 1.
    center_yx : (float, float)
        0-based pixel position (y, x).
    radius_px : float
        > 0: the circle's radius, the box's half side, the beam-shaped ellipse's semi-major axis.
    shape : {"circle", "box", "beam"}
        "box" is aligned with the pixel axes; "beam" is an ellipse of the beam's ``axis_ratio``
        (minor / major) with its major axis at ``pa_deg`` (north through east).
    pa_deg : float
        Position angle of the "beam" ellipse's major axis in degrees, north through east.
    axis_ratio : float
        Minor over major axis of the "beam" ellipse, in (0, 1].

    Returns
    -------
    numpy.ndarray
        Boolean (ny, nx) mask.
    """
    radius = check.number("radius_px", radius_px, 0.0, lo_open=True)
    (ux, uy), (wx, wy), ratio = _region_axes(shape, pa_deg, axis_ratio)
    cy, cx = _yx("center_yx", center_yx)
    ny, nx = (check.integer(f"image_shape[{i}]", n, 1)
              for i, n in enumerate(check.sequence("image_shape", image_shape, 2)))
    y, x = np.indices((ny, nx), dtype=float)
    along, across = (x - cx) * ux + (y - cy) * uy, (x - cx) * wx + (y - cy) * wy
    if shape == "box":
        return (np.abs(along) <= radius) & (np.abs(across) <= radius)
    return (along / radius) ** 2 + (across / (ratio * radius)) ** 2 <= 1.0


def region_outline(center_yx, radius_px, shape="circle", pa_deg=0.0, axis_ratio=1.0, n=65):
    """Closed outline of the :func:`region_mask` region, for drawing.

    Parameters
    ----------
    center_yx : (float, float)
        0-based pixel position (y, x).
    radius_px : float
        > 0, as for :func:`region_mask`.
    shape : {"circle", "box", "beam"}
        As for :func:`region_mask`.
    pa_deg : float
        Position angle of the "beam" ellipse's major axis in degrees, north through east.
    axis_ratio : float
        Minor over major axis of the "beam" ellipse, in (0, 1].
    n : int
        Points of a circle or ellipse, >= 3 (default 65); a box has 5.

    Returns
    -------
    x, y : numpy.ndarray
        Pixel coordinates of the outline, the last point equal to the first.
    """
    radius = check.number("radius_px", radius_px, 0.0, lo_open=True)
    (ux, uy), (wx, wy), ratio = _region_axes(shape, pa_deg, axis_ratio)
    if shape == "box":
        a = np.array([1.0, -1.0, -1.0, 1.0, 1.0])
        b = np.array([1.0, 1.0, -1.0, -1.0, 1.0])
    else:
        t = np.linspace(0.0, 2.0 * math.pi, check.integer("n", n, 3))
        a, b = np.cos(t), ratio * np.sin(t)
    cy, cx = _yx("center_yx", center_yx)
    return cx + radius * (a * ux + b * wx), cy + radius * (a * uy + b * wy)


def apply_stretch(image, vmin, vmax, kind="linear") -> np.ndarray:
    """The image mapped to [0, 1] between ``vmin`` and ``vmax`` (clipped), NaN kept as NaN.

    Parameters
    ----------
    image : array_like
        Any shape.
    vmin, vmax : float
        Limits, vmin < vmax (see :func:`stretch_limits`).
    kind : {"linear", "asinh"}
        "asinh": astropy's ``AsinhStretch`` (a = 0.1) after the linear mapping, which brings out
        faint emission while keeping the bright peak.

    Returns
    -------
    numpy.ndarray
        float64, same shape as ``image``.
    """
    check.choice("kind", kind, ("linear", "asinh"))
    vmin = check.number("vmin", vmin)
    vmax = check.number("vmax", vmax)
    if not vmax > vmin:
        raise ValueError(f"vmax={vmax!r} must be greater than vmin={vmin!r}")
    with np.errstate(invalid="ignore"):
        scaled = np.clip((_floats("image", image) - vmin) / (vmax - vmin), 0.0, 1.0)
    if kind == "asinh":
        from astropy.visualization import AsinhStretch

        scaled = AsinhStretch(a=0.1)(scaled, clip=False)
    return scaled


def sky_offsets_arcsec(cube) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre offsets from the cube's reference position (its CRPIX / CRVAL), in arcsec.

    The offsets are the WCS's intermediate world coordinates: ``dx`` toward the east (so it
    decreases with the x index for the usual negative CDELT1), ``dy`` toward the north. The axes
    are taken as aligned with RA and Dec (the diagonal of the pixel scale matrix).

    Parameters
    ----------
    cube : Cube
        The cube; its header gives the WCS.

    Returns
    -------
    dx_arcsec : numpy.ndarray
        (n_x,) offsets of the columns.
    dy_arcsec : numpy.ndarray
        (n_y,) offsets of the rows.
    """
    wcs = check_cube("cube", cube).wcs.celestial
    scale = wcs.pixel_scale_matrix * 3600.0
    x0, y0 = wcs.wcs.crpix - 1.0
    ny, nx = cube.shape[1:]
    return scale[0, 0] * (np.arange(nx) - x0), scale[1, 1] * (np.arange(ny) - y0)


def reference_radec(cube) -> tuple[float, float]:
    """(RA, Dec) of the cube's reference pixel (CRVAL), in the cube's celestial frame.

    Parameters
    ----------
    cube : Cube
        The cube; its header gives the WCS.

    Returns
    -------
    (float, float)
        RA and Dec in degrees.
    """
    ra, dec = check_cube("cube", cube).wcs.celestial.wcs.crval
    return float(ra), float(dec)


def pixel_to_radec(cube, x, y):
    """(RA, Dec) of 0-based pixel positions, through ``cube.wcs.celestial``.

    Parameters
    ----------
    cube : Cube
        The cube; its header gives the WCS.
    x, y : float or array_like
        0-based pixel positions (column, row).

    Returns
    -------
    ra, dec : float or numpy.ndarray
        Degrees; floats for scalars, arrays for arrays.
    """
    ra, dec = check_cube("cube", cube).wcs.celestial.pixel_to_world_values(x, y)
    if np.ndim(ra) == 0:
        return float(ra), float(dec)
    return np.asarray(ra), np.asarray(dec)


def beam_ellipse(cube) -> dict:
    """The restoring beam, ready to draw.

    Parameters
    ----------
    cube : Cube
        The cube; its header gives the WCS.

    Returns
    -------
    dict
        ``bmaj_arcsec``, ``bmin_arcsec`` (FWHM), ``pa_deg`` (north through east) and
        ``angle_rad``: the major axis's angle from the display's +x axis, counterclockwise, on a
        display with north up and east to the left, i.e. ``radians(pa_deg + 90)``: PA 0 (north)
        gives pi / 2 and PA 90 (east) gives pi (the same line as 0: an ellipse is unchanged by a
        half turn). That is the angle for bokeh's ``ellipse`` glyph (screen angle) and for
        matplotlib's ``Ellipse`` on pixel axes. For a path drawn in data coordinates of a ΔRA axis
        that increases to the left (inverted), use ``pi - angle_rad``.
    """
    bmaj_px, bmin_px = check_cube("cube", cube).beam_fwhm_px
    pa = cube.beam_pa_deg
    return {"bmaj_arcsec": bmaj_px * cube.pixel_arcsec, "bmin_arcsec": bmin_px * cube.pixel_arcsec,
            "pa_deg": pa, "angle_rad": math.radians(pa + 90.0)}


def _kpc_per_arcsec(cube) -> float | None:
    """kpc per arcsec from the record's observation (pixel_kpc, else redshift); None if unknown."""
    obs = cube.record.get("observation", {}) if isinstance(cube.record, dict) else {}
    if obs.get("pixel_kpc"):
        return float(obs["pixel_kpc"]) / cube.pixel_arcsec
    if obs.get("redshift"):
        from astropy.cosmology import Planck18

        return float(Planck18.kpc_proper_per_arcmin(float(obs["redshift"])).value) / 60.0
    return None


def scale_bar(cube, fraction=0.2) -> tuple[float, str]:
    """A scale bar of a "nice" length (1, 2 or 5 x 10^k arcsec) at most ``fraction`` of the width.

    Parameters
    ----------
    cube : Cube
        The cube; its header gives the pixel size, its record the scale in kpc.
    fraction : float
        In (0, 1]: the bar's largest length as a fraction of the field's width.

    Returns
    -------
    length_arcsec : float
        Between ``fraction * width / 2.5`` and ``fraction * width``.
    label : str
        e.g. ``'2″'``, with the length in kpc when the record gives the scale
        (``pixel_kpc`` or ``redshift`` of its observation; Planck18 cosmology for a redshift).
    """
    check_cube("cube", cube)
    fraction = check.number("fraction", fraction, 0.0, 1.0, lo_open=True)
    dx, _ = sky_offsets_arcsec(cube)
    target = fraction * abs(dx[1] - dx[0]) * dx.size if dx.size > 1 else fraction * cube.pixel_arcsec
    power = 10.0 ** math.floor(math.log10(target))
    length = max(m * power for m in (1.0, 2.0, 5.0) if m * power <= target * (1 + 1e-9))
    label = f"{length:g}″"
    kpc = _kpc_per_arcsec(cube)
    if kpc is not None:
        label += f" ({length * kpc:.3g} kpc)"
    return length, label


def _record_axis(cube):
    """(center_yx, pa_deg) of the first Galaxy of a simulated cube's record, or None."""
    record = cube.record if isinstance(cube.record, dict) else {}
    galaxies = [c for c in record.get("components", []) if c.get("type") == "Galaxy"]
    obs = record.get("observation")
    if not galaxies or not obs:
        return None
    gal, px = galaxies[0], float(obs["pixel_kpc"])
    if "ra_deg" in obs:   # the field centre through the WCS: right after a crop too
        cx, cy = cube.wcs.celestial.world_to_pixel_values(obs["ra_deg"], obs["dec_deg"])
    else:
        cx = cy = obs["n_pix"] // 2
    dx, dy = (float(o) / px for o in gal["offset_kpc"])
    return (float(cy) + dy, float(cx) + dx), float(gal["pa_deg"]) % 360.0


def emission_mask(cube):
    """Boolean (v, y, x) voxels with emission, the default mask of the displays.

    A lazy cube gives a lazy mask, found block-wise with bounded memory and equal to the
    in-memory one (the flux of a region summed in another order aside): the smoothing per
    chunk with a halo of the kernel's reach, the noise level as :func:`galcube_lib.metrics.
    moment_mask` finds it, the regions labelled per chunk and joined across chunk faces. Finding
    the brightest region reads the cube twice, and each computation of the mask once more.

    Parameters
    ----------
    cube : Cube
        The cube, in memory or lazy.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        The truth above 5% of its peak when the cube has one, else the brightest connected
        region above 3 sigma of the data smoothed by the beam (isolated noise peaks, which
        would scatter a moment-1 map, are left out). Empty when nothing rises above 3 sigma.
        A dask array for a lazy cube.
    """
    if check_cube("cube", cube).clean is not None:
        return metrics.truth_mask(cube.clean)
    sigma_px = math.sqrt(np.prod(cube.beam_fwhm_px)) / FWHM_PER_SIGMA

    def smoothed(data):
        return ndimage.gaussian_filter(np.nan_to_num(data), (0.0, sigma_px, sigma_px))

    if cube.lazy:
        reach = int(4.0 * sigma_px + 0.5)   # gaussian_filter's truncate=4
        smooth = cube.data.map_overlap(smoothed, depth={0: 0, 1: reach, 2: reach},
                                       boundary="none", dtype=cube.data.dtype)
        return _brightest_region_blocks(metrics.moment_mask(smooth, 3.0), smooth)
    smooth = smoothed(cube.data)
    labels, n = ndimage.label(metrics.moment_mask(smooth, 3.0))
    if n == 0:
        return labels > 0
    flux = ndimage.sum(smooth, labels, index=np.arange(1, n + 1))
    return labels == 1 + int(np.argmax(flux))


def _block_regions(above, smooth):
    """One chunk's connected regions (ndimage.label): their number, flux and the labels on
    the chunk's first and last faces along each axis."""
    labels, n = ndimage.label(above)
    flux = np.bincount(labels.ravel(), smooth.ravel(), n + 1)[1:]
    faces = [(np.take(labels, 0, axis=a), np.take(labels, -1, axis=a)) for a in range(3)]
    return n, flux, faces


def _block_kept(above, keep, block_id=None):
    """The voxels of one chunk in the regions ``keep[block_id]`` (labels of ndimage.label)."""
    return np.isin(ndimage.label(above)[0], keep[tuple(block_id)])


def _brightest_region_blocks(above, smooth):
    """The connected region of the lazy mask ``above`` (face connectivity, as ndimage.label's
    default) with the largest sum of ``smooth``, as a lazy mask: regions are labelled per
    chunk, joined where they touch across a chunk face, and the chosen one's labels picked
    per chunk in a second pass."""
    import dask
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    grid = above.numblocks
    blocks = list(np.ndindex(*grid))
    parts = dask.compute(*[dask.delayed(_block_regions)(above.blocks[b], smooth.blocks[b])
                           for b in blocks])
    found = dict(zip(blocks, parts))
    offset, start = {}, 0
    for b in blocks:               # global id of a chunk's label k: offset[b] + k - 1
        offset[b], start = start, start + found[b][0]
    if start == 0:
        return above & False
    pairs = []
    for b in blocks:
        for axis in range(3):
            after = b[:axis] + (b[axis] + 1,) + b[axis + 1:]
            if after[axis] == grid[axis]:
                continue
            last, first = found[b][2][axis][1], found[after][2][axis][0]
            touch = (last > 0) & (first > 0)
            pairs.append(np.stack([offset[b] + last[touch] - 1, offset[after] + first[touch] - 1]))
    edges = np.concatenate(pairs, axis=1) if pairs else np.zeros((2, 0), int)
    graph = coo_matrix((np.ones(edges.shape[1]), (edges[0], edges[1])), shape=(start, start))
    _, region = connected_components(graph, directed=False)
    flux = np.bincount(region, np.concatenate([found[b][1] for b in blocks]))
    best = int(np.argmax(flux))
    keep = {b: 1 + np.flatnonzero(region[offset[b]:offset[b] + found[b][0]] == best)
            for b in blocks}
    return above.map_blocks(_block_kept, keep, dtype=bool)


def _inertia_pa(weights, y, x) -> float:
    """PA (deg, in [0, 180)) of the long axis of a weighted cloud of pixels."""
    w = weights / weights.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    cov = np.cov(np.stack([x - mx, y - my]), aweights=w, bias=True)
    ex, ey = np.linalg.eigh(cov)[1][:, -1]
    return math.degrees(math.atan2(-ex, ey)) % 180.0


def major_axis(cube, mask=None) -> tuple[tuple[float, float], float]:
    """Centre and position angle of a galaxy's major axis.

    A simulated cube: the first Galaxy of its record (its centre and ``pa_deg``, the receding
    side). A lazy cube otherwise: the field's centre and PA 0 (measuring would read the whole
    cube). Otherwise measured on the data: the centre is the moment-0 centroid; the PA is the
    kinematic one (:func:`galcube_lib.metrics.kinematic_pa` on moment 1, the receding side) when
    the velocity field changes by more than a channel across the source, else the long axis of
    the moment-0 map (in [0, 180): the receding side is unknown).

    Parameters
    ----------
    cube : Cube
        The cube.
    mask : bool array, optional
        (v, y, x) or (y, x) voxels to measure on; default :func:`emission_mask`.

    Returns
    -------
    center_yx : (float, float)
        0-based pixel position (y, x).
    pa_deg : float
        North through east, in [0, 360).
    """
    check_cube("cube", cube)
    found = _record_axis(cube)
    if found is not None:
        return found
    if cube.lazy:
        return ((cube.shape[1] - 1) / 2.0, (cube.shape[2] - 1) / 2.0), 0.0
    if mask is None:
        mask = emission_mask(cube)
    m0, m1, _ = metrics.moments(cube.data, cube.velocity_kms, mask)
    bright = np.isfinite(m0) & (m0 > 0.2 * np.nanmax(m0, initial=0.0))
    if not bright.any():
        raise ValueError("the cube has no positive emission in mask to find a major axis on")
    y, x = np.nonzero(bright)
    w = m0[bright]
    center = (float((w * y).sum() / w.sum()), float((w * x).sum() / w.sum()))
    moving = bright & np.isfinite(m1)
    if moving.sum() >= 3 and cube.shape[0] >= 3:
        pa = metrics.kinematic_pa(m1, moving)
        yy, xx = np.nonzero(moving)
        a, b = np.linalg.lstsq(np.stack([np.ones(xx.size), xx, yy], 1), m1[moving], rcond=None)[0][1:]
        extent = 2.0 * np.sqrt(moving.sum() / math.pi)   # diameter of a disk of that area
        if math.hypot(a, b) * extent > cube.channel_kms:
            return center, pa
    return center, _inertia_pa(w, y, x)


def pv_slice(data, center_yx, pa_deg, *, width_px=1.0, length_px=None, pixel_arcsec=1.0):
    """Position-velocity cut through a cube along a position angle.

    Parameters
    ----------
    data : (v, y, x) array, dask array or Cube
        The cube (a Cube's ``data``). A dask array (a lazy cube's) is read only in the box
        around the cut, a few channels at a time.
    center_yx : (float, float)
        0-based pixel position (y, x) of offset 0.
    pa_deg : float
        Direction of the cut, north (+y) through east (-x); positive offsets lie toward it (the
        receding side for a galaxy's kinematic PA).
    width_px : float
        Width of the cut (> 0): the mean of ``round(width_px)`` (at least 1) parallel cuts 1 px
        apart, NaN-aware.
    length_px : float, optional
        Full length (> 0); default: long enough to reach the image edge on both sides.
    pixel_arcsec : float
        Pixel size (> 0) for the offsets.

    Returns
    -------
    pv : numpy.ndarray
        (n_chan, n_offset), bilinear interpolation (``scipy.ndimage.map_coordinates``); NaN
        outside the image and next to NaN voxels.
    offsets_arcsec : numpy.ndarray
        (n_offset,) offsets 1 px apart, symmetric about 0.
    """
    arr = data.data if isinstance(data, Cube) else data
    if not lazy.is_lazy(arr):
        arr = np.asarray(arr, dtype=float)
    if arr.ndim != 3:
        raise ValueError(f"data must be a 3-D (v, y, x) array, got shape {arr.shape}")
    cy, cx = _yx("center_yx", center_yx)
    pa = math.radians(check.number("pa_deg", pa_deg))
    width_px = check.number("width_px", width_px, 0.0, lo_open=True)
    pixel_arcsec = check.number("pixel_arcsec", pixel_arcsec, 0.0, lo_open=True)
    n_chan, ny, nx = arr.shape
    (ux, uy), (wx, wy) = (-math.sin(pa), math.cos(pa)), (math.cos(pa), math.sin(pa))
    if length_px is None:
        half = math.hypot(max(cx, nx - 1 - cx), max(cy, ny - 1 - cy))
    else:
        half = check.number("length_px", length_px, 0.0, lo_open=True) / 2.0
    s = np.arange(-math.floor(half), math.floor(half) + 1.0)
    n_w = max(1, round(width_px))
    t = np.arange(n_w) - (n_w - 1) / 2.0
    x = cx + s[None, :] * ux + t[:, None] * wx
    y = cy + s[None, :] * uy + t[:, None] * wy
    # only the box the cut passes through is read (bilinear: one more pixel on each side)
    y0, y1 = (int(np.clip(f(y) + d, 0, ny)) for f, d in ((np.min, -1), (np.max, 3)))
    x0, x1 = (int(np.clip(f(x) + d, 0, nx)) for f, d in ((np.min, -1), (np.max, 3)))
    step = 16 if lazy.is_lazy(arr) else n_chan
    samples = np.full((n_chan, *x.shape), np.nan)
    for k0 in range(0, n_chan if y1 > y0 and x1 > x0 else 0, step):
        part = np.asarray(lazy.compute(arr[k0:k0 + step, y0:y1, x0:x1]), dtype=float)
        v = np.broadcast_to(np.arange(len(part), dtype=float)[:, None, None], (len(part), *x.shape))
        coords = np.stack([v, np.broadcast_to(y - y0, v.shape), np.broadcast_to(x - x0, v.shape)])
        samples[k0:k0 + step] = ndimage.map_coordinates(part, coords, order=1, mode="constant",
                                                        cval=np.nan)
    valid = np.isfinite(samples).sum(axis=1)
    with np.errstate(invalid="ignore"):
        pv = np.where(valid > 0, np.nansum(samples, axis=1) / np.maximum(valid, 1), np.nan)
    return pv, s * pixel_arcsec


def line_channels(cube, n=9, mask=None) -> np.ndarray:
    """``n`` channel indices spread evenly over the line, for a grid of channel maps.

    The line is the first to last channel with emission, in ``mask`` (default
    :func:`emission_mask`). A line narrower than ``n`` channels is widened about its centre;
    without any line all channels are spanned.

    Parameters
    ----------
    cube : Cube
        The cube.
    n : int
        Channels wanted (>= 1); fewer come back when the cube has fewer.
    mask : bool array, optional
        (v, y, x) emission mask.

    Returns
    -------
    numpy.ndarray
        Increasing int indices, ``min(n, n_chan)`` of them.
    """
    check_cube("cube", cube)
    n = check.integer("n", n, 1)
    n_chan = cube.shape[0]
    if mask is None:
        mask = emission_mask(cube)
    elif np.shape(mask) not in (cube.shape, cube.shape[1:]):
        raise ValueError(f"mask has shape {np.shape(mask)}; expected {cube.shape} (v, y, x) or "
                         f"{cube.shape[1:]} (y, x)")
    mask = np.broadcast_to(np.asarray(mask, bool), cube.shape)
    line = np.flatnonzero(mask.any(axis=(1, 2)))
    first, last = (line[0], line[-1]) if line.size else (0, n_chan - 1)
    k = min(n, n_chan)
    if last - first + 1 < k:
        first = int(np.clip((first + last + 1) // 2 - k // 2, 0, n_chan - k))
        last = first + k - 1
    return np.unique(np.linspace(first, last, k).round().astype(int))
