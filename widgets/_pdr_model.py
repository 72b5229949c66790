"""The state of the PdrExplorer: a fitted set of line maps and the pixel being looked at (plain
Python, no widgets)."""
from __future__ import annotations

import numpy as np

from galcube_lib.pdr.posterior import pixel_posterior

PARAMETERS = {"log_n": "log n [cm^-3]", "log_G0": "log G0 [Habing]"}


class PdrModel:
    """Line maps, their fitted (log n, log G0) maps and one chosen pixel's posterior.

    Parameters
    ----------
    lines : sequence of str
        The lines, in the order of the maps.
    intensity, uncertainty : numpy.ndarray
        ``(n_lines, ny, nx)`` in erg s^-1 cm^-2 sr^-1.
    result : ParameterMaps
        ``galcube_lib.pdr.posterior.parameter_maps`` of these maps.
    grid : ParameterGrid
        The forward model the maps were fitted with.
    fit_scale : bool
        Whether the fit integrated out a beam-filling factor.

    Raises
    ------
    ValueError
        Maps and lines that do not match, or maps of another shape than the result.
    """

    def __init__(self, lines, intensity, uncertainty, result, grid, fit_scale: bool = True):
        intensity, uncertainty = np.asarray(intensity, float), np.asarray(uncertainty, float)
        if intensity.shape != uncertainty.shape or intensity.shape[0] != len(lines) \
                or intensity.shape[1:] != result.median.shape[1:]:
            raise ValueError(f"intensity and uncertainty must be ({len(lines)} lines, "
                             f"{result.median.shape[1]}, {result.median.shape[2]}), got "
                             f"{intensity.shape} and {uncertainty.shape}")
        self.lines, self.intensity, self.uncertainty = list(lines), intensity, uncertainty
        self.result, self.grid, self.fit_scale = result, grid, fit_scale
        self.parameter = "log_n"
        good = np.argwhere(result.good)
        self.pixel = tuple(int(v) for v in (good[len(good) // 2] if len(good) else (0, 0)))

    def select(self, pixel=None, parameter: str | None = None) -> None:
        """Choose the pixel ``(y, x)`` (clipped to the map) and the parameter whose map is shown."""
        if pixel is not None:
            ny, nx = self.result.median.shape[1:]
            self.pixel = (int(np.clip(pixel[0], 0, ny - 1)), int(np.clip(pixel[1], 0, nx - 1)))
        if parameter is not None:
            if parameter not in PARAMETERS:
                raise ValueError(f"parameter must be one of {list(PARAMETERS)}, got {parameter!r}")
            self.parameter = parameter

    def parameter_map(self) -> np.ndarray:
        """The shown parameter's median map (NaN where not fitted)."""
        return self.result.median[list(PARAMETERS).index(self.parameter)]

    def pixel_summary(self) -> dict:
        """The chosen pixel: its quantiles and flags, its posterior on the model grid, and each
        line's observed intensity, uncertainty and best-fitting model intensity."""
        y, x = self.pixel
        r = self.result
        summary = {"pixel": self.pixel, "flags": {"multimodal": bool(r.multimodal[y, x]), "at_edge": bool(r.at_edge[y, x])},
                   "quantiles": {name: tuple(float(a[k, y, x]) for a in (r.lower, r.median, r.upper))
                                 for k, name in enumerate(PARAMETERS)},
                   "observed": self.intensity[:, y, x], "sigma": self.uncertainty[:, y, x]}
        if r.n_lines[y, x] < 2 + self.fit_scale:
            return {**summary, "posterior": None, "model": np.full(len(self.lines), np.nan)}
        post = pixel_posterior(self.intensity[:, y, x], self.uncertainty[:, y, x], self.grid, fit_scale=self.fit_scale)
        return {**summary, **post}
