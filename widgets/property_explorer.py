"""PropertyExplorer: pick a test galaxy and a method, see its true and predicted property maps
with their uncertainty, and every method's scatter and coverage on that galaxy."""
from __future__ import annotations

import html

import holoviews as hv
import ipywidgets as w
from jupyter_bokeh import BokehModel

from . import plots
from .viewer import load_bokehjs
from ._property_model import MAPS, PropertyModel


class PropertyExplorer:
    """True against predicted log Sigma_SFR maps of held-out galaxies.

    Parameters
    ----------
    pairs : list of Pair
        The test views.
    predictions : dict
        Method name -> one ``(mean, sigma)`` pair of maps per view.

    Attributes
    ----------
    model : PropertyModel
        The state.
    widget : ipywidgets.VBox
        The root widget: two dropdowns, the figures of every method on the view, the maps
        (a bokeh figure in a ``jupyter_bokeh.BokehModel``, which carries BokehJS: the widget
        draws in JupyterLab and voila without ``hv.extension``).
    """

    def __init__(self, pairs, predictions: dict):
        self.model = PropertyModel(pairs, predictions)
        self.view = w.Dropdown(options=[(label, i) for i, label in enumerate(self.model.labels)],
                               value=0, description="test galaxy", style={"description_width": "90px"},
                               layout=w.Layout(width="420px"))
        self.method = w.Dropdown(options=self.model.methods, value=self.model.method, description="method")
        self.table = w.HTML()
        self.maps = w.Box()
        self.maps.add_class("gc-property-maps")
        self.view.observe(lambda change: self._show(index=change["new"]), names="value")
        self.method.observe(lambda change: self._show(method=change["new"]), names="value")
        self.widget = w.VBox([w.HBox([self.view, self.method]), self.table, self.maps])
        self._show()

    def figure(self) -> hv.Layout:
        """The four maps of the shown view and method (true, predicted, sigma, normalised residual).

        Returns
        -------
        holoviews.Layout
            Four images sharing the true map's colour range (the residual on -3..3).
        """
        maps = self.model.maps()
        true = maps[MAPS[0]]
        finite = true[true == true]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        panels = []
        for name, image in maps.items():
            clim = {MAPS[2]: (None, None), MAPS[3]: (-3.0, 3.0)}.get(name, (lo, hi))
            cmap = {MAPS[2]: "viridis", MAPS[3]: "RdBu_r"}.get(name, "magma")
            image_el = hv.Image(image[::-1], bounds=(0, 0, image.shape[1], image.shape[0]), kdims=["x [px]", "y [px]"],
                                vdims=[name], label=name)
            for backend in ("bokeh", "matplotlib"):   # the live view and the report's PNG
                image_el = image_el.opts(cmap=cmap, clim=clim, colorbar=True, title=name, backend=backend)
            panels.append(image_el)
        # the live view: square frames big enough to read (side_by_side sizes them for the PNG),
        # the colour bars unlabelled (each map's title names it)
        return plots.side_by_side(*panels, cols=4).opts(
            {"Image": {"frame_width": 210, "frame_height": 210, "clabel": "", "xticks": 4, "yticks": 4}},
            backend="bokeh")

    def _show(self, index=None, method=None) -> None:
        self.model.select(index=index, method=method)
        rows = "".join(f"<tr><td>{html.escape(r['method'])}</td><td>{r['scatter_dex']:.3f}</td>"
                       f"<td>{r['coverage']:.2f}</td></tr>" for r in self.model.summary())
        self.table.value = ("<table><tr><th>method</th><th>scatter [dex]</th><th>coverage of ±1σ</th></tr>"
                            f"{rows}</table>")
        self.maps.children = [BokehModel(hv.render(self.figure(), backend="bokeh"))]

    def _repr_mimebundle_(self, **kwargs):
        load_bokehjs()
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = "PropertyExplorer (interactive: run the notebook in Jupyter to use it)"
        return bundle
