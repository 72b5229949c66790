"""Maps of (log n, log G0) from line-intensity maps: the posterior of every pixel, exactly, on a
fine grid of the parameters.

The forward model (an emulator or the grid's interpolation) is evaluated once on a grid of
``step`` dex spanning the model set; every pixel's likelihood on all of its points follows from
two matrix products, so a map costs about ``pixels x points x lines`` multiply-adds and no
sampling noise. The prior is flat in log n and log G0 over the model grid.

Likelihood: each line's intensity is Gaussian about ``Phi x model`` with the given uncertainty.
With ``fit_scale`` (default) the beam-filling factor Phi is free, with a prior flat in log Phi,
and is integrated out analytically (Laplace: the integrand is Gaussian in Phi); the fit then
uses the line ratios only, as pdrtpy's LineRatioFit does. Without it Phi = 1. A pixel's flags:

* ``multimodal``: the region holding 95 % of the posterior (highest density first, on the
  first pass's grid) has two or more separate parts, the smaller holding at least 5 %;
* ``at_edge``: a 16 % or 84 % quantile lies within half a model-grid step of the grid's edge
  (the posterior is cut by the grid: the interval is not the data's alone).
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from galcube_lib._util import checks

QUANTILES = (0.16, 0.5, 0.84)
#: points per side of the blocks in which the forward model is tabulated on a fine grid
TILE = 32
#: the HPD mass whose separate parts make a pixel multimodal, and the smallest part's mass
MODE_REGION, MODE_MASS = 0.95, 0.05


@dataclass
class ParameterMaps:
    """Posterior summaries per pixel (NaN where no line was usable).

    Attributes
    ----------
    parameters : tuple of str
        ("log_n", "log_G0").
    median, lower, upper : numpy.ndarray
        ``(2, ny, nx)``: the marginal median, 16 % and 84 % quantiles of each parameter.
    log_scale : numpy.ndarray
        ``(ny, nx)``: log10 of the best beam-filling factor at the posterior median (0 without
        ``fit_scale``).
    chi2 : numpy.ndarray
        ``(ny, nx)``: the smallest chi-square over the parameter grid.
    n_lines : numpy.ndarray
        ``(ny, nx)``: lines used at each pixel (finite intensity and positive uncertainty).
    multimodal, at_edge : numpy.ndarray
        ``(ny, nx)`` booleans (module docstring).
    """

    parameters: tuple
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    log_scale: np.ndarray
    chi2: np.ndarray
    n_lines: np.ndarray
    multimodal: np.ndarray
    at_edge: np.ndarray

    @property
    def good(self) -> np.ndarray:
        """Pixels with a fit whose posterior is unimodal and not cut by the grid's edge."""
        return np.isfinite(self.median[0]) & ~self.multimodal & ~self.at_edge

    def to_fits(self, path, header=None):
        """Write the maps as one FITS file, atomically: an image extension per map.

        Extensions ``LOG_N`` and ``LOG_G0`` (the median), ``LOG_N_P16``, ``LOG_N_P84``,
        ``LOG_G0_P16``, ``LOG_G0_P84``, ``LOG_SCALE``, ``CHI2``, ``N_LINES``, ``MULTIMODAL`` and
        ``AT_EDGE`` (0/1), each with the sky header.

        Parameters
        ----------
        path : str or os.PathLike
            The file.
        header : astropy.io.fits.Header, optional
            The maps' celestial header (``line_maps.common_grid`` gives it).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        from astropy.io import fits

        from galcube_lib.io.files import as_path, atomic_path

        path = as_path("path", path)
        maps = {"LOG_N": self.median[0], "LOG_G0": self.median[1], "LOG_N_P16": self.lower[0],
                "LOG_N_P84": self.upper[0], "LOG_G0_P16": self.lower[1], "LOG_G0_P84": self.upper[1],
                "LOG_SCALE": self.log_scale, "CHI2": self.chi2, "N_LINES": self.n_lines,
                "MULTIMODAL": self.multimodal, "AT_EDGE": self.at_edge}
        hdus = [fits.PrimaryHDU()]
        for name, image in maps.items():
            data = image.astype(np.uint8) if image.dtype == bool else np.asarray(image, dtype=np.float32)
            hdus.append(fits.ImageHDU(data, header=None if header is None else header.copy(), name=name))
        with atomic_path(path) as tmp:
            fits.HDUList(hdus).writeto(tmp, output_verify="silentfix")
        return path


class ParameterGrid:
    """The forward model tabulated on grids of the parameters, evaluated once.

    A pixel's posterior is found in two passes: on a grid of ``coarse_step`` over the whole
    model grid (its support, and the ``multimodal`` flag), then on a window of ``window`` x
    ``window`` points around that support, at the finest step of ``finest`` x 2^k that covers
    it. Outside the window the coarse posterior is below 1e-6 of its peak.

    Parameters
    ----------
    forward : callable
        ``log_parameters (n, 2) -> log10 intensities (n, n_lines)`` in erg s^-1 cm^-2 sr^-1
        (an emulator, or :class:`galcube_lib.pdr.grids.GridInterpolator`).
    bounds : array_like, optional
        ``(2, 2)``: the lowest and highest value of log n and log G0 (the model grid's);
        default the forward model's ``bounds``.
    node_step : float
        The model grid's own spacing in dex (for the ``at_edge`` flag).
    coarse_step : float
        Spacing of the first pass, dex, 0.02-0.25.
    finest : float
        The finest spacing of the second pass, dex, 0.001-0.05.
    window : int
        Points per axis of the second pass, 16-256.
    """

    def __init__(self, forward, bounds=None, node_step: float = 0.125, coarse_step: float = 0.1,
                 finest: float = 0.01, window: int = 48):
        self.forward = forward
        if bounds is None and not hasattr(forward, "bounds"):
            raise ValueError("give bounds=[[log n low, high], [log G0 low, high]]: the forward model has none")
        self.bounds = np.asarray(forward.bounds if bounds is None else bounds, dtype=float)
        if self.bounds.shape != (2, 2) or not np.all(self.bounds[:, 1] > self.bounds[:, 0]):
            raise ValueError(f"bounds must be [[log n low, high], [log G0 low, high]], got {bounds!r}")
        self.node_step = checks.number("node_step", node_step, 0, lo_open=True)
        self.coarse_step = checks.number("coarse_step", coarse_step, 0.02, 0.25)
        self.finest = checks.number("finest", finest, 0.001, 0.05)
        self.window = checks.integer("window", window, 16, 256)
        self._tables = {}
        self._lock = threading.Lock()

    def axes(self, step: float) -> tuple:
        """The log n and log G0 values of the grid of ``step`` dex from the lower bounds.

        Parameters
        ----------
        step : float
            The spacing in dex.

        Returns
        -------
        tuple of numpy.ndarray
            The two axes.
        """
        return tuple(lo + step * np.arange(int(np.floor((hi - lo) / step + 1e-9)) + 1) for lo, hi in self.bounds)

    def table(self, step: float) -> tuple:
        """The forward model on the whole grid of ``step`` dex (computed once, then cached).

        Parameters
        ----------
        step : float
            The grid's spacing in dex, from the lower bounds.

        Returns
        -------
        tuple
            ``(axes, model)``: the log n and log G0 values, and the intensities
            ``(len(axes[0]), len(axes[1]), n_lines)`` in erg s^-1 cm^-2 sr^-1.
        """
        axes = self.axes(step)
        corner = np.zeros((1, 2), int)
        return axes, self.windows(step, corner, tuple(map(len, axes))).reshape(*map(len, axes), -1)

    def windows(self, step: float, origin: np.ndarray, size: tuple) -> np.ndarray:
        """The forward model on windows of the grid of ``step`` dex. Only the tiles of
        ``TILE`` x ``TILE`` points that some window touches are ever computed (a fine grid over
        the whole model grid would cost the forward model millions of evaluations).

        Parameters
        ----------
        step : float
            The grid's spacing in dex.
        origin : numpy.ndarray
            ``(n, 2)`` first indices of each window.
        size : tuple of int
            The windows' shape.

        Returns
        -------
        numpy.ndarray
            ``(n, size[0] * size[1], n_lines)`` intensities in erg s^-1 cm^-2 sr^-1.
        """
        with self._lock:
            if step not in self._tables:
                axes = self.axes(step)
                tiles = tuple(-(-len(a) // TILE) for a in axes)
                self._tables[step] = axes, {}, np.zeros(tiles, bool)
            axes, model, done = self._tables[step]
            first, last = origin // TILE, (origin + np.array(size) - 1) // TILE
            needed = np.zeros_like(done)
            for (i0, j0), (i1, j1) in zip(first, last):
                needed[i0:i1 + 1, j0:j1 + 1] = True
            todo = np.argwhere(needed & ~done)
            if len(todo):
                blocks = [np.stack(np.meshgrid(axes[0][i * TILE:(i + 1) * TILE], axes[1][j * TILE:(j + 1) * TILE],
                                               indexing="ij"), -1) for i, j in todo]
                values = 10.0 ** np.asarray(self.forward(np.concatenate([b.reshape(-1, 2) for b in blocks])), dtype=float)
                if "array" not in model:
                    model["array"] = np.full((*map(len, axes), values.shape[1]), np.nan)
                offset = 0
                for (i, j), block in zip(todo, blocks):
                    count = block.shape[0] * block.shape[1]
                    model["array"][i * TILE:i * TILE + block.shape[0], j * TILE:j * TILE + block.shape[1]] = \
                        values[offset:offset + count].reshape(*block.shape[:2], -1)
                    offset += count
                done |= needed
            array = model["array"]
        ii = origin[:, 0, None, None] + np.arange(size[0])[None, :, None]
        jj = origin[:, 1, None, None] + np.arange(size[1])[None, None, :]
        return array[ii, jj].reshape(len(origin), size[0] * size[1], -1)


def parameter_maps(intensity, uncertainty, grid: ParameterGrid, *, fit_scale: bool = True,
                   chunk: int = 256, progress: bool = True) -> ParameterMaps:
    """The posterior of (log n, log G0) at every pixel of a stack of line maps.

    Parameters
    ----------
    intensity, uncertainty : array_like
        ``(n_lines, ny, nx)`` (or ``(n_lines, n_pixels)``) in erg s^-1 cm^-2 sr^-1, on one sky
        grid, lines in the order of ``grid``'s forward model. NaN intensities and non-positive or
        NaN uncertainties leave that line out at that pixel; negative intensities are kept
        (they are noise about a faint line).
    grid : ParameterGrid
        The forward model and its parameter grids.
    fit_scale : bool
        Integrate out a free beam-filling factor (fit the ratios only); False fits the absolute
        intensities.
    chunk : int
        Pixels per pass (memory: about ``chunk x window^2 x n_lines x 8`` bytes).
    progress : bool
        Show a progress bar.

    Returns
    -------
    ParameterMaps
        Quantiles, flags and diagnostics; pixels with fewer usable lines than fitted
        parameters (3 with the scale, 2 without) are NaN.
    """
    from tqdm.auto import tqdm

    intensity = np.asarray(intensity, dtype=float)
    uncertainty = np.asarray(uncertainty, dtype=float)
    axes, coarse_model = grid.table(grid.coarse_step)
    n_lines = coarse_model.shape[-1]
    if intensity.shape != uncertainty.shape:
        raise ValueError(f"intensity {intensity.shape} and uncertainty {uncertainty.shape} must have one shape")
    if intensity.ndim not in (2, 3) or intensity.shape[0] != n_lines:
        raise ValueError(f"intensity must be (n_lines={n_lines}, ny, nx) or (n_lines, n_pixels), "
                         f"got shape {intensity.shape}")
    fit_scale = checks.boolean("fit_scale", fit_scale)
    chunk = checks.integer("chunk", chunk, 1)
    sky = intensity.shape[1:]
    flat_i = intensity.reshape(n_lines, -1).T
    flat_s = uncertainty.reshape(n_lines, -1).T
    usable = np.isfinite(flat_i) & np.isfinite(flat_s) & (flat_s > 0)
    weight = np.where(usable, 1.0 / np.where(usable, flat_s, 1.0) ** 2, 0.0)
    data = np.where(usable, flat_i, 0.0)
    fitted = usable.sum(1) >= 2 + fit_scale
    n_pix = flat_i.shape[0]
    result = {key: np.full((2, n_pix), np.nan) for key in ("lower", "median", "upper")}
    log_scale, chi2 = np.full(n_pix, np.nan), np.full(n_pix, np.nan)
    multimodal = np.zeros(n_pix, bool)
    index = np.flatnonzero(fitted)

    def fit(rows):     # writes the rows' results (threads share the arrays, never a row)
        post, _ = _posterior(coarse_model.reshape(-1, n_lines), weight[rows], data[rows], fit_scale)
        ok = np.isfinite(post).all(1)
        rows, post = rows[ok], post[ok].reshape(-1, *coarse_model.shape[:2])
        multimodal[rows] = _multimodal(post)
        for step, members, origin, size in _windows(post, grid):
            sub = rows[members]
            fine_axes = grid.axes(step)
            model = grid.windows(step, origin, size)
            fine, scale = _posterior(model, weight[sub], data[sub], fit_scale)
            fine = fine.reshape(len(sub), *size)
            for axis in range(2):
                marginal = fine.sum(axis=2 - axis)
                for key, q in zip(("lower", "median", "upper"), QUANTILES):
                    position = _quantile_index(marginal, q)
                    result[key][axis, sub] = fine_axes[axis][0] + step * (origin[:, axis] + position)
            best = np.argmax(fine.reshape(len(sub), -1), 1)
            phi = 10.0 ** scale[np.arange(len(sub)), best]
            resid = (data[sub] - phi[:, None] * model[np.arange(len(sub)), best]) * np.sqrt(weight[sub])
            chi2[sub] = (resid ** 2).sum(1)
            log_scale[sub] = np.log10(phi)

    chunks = [index[start:start + chunk] for start in range(0, len(index), chunk)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:   # numpy releases the GIL
        for done in tqdm(as_completed([pool.submit(fit, rows) for rows in chunks]), total=len(chunks),
                         disable=not progress, desc="posterior maps", unit="chunk"):
            done.result()
    at_edge = np.zeros(n_pix, bool)
    half = 0.5 * grid.node_step
    for axis, (lo, hi) in enumerate(grid.bounds):
        at_edge |= (result["lower"][axis] < lo + half) | (result["upper"][axis] > hi - half)
    return ParameterMaps(("log_n", "log_G0"), *(result[k].reshape(2, *sky) for k in ("median", "lower", "upper")),
                         log_scale.reshape(sky), chi2.reshape(sky), usable.sum(1).reshape(sky),
                         multimodal.reshape(sky), at_edge.reshape(sky))


def pixel_posterior(intensity, uncertainty, grid: ParameterGrid, *, fit_scale: bool = True,
                    step: float = 0.025) -> dict:
    """One pixel's posterior over the whole model grid, and its best-fitting line intensities.

    Parameters
    ----------
    intensity, uncertainty : array_like
        ``(n_lines,)`` in erg s^-1 cm^-2 sr^-1 (NaN or non-positive uncertainty: line unused).
    grid : ParameterGrid
        The forward model.
    fit_scale : bool
        As in :func:`parameter_maps`.
    step : float
        The grid's spacing in dex, 0.005-0.25.

    Returns
    -------
    dict
        ``axes`` (log n and log G0 values), ``posterior`` (``(len(axes[0]), len(axes[1]))``,
        summing to 1), ``best`` (log n, log G0 at the posterior's peak) and ``model`` (the
        line intensities there, times the best scale).
    """
    step = checks.number("step", step, 0.005, 0.25)
    intensity = np.asarray(intensity, dtype=float).reshape(1, -1)
    uncertainty = np.asarray(uncertainty, dtype=float).reshape(1, -1)
    axes, model = grid.table(step)
    if intensity.shape[1] != model.shape[-1] or uncertainty.shape != intensity.shape:
        raise ValueError(f"intensity and uncertainty must each hold {model.shape[-1]} lines, got "
                         f"{intensity.shape[1]} and {uncertainty.shape[1]}")
    usable = np.isfinite(intensity) & np.isfinite(uncertainty) & (uncertainty > 0)
    weight = np.where(usable, 1.0 / np.where(usable, uncertainty, 1.0) ** 2, 0.0)
    flat = model.reshape(-1, model.shape[-1])
    post, scale = _posterior(flat, weight, np.where(usable, intensity, 0.0), checks.boolean("fit_scale", fit_scale))
    peak = int(np.argmax(post[0]))
    i, j = np.unravel_index(peak, model.shape[:2])
    return {"axes": axes, "posterior": post[0].reshape(model.shape[:2]), "best": (axes[0][i], axes[1][j]),
            "model": flat[peak] * 10.0 ** scale[0, peak]}


def _posterior(model, weight, data, fit_scale):
    """Normalised posterior ``(pixels, points)`` and the best log10 scale at each point.

    ``model`` is ``(points, lines)`` for all pixels or ``(pixels, points, lines)``; weights
    are 1/sigma^2 (0 for an unusable line)."""
    def total(w, m):            # sum over lines of w m, for every pixel and point
        return w @ m.T if m.ndim == 2 else np.matmul(m, w[:, :, None])[..., 0]

    a = total(weight, model ** 2)                                # sum m^2 / s^2
    b = total(weight * data, model)                              # sum m d / s^2
    c = (weight * data ** 2).sum(1, keepdims=True)               # sum d^2 / s^2
    if fit_scale:
        positive = b > 0          # else no positive beam filling fits: no posterior mass there
        b = np.where(positive, b, 1.0)
        # Laplace over Phi with a prior flat in log Phi: N(b/a, 1/a) at Phi_hat = b/a, times 1/Phi_hat
        log_like = np.where(positive, -0.5 * (c - b * b / a) + 0.5 * np.log(a) - np.log(b), -np.inf)
        scale = np.log10(b / a)
    else:
        log_like, scale = -0.5 * (c - 2 * b + a), np.zeros_like(a)
    post = np.exp(log_like - log_like.max(1, keepdims=True))
    return post / post.sum(1, keepdims=True), scale


def _windows(post: np.ndarray, grid: ParameterGrid):
    """Group pixels by the fine step whose window covers their coarse support: yields
    ``(step, members, origin, size)``, origin the window's first index on that step's grid.
    A support wider than the coarsest window that fits in the model grid keeps the coarse
    grid, whole."""
    support = post > 1e-6 * post.max((1, 2), keepdims=True)
    lo = np.stack([np.argmax(support.any(2 - k), 1) for k in range(2)], 1) - 1
    hi = np.stack([support.shape[1 + k] - np.argmax(support.any(2 - k)[:, ::-1], 1) for k in range(2)], 1)
    extent = (hi - lo) * grid.coarse_step                    # dex, padded by one cell each side
    span = (grid.bounds[:, 1] - grid.bounds[:, 0]).min()
    top = int(np.floor(np.log2(span / ((grid.window - 1) * grid.finest))))
    level = np.ceil(np.log2(np.maximum(extent.max(1) / ((grid.window - 1) * grid.finest), 1.0))).astype(int)
    for k in np.unique(level):
        members = np.flatnonzero(level == k)
        if k > top:
            axes = grid.axes(grid.coarse_step)
            yield grid.coarse_step, members, np.zeros((len(members), 2), int), tuple(map(len, axes))
            continue
        step = grid.finest * 2.0 ** k
        axes = grid.axes(step)
        centre = grid.bounds[:, 0] + 0.5 * (lo[members] + hi[members]) * grid.coarse_step
        origin = np.round((centre - grid.bounds[:, 0]) / step).astype(int) - grid.window // 2
        limit = np.array([len(a) for a in axes]) - grid.window
        yield step, members, np.clip(origin, 0, limit), (grid.window, grid.window)


def _quantile_index(marginal: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` of each row's discrete marginal as a fractional index, each point the
    centre of its cell."""
    cdf = np.cumsum(marginal, 1)
    k = np.minimum((cdf < q).sum(1), marginal.shape[1] - 1)
    rows = np.arange(len(k))
    below = np.where(k > 0, cdf[rows, np.maximum(k - 1, 0)], 0.0)
    inside = marginal[rows, k]
    return k - 0.5 + np.clip((q - below) / np.where(inside > 0, inside, 1.0), 0, 1)


def _multimodal(post: np.ndarray) -> np.ndarray:
    """Whether each pixel's 95 % HPD region on the coarse grid ``(pixels, n_a, n_b)`` has two
    or more parts, the smaller holding at least 5 % of the posterior (all pixels at once: the
    parts are labelled in 3-D with no connection between pixels)."""
    peaks = (post == ndimage.maximum_filter(post, size=(1, 3, 3))) & (post > MODE_MASS * post.max((1, 2), keepdims=True))
    flags = np.zeros(len(post), bool)
    candidates = np.flatnonzero(peaks.sum((1, 2)) >= 2)
    if not len(candidates):
        return flags
    part = post[candidates]
    ranked = -np.sort(-part.reshape(len(part), -1), 1)
    cut = np.minimum((np.cumsum(ranked, 1) < MODE_REGION).sum(1), ranked.shape[1] - 1)
    region = part >= ranked[np.arange(len(part)), cut][:, None, None]
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    labels, n = ndimage.label(region, structure)
    index = np.arange(1, n + 1)
    mass = ndimage.sum(part, labels, index)
    owner = ndimage.minimum(np.broadcast_to(np.arange(len(part))[:, None, None], part.shape), labels, index).astype(int)
    order = np.lexsort((-mass, owner))                      # by pixel, largest part first
    owner, mass = owner[order], mass[order]
    first = np.searchsorted(owner, np.arange(len(part)))
    has_two = np.bincount(owner, minlength=len(part)) >= 2
    second = np.where(has_two, mass[np.minimum(first + 1, len(mass) - 1)], 0.0)
    flags[candidates] = second >= MODE_MASS
    return flags
