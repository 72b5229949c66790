"""PdrExplorer: click a pixel of the (log n, log G0) maps and see its posterior and its observed
and best-fitting model line intensities."""
from __future__ import annotations

import html

import ipywidgets as w
import numpy as np
from jupyter_bokeh import BokehModel

from .viewer import load_bokehjs
from ._pdr_model import PARAMETERS, PdrModel


class PdrExplorer:
    """The fitted maps of a set of line maps, one pixel's posterior and its lines.

    Parameters
    ----------
    lines : sequence of str
        The lines, in the order of the maps.
    intensity, uncertainty : numpy.ndarray
        ``(n_lines, ny, nx)`` in erg s^-1 cm^-2 sr^-1.
    result : ParameterMaps
        ``galcube_lib.pdr.posterior.parameter_maps`` of these maps.
    grid : ParameterGrid
        The forward model of the fit.
    fit_scale : bool
        Whether the fit integrated out a beam-filling factor.

    Attributes
    ----------
    model : PdrModel
        The state.
    widget : ipywidgets.VBox
        The root widget: the parameter choice, the pixel's figures as text, and three bokeh
        figures in a ``jupyter_bokeh.BokehModel`` (the map, which a click on a pixel selects;
        the pixel's posterior; its lines).
    """

    def __init__(self, lines, intensity, uncertainty, result, grid, fit_scale: bool = True):
        self.model = PdrModel(lines, intensity, uncertainty, result, grid, fit_scale)
        self.parameter = w.ToggleButtons(options=[(label, key) for key, label in PARAMETERS.items()],
                                         value=self.model.parameter)
        self.info = w.HTML()
        self.figures = w.Box()
        self.figures.add_class("gc-pdr-explorer")
        self.parameter.observe(lambda change: self.select(parameter=change["new"]), names="value")
        self._build()
        self.widget = w.VBox([self.parameter, self.info, self.figures])
        self._update()

    def select(self, pixel=None, parameter: str | None = None) -> None:
        """Show pixel ``(y, x)`` and/or the map of ``parameter`` ("log_n" or "log_G0").

        Parameters
        ----------
        pixel : tuple of int, optional
            ``(y, x)``.
        parameter : str, optional
            The map to show.
        """
        self.model.select(pixel=pixel, parameter=parameter)
        self._update()

    def _build(self) -> None:
        from bokeh.events import Tap
        from bokeh.layouts import row
        from bokeh.models import ColorBar, ColumnDataSource, FactorRange, LinearColorMapper, Whisker
        from bokeh.plotting import figure

        ny, nx = self.model.result.median.shape[1:]
        self._map_colors = LinearColorMapper(palette="Viridis256")
        self._map = ColumnDataSource({"image": [self.model.parameter_map()]})
        self._marker = ColumnDataSource({"x": [0.0], "y": [0.0]})
        sky = figure(width=330, height=300, x_range=(0, nx), y_range=(0, ny), tools="tap,pan,wheel_zoom,reset",
                     title="click a pixel", x_axis_label="x [px]", y_axis_label="y [px]")
        sky.image("image", x=0, y=0, dw=nx, dh=ny, color_mapper=self._map_colors, source=self._map)
        sky.scatter("x", "y", source=self._marker, marker="square", size=10, fill_alpha=0, line_color="red", line_width=2)
        sky.add_layout(ColorBar(color_mapper=self._map_colors, width=8), "right")
        sky.on_event(Tap, lambda event: self.select(pixel=(int(event.y), int(event.x))))
        (n_lo, n_hi), (g_lo, g_hi) = self.model.grid.bounds
        self._post = ColumnDataSource({"image": [np.zeros((2, 2))]})
        self._posterior_figure = posterior = figure(width=300, height=300, x_range=(n_lo, n_hi), y_range=(g_lo, g_hi), tools="pan,wheel_zoom,reset",
                           title="posterior", x_axis_label=PARAMETERS["log_n"], y_axis_label=PARAMETERS["log_G0"])
        posterior.image("image", x=n_lo, y=g_lo, dw=n_hi - n_lo, dh=g_hi - g_lo, palette="Magma256", source=self._post)
        self._lines = ColumnDataSource({"line": [], "observed": [], "low": [], "high": [], "model": []})
        spectrum = figure(width=320, height=300, x_range=FactorRange(*self.model.lines), y_axis_type="log",
                          title="observed (±1σ) and model", y_axis_label="I [erg s^-1 cm^-2 sr^-1]",
                          tools="pan,wheel_zoom,reset")
        spectrum.add_layout(Whisker(base="line", lower="low", upper="high", source=self._lines))
        spectrum.scatter("line", "observed", source=self._lines, size=8, legend_label="observed")
        spectrum.scatter("line", "model", source=self._lines, marker="diamond", size=11, color="orange",
                         legend_label="best model")
        spectrum.legend.location = "bottom_left"
        self._layout = row(sky, posterior, spectrum)
        self.figures.children = [BokehModel(self._layout)]

    def _update(self) -> None:
        image = self.model.parameter_map()
        finite = image[np.isfinite(image)]
        if finite.size:
            self._map_colors.update(low=float(finite.min()), high=float(finite.max()))
        self._map.data = {"image": [image]}
        s = self.model.pixel_summary()
        y, x = s["pixel"]
        self._marker.data = {"x": [x + 0.5], "y": [y + 0.5]}
        post = s["posterior"]
        self._post.data = {"image": [np.zeros((2, 2)) if post is None else post.T]}
        if post is not None:       # zoom on where the posterior is (above 1e-4 of its peak), padded
            ranges = (self._posterior_figure.x_range, self._posterior_figure.y_range)
            for axis, values in enumerate(s["axes"]):
                seen = np.flatnonzero((post >= 1e-4 * post.max()).any(1 - axis))
                lo, hi = values[seen[0]], values[seen[-1]]
                pad = max(0.25, 0.3 * (hi - lo))
                ranges[axis].update(start=max(values[0], lo - pad), end=min(values[-1], hi + pad))
        tiny = 1e-30
        observed, sigma = s["observed"], s["sigma"]
        self._lines.data = {"line": list(self.model.lines), "observed": np.maximum(observed, tiny).tolist(),
                            "low": np.maximum(observed - sigma, tiny).tolist(),
                            "high": np.maximum(observed + sigma, tiny).tolist(),
                            "model": np.maximum(s["model"], tiny).tolist()}
        q = s["quantiles"]
        flags = ", ".join(name for name, on in s["flags"].items() if on) or "none"
        self.info.value = (f"<b>pixel (y, x) = ({y}, {x})</b> · " + " · ".join(
            f"{html.escape(PARAMETERS[k])} = {m:.2f} [{lo:.2f}, {hi:.2f}]" for k, (lo, m, hi) in q.items())
            + f" · flags: {html.escape(flags)}")

    def _repr_mimebundle_(self, **kwargs):
        load_bokehjs()
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = "PdrExplorer (interactive: run the notebook in Jupyter to use it)"
        return bundle
