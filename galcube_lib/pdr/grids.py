"""PDR model grids from the PDR Toolbox (``pdrtpy``, the ``[pdr]`` extra), read at run time.

A :class:`ModelGrid` holds the log10 line intensities of one model set on its nodes: axes
``log_n`` (hydrogen nucleus density, cm^-3) and ``log_G0`` (FUV field in Habing units,
1.6e-3 erg s^-1 cm^-2), intensities in erg s^-1 cm^-2 sr^-1 (docs/conventions.md, PDR models).
The Wolfire-Kaufman 2020 grid ships no FIR intensity; it is derived from the shipped
[CII]/FIR ratio grid as I([CII]) / ([CII]/FIR), node by node.
"""
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from galcube_lib._util import checks

#: the FUV flux of one Habing unit, erg s^-1 cm^-2
HABING_ERG_S_CM2 = 1.6e-3
PARAMETERS = ("log_n", "log_G0")
PARAMETER_UNITS = {"log_n": "cm^-3", "log_G0": "Habing (1.6e-3 erg s^-1 cm^-2)"}
INTENSITY_UNIT = "erg / (s sr cm2)"
#: model sets this module reads (pdrtpy's names) and the metallicity each is read at
MODEL_SETS = ("wk2020", "wk2006")


@dataclass(frozen=True)
class ModelGrid:
    """Log10 line intensities of a PDR model set on its regular grid of (log n, log G0).

    Attributes
    ----------
    name : str
        The model set (pdrtpy's name).
    axes : tuple of numpy.ndarray
        The node values of ``log_n`` and ``log_G0``, increasing.
    lines : tuple of str
        pdrtpy's identifiers of the lines (e.g. "CII_158", "CO_10", "FIR").
    log_intensity : numpy.ndarray
        Shape ``(len(axes[0]), len(axes[1]), len(lines))``, log10 erg s^-1 cm^-2 sr^-1.
    """

    name: str
    axes: tuple
    lines: tuple
    log_intensity: np.ndarray

    @property
    def bounds(self) -> np.ndarray:
        """``(n_parameters, 2)``: the lowest and highest node of each axis."""
        return np.array([[a[0], a[-1]] for a in self.axes])

    def nodes(self) -> np.ndarray:
        """Every node's parameters.

        Returns
        -------
        numpy.ndarray
            ``(n_nodes, 2)`` (log n, log G0), in the order of ``log_intensity`` reshaped to
            ``(n_nodes, n_lines)``.
        """
        return np.stack(np.meshgrid(*self.axes, indexing="ij"), -1).reshape(-1, len(self.axes))

    def select(self, lines) -> "ModelGrid":
        """The same grid with only some lines.

        Parameters
        ----------
        lines : sequence of str
            The lines, in the order wanted.

        Returns
        -------
        ModelGrid
            The grid of those lines (an unknown line is a ValueError naming the known ones).
        """
        lines = tuple(lines)
        unknown = [line for line in lines if line not in self.lines]
        if unknown:
            raise ValueError(f"lines {unknown} are not in model set {self.name!r}; it has "
                             f"{', '.join(self.lines)}")
        index = [self.lines.index(line) for line in lines]
        return ModelGrid(self.name, self.axes, lines, self.log_intensity[..., index])


def load_grid(model_set: str = "wk2020") -> ModelGrid:
    """Read a Wolfire-Kaufman model set's line intensities from the installed pdrtpy.

    Parameters
    ----------
    model_set : str
        "wk2020" (Wolfire-Kaufman 2020, solar metallicity, 0.125 dex nodes) or "wk2006"
        (Kaufman et al. 2006, 0.25 dex nodes).

    Returns
    -------
    ModelGrid
        Every intensity the set provides on its main grid, FIR included (not the surface
        temperature, nor a line on a grid of its own such as WK2020's [FeII] 26 um).
    """
    model_set = checks.choice("model_set", model_set, MODEL_SETS)
    import warnings

    from pdrtpy.modelset import ModelSet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # pdrtpy's unit and FITS-card chatter
        models = ModelSet(model_set, z=1)
        labels = [str(x) for x in models.supported_intensities["intensity label"] if str(x) != "TS"]
        images = {label: models.get_model(label) for label in labels}
        first = images["CII_158"]
        wcs = first.wcs.wcs
        images = {label: im.data for label, im in images.items() if _same_nodes(im.wcs.wcs, im.shape, wcs, first.shape)}
        if "FIR" not in images:
            images["FIR"] = images["CII_158"] / models.get_model("CII_158/FIR").data
    if tuple(str(t) for t in wcs.ctype) not in (("log(n)", "log(FUV)"), ("log(n)", "log(G0)")):
        raise ValueError(f"model set {model_set!r} has axes {tuple(wcs.ctype)}, not (log n, log G0)")
    n_G0, n_n = first.shape
    log_n = wcs.crval[0] + wcs.cdelt[0] * (np.arange(n_n) + 1 - wcs.crpix[0])
    log_G0 = wcs.crval[1] + wcs.cdelt[1] * (np.arange(n_G0) + 1 - wcs.crpix[1])
    if str(wcs.ctype[1]) == "log(FUV)":
        log_G0 = log_G0 - np.log10(HABING_ERG_S_CM2)
    cube = np.stack([np.asarray(im, dtype=float) for im in images.values()], -1)
    if not np.all(np.isfinite(cube) & (cube > 0)):
        raise ValueError(f"model set {model_set!r} has non-positive or non-finite intensities")
    return ModelGrid(model_set, (np.round(log_n, 6), np.round(log_G0, 6)), tuple(images),
                     np.log10(cube).transpose(1, 0, 2))


def _same_nodes(wcs, shape, reference, reference_shape) -> bool:
    """Whether a model image lies on the reference image's nodes (WK2020's [FeII] 26 um does
    not: it has its own coarser grid, and is left out)."""
    return (shape == reference_shape and np.allclose(wcs.crval, reference.crval)
            and np.allclose(wcs.cdelt, reference.cdelt) and np.allclose(wcs.crpix, reference.crpix))


class GridInterpolator:
    """The grid's own interpolation (as pdrtpy's fits use it): log intensities interpolated
    in (log n, log G0) by :class:`scipy.interpolate.RegularGridInterpolator`.

    Parameters
    ----------
    grid : ModelGrid
        The model grid.
    method : str
        "linear" (pdrtpy's choice) or "cubic".
    """

    def __init__(self, grid: ModelGrid, method: str = "linear"):
        self.grid = grid
        self.method = checks.choice("method", method, ("linear", "cubic"))
        self._interpolate = RegularGridInterpolator(grid.axes, grid.log_intensity, method=self.method)
        self.lines, self.bounds = grid.lines, grid.bounds

    def __call__(self, log_parameters) -> np.ndarray:
        """Log10 intensities ``(n, n_lines)`` at ``log_parameters`` ``(n, 2)`` inside the grid."""
        return self._interpolate(np.asarray(log_parameters, dtype=float))


def every_other_node(grid: ModelGrid) -> tuple:
    """Split the nodes for a held-out test: the grid of every other node in each axis (even
    indices) and the nodes between them (any odd index), with their intensities.

    Parameters
    ----------
    grid : ModelGrid
        The full grid.

    Returns
    -------
    tuple
        ``(coarse grid, held-out parameters (n, 2), held-out log intensities (n, n_lines))``;
        held-out nodes outside the coarse grid's span (past its last even node) are left out.
    """
    coarse = ModelGrid(grid.name, tuple(a[::2] for a in grid.axes), grid.lines,
                       grid.log_intensity[::2, ::2])
    i, j = np.meshgrid(*(np.arange(len(a)) for a in grid.axes), indexing="ij")
    inside = (i <= 2 * (len(coarse.axes[0]) - 1)) & (j <= 2 * (len(coarse.axes[1]) - 1))
    held = ((i % 2 == 1) | (j % 2 == 1)) & inside
    return coarse, grid.nodes()[held.ravel()], grid.log_intensity[held]
