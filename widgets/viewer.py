"""CubeViewer: look through one or several linked cubes in Jupyter (ipywidgets + bokeh).

All state lives in :class:`~widgets._viewer_model.ViewerModel`; this module only lays out
controls and figures, forwards what the user does to the model and redraws when it changes.
"""
from __future__ import annotations

import sys
from pathlib import Path

import ipywidgets as w
from jupyter_bokeh import BokehModel

from ._viewer_figures import ViewerFigures
from ._viewer_model import ViewerModel

_PERCENTS = tuple((f"{p:g}", p) for p in (90.0, 95.0, 99.0, 99.5, 99.9, 100.0))
_MASKS = (("off", 0.0), ("> 2σ", 2.0), ("> 3σ", 3.0), ("> 4σ", 4.0), ("> 5σ", 5.0))
_VIEWS = (("channel", "channel"), ("mom0", "mom0"), ("mom1", "mom1"), ("mom2", "mom2"))
_VIEW_TIPS = ("one channel", "moment 0: integrated intensity over the velocity range",
              "moment 1: mean velocity", "moment 2: velocity dispersion")
_SHAPES = (("circle r", "circle"), ("box ½side", "box"), ("beam a", "beam"))
_bokehjs_loaded = False


def load_bokehjs() -> None:
    """Load BokehJS into the notebook page, once per kernel; a no-op outside IPython.

    jupyter_bokeh's figures need BokehJS in the page and do not bring it. It is loaded inline
    (no network needed; about 4 MB in the notebook's outputs). Displaying a CubeViewer calls
    this; call it yourself before displaying a widget that holds ``CubeViewer.widget``.

    Only bokeh's own libraries are loaded. ``bokeh.io.output_notebook`` would add the JS of every
    bokeh extension another package registered in the kernel: panel's, as soon as HoloViews
    plots anything, whose loader fails outside JupyterLab (in voila it asks the server for a
    file it refuses), so that no BokehJS at all reached the page and every figure failed.
    """
    global _bokehjs_loaded
    from IPython import get_ipython

    if _bokehjs_loaded or get_ipython() is None or _holoviews_loaded_bokehjs():
        return
    from bokeh.embed.bundle import Bundle
    from bokeh.io import notebook
    from bokeh.resources import INLINE
    from IPython.display import publish_display_data

    bundle = Bundle(js_files=[], js_raw=INLINE.js_raw, css_files=[], css_raw=INLINE.css_raw, hashes={})
    publish_display_data({notebook.JS_MIME_TYPE: notebook._loading_js(bundle, None, register_mime=True),
                          notebook.LOAD_MIME_TYPE: notebook._loading_js(bundle, None, register_mime=False)})
    _bokehjs_loaded = True


def _holoviews_loaded_bokehjs() -> bool:
    """Whether ``hv.extension("bokeh")`` already put BokehJS in the page (notebooks that plot)."""
    extension = sys.modules.get("holoviews.ipython")
    return bool(extension and extension.notebook_extension._loaded
                and "bokeh" in sys.modules["holoviews"].Store.renderers)


class CubeViewer:
    """Channels, moment maps, spectra and a PV cut of one or several cubes, linked.

    Several cubes are shown side by side with one channel, one zoom (shared bokeh ranges) and one
    selected pixel; click an image to pick the pixel, drag across the spectrum to choose the
    moments' velocity range, click it to go to a channel.

    Parameters
    ----------
    cubes : Cube, dict name -> Cube, or list of Cube
        Cubes of one (v, y, x) shape; the first gives the WCS, beam and velocities.
    names : list of str, optional
        Names of a list of cubes.
    channel : int, optional
        Starting channel (default the middle one).
    residual_of : (str, str), optional
        Also show "residual" = cubes[a] - cubes[b] (symmetric colour limits).

    Attributes
    ----------
    model : ViewerModel
        The state; setting its attributes updates the display.
    widget : ipywidgets.VBox
        The root widget.
    figures : ViewerFigures
        The bokeh figures and their sources.
    """

    def __init__(self, cubes, *, names=None, channel=None, residual_of=None):
        self.model = ViewerModel(cubes, names=names, channel=channel, residual_of=residual_of)
        self._syncing = False
        self._build_controls()
        self._plot = w.Box()
        self.status = w.HTML()
        self.widget = w.VBox([self._view_row, self._channel_row, self._display_row,
                              self._region_row, self._plot,
                              self.pixel_label, self._export_row, self.status])
        self._build_figures()
        self.model.observe(self._changed)

    # ------------------------------------------------------------------ layout

    def _build_controls(self) -> None:
        m = self.model
        self.view = w.ToggleButtons(options=_VIEWS, value=m.view, description="show",
                                    tooltips=_VIEW_TIPS, style={"button_width": "70px"})
        self.slider = w.IntSlider(description="channel", min=0, max=m.n_chan - 1, value=m.channel)
        self.play = w.Play(min=0, max=m.n_chan - 1, value=m.channel, interval=300, description="play")
        w.jslink((self.play, "value"), (self.slider, "value"))
        self.velocity = w.BoundedFloatText(description="km/s", value=_rounded(m.channel_velocity_kms),
                                           layout=w.Layout(width="160px"))
        self.channel_label = w.HTML(m.channel_label)
        self.channel_label.add_class("gc-channel-label")
        self.pixel_label = w.HTML(m.pixel_label)
        self.pixel_label.add_class("gc-pixel-label")
        self.limits = w.Dropdown(options=["percentile", "zscale"], value=m.stretch_mode,
                                 description="limits", layout=w.Layout(width="200px"))
        self.percent = w.Dropdown(options=_PERCENTS, value=m.stretch_percent, description="percent",
                                  layout=w.Layout(width="160px"))
        self.stretch = w.Dropdown(options=["linear", "asinh"], value=m.stretch_kind,
                                  description="stretch", layout=w.Layout(width="180px"))
        self.velocity_range = w.FloatRangeSlider(description="moments (km/s)", readout_format=".0f",
                                                 style={"description_width": "initial"},
                                                 layout=w.Layout(width="420px"))   # room for the readout
        self.mask = w.Dropdown(options=_MASKS, value=0.0, description="mask",
                               layout=w.Layout(width="160px"))
        self.mask_from = w.Dropdown(description="of", layout=w.Layout(width="180px"))
        self.linked = w.Checkbox(value=m.linked_limits, description="link limits", indent=False,
                                 tooltip="one set of colour limits for every cube (but a residual)",
                                 layout=w.Layout(width="100px"))
        self.aperture_shape = w.Dropdown(options=_SHAPES, value=m.aperture_shape,
                                         description="region", layout=w.Layout(width="190px"))
        self.aperture = w.BoundedFloatText(value=_rounded(m.aperture_radius_px), min=0.5, step=0.5,
                                           description="(px)", layout=w.Layout(width="140px"))
        self.aperture_arcsec = w.HTML(m.aperture_label)
        self.contour_from = w.Dropdown(options=[("off", None), *((n, n) for n in m.names)],
                                       description="contours", layout=w.Layout(width="190px"))
        self.contour_view = w.Dropdown(options=["channel", "mom0"], value=m.contour_view,
                                       description="of", layout=w.Layout(width="150px"))
        self.pv_cube = w.Dropdown(description="PV of", layout=w.Layout(width="180px"))
        self.pv_pa = w.BoundedFloatText(value=_rounded(m.pv_pa_deg), min=0.0, max=360.0, step=5.0,
                                        description="PV PA (°)", layout=w.Layout(width="160px"))
        self.export_path = w.Text(value="galcube_view", description="save as")
        self.export_cube = w.Dropdown(description="cube", layout=w.Layout(width="180px"))
        self.png_button = w.Button(description="export PNG", icon="image")
        self.fits_button = w.Button(description="export FITS", icon="save")
        self._view_row = w.HBox([self.view, self.velocity_range, self.mask, self.mask_from])
        self._channel_row = w.HBox([self.play, self.slider, self.velocity, self.channel_label])
        self._display_row = w.HBox([self.limits, self.percent, self.stretch, self.linked,
                                    self.contour_from, self.contour_view])
        self._region_row = w.HBox([self.aperture_shape, self.aperture, self.aperture_arcsec,
                                   self.pv_cube, self.pv_pa])
        self._export_row = w.HBox([self.export_path, self.export_cube, self.png_button,
                                   self.fits_button])
        self._sync_axes()
        self._sync_controls()   # values after bounds: a box built with the default 0..100 clamps
        forward = {self.view: "view", self.slider: "channel", self.limits: "stretch_mode",
                   self.percent: "stretch_percent", self.stretch: "stretch_kind",
                   self.velocity_range: "velocity_range_kms", self.mask_from: "mask_from",
                   self.aperture: "aperture_radius_px", self.pv_pa: "pv_pa_deg",
                   self.linked: "linked_limits", self.aperture_shape: "aperture_shape",
                   self.contour_from: "contour_from", self.contour_view: "contour_view"}
        for control, attribute in forward.items():
            control.observe(lambda change, a=attribute: self._set(a, change["new"]), "value")
        self.mask.observe(lambda change: self._set("mask_n_sigma", change["new"] or None), "value")
        self.velocity.observe(lambda change: self._go_to(change["new"]), "value")
        self.pv_cube.observe(lambda change: self.figures.set_pv_name(change["new"]), "value")
        self.png_button.on_click(lambda _: self._export("png"))
        self.fits_button.on_click(lambda _: self._export("fits"))

    def _sync_axes(self) -> None:
        """Ranges and choices that depend on the cubes."""
        m = self.model
        vel, half = m.velocity_kms, m.reference.channel_kms / 2.0
        self.slider.max = self.play.max = m.n_chan - 1
        _set_bounds(self.velocity, float(vel.min() - half), float(vel.max() + half))
        self.velocity.step = m.reference.channel_kms
        _set_bounds(self.velocity_range, float(vel.min()), float(vel.max()))
        self.velocity_range.step = m.reference.channel_kms
        self.velocity_range.value = m.velocity_range_kms
        self.aperture.max = float(max(m.reference.shape[1:]))
        for dropdown, value in ((self.mask_from, m.mask_from), (self.pv_cube, m.names[0]),
                                (self.export_cube, m.names[0])):
            dropdown.options, dropdown.value = m.names, value
        self.contour_from.options = [("off", None), *((n, n) for n in m.names)]
        self.contour_from.value = m.contour_from

    def _build_figures(self) -> None:
        self.figures = ViewerFigures(self.model, self.pv_cube.value)
        self.figures.on_tap(self._tap)
        self.figures.on_spectrum(lambda v0, v1: self._set("velocity_range_kms", (v0, v1)),
                                 self._go_to)
        self._plot.children = [BokehModel(self.figures.layout)]
        self._update_figures("cubes")

    # ------------------------------------------------------------------ user -> model

    def _set(self, attribute: str, value) -> None:
        """Set a model attribute; a refused value is reported in the status line."""
        if self._syncing:   # a control being set from the model, not by the user
            return
        try:
            setattr(self.model, attribute, value)
        except (TypeError, ValueError) as err:
            self.status.value = f"<span style='color:#b00'>{err}</span>"

    def _go_to(self, velocity_kms) -> None:
        """Show the channel nearest ``velocity_kms``."""
        try:
            channel = self.model.channel_at_velocity(velocity_kms)
        except (TypeError, ValueError) as err:
            self.status.value = f"<span style='color:#b00'>{err}</span>"
        else:
            self._set("channel", channel)

    def _tap(self, dx_arcsec, dy_arcsec) -> None:
        pixel = self.model.pixel_at_offset(dx_arcsec, dy_arcsec)
        if pixel is not None:
            self.model.pixel = pixel

    # ------------------------------------------------------------------ model -> display

    def _changed(self, what: str) -> None:
        self._syncing = True
        try:
            if what == "cubes":
                self._sync_axes()
                self._build_figures()
            else:
                self._update_figures(what)
            self._sync_controls()
        finally:
            self._syncing = False

    def _sync_controls(self) -> None:
        """Every control shows the model's value."""
        m = self.model
        self.slider.value = self.play.value = m.channel
        self.velocity.value = _rounded(m.channel_velocity_kms)
        self.view.value, self.velocity_range.value = m.view, m.velocity_range_kms
        self.limits.value, self.stretch.value = m.stretch_mode, m.stretch_kind
        for dropdown, value in ((self.percent, m.stretch_percent), (self.mask, m.mask_n_sigma or 0.0)):
            if value not in [option[1] for option in dropdown.options]:
                dropdown.options = [*dropdown.options, (f"{value:g}", value)]
            dropdown.value = value
        self.mask_from.value, self.linked.value = m.mask_from, m.linked_limits
        self.aperture_shape.value, self.aperture.value = m.aperture_shape, _rounded(m.aperture_radius_px)
        self.aperture_arcsec.value, self.pv_pa.value = m.aperture_label, _rounded(m.pv_pa_deg)
        self.contour_from.value, self.contour_view.value = m.contour_from, m.contour_view

    def _update_figures(self, what: str) -> None:
        self.figures.update(what)
        self.channel_label.value = self.model.channel_label
        self.pixel_label.value = self.model.pixel_label

    def set_cubes(self, cubes, *, names=None, residual_of=None) -> None:
        """Show other cubes (same rules as the constructor); the channel and pixel are kept."""
        self.model.set_cubes(cubes, names=names, residual_of=residual_of)

    # ------------------------------------------------------------------ export

    def export_fits(self, path, name=None) -> Path:
        """Write the shown cube, or the shown moment map, of cube ``name`` (default the first)."""
        return self.model.export_fits(path, name)

    def export_png(self, path, dpi=100) -> Path:
        """Write the current view as a PNG (matplotlib): every cube's image with the display's
        limits and stretch, the spectra at the pixel and the PV cut."""
        from . import plots

        return plots.save_png(_static_view(self.model, self.figures.pv_name, plots), path, dpi=dpi)

    def _export(self, kind: str) -> None:
        path = Path(f"{self.export_path.value}.{kind}")
        try:
            written = self.export_png(path) if kind == "png" else \
                self.export_fits(path, self.export_cube.value)
        except (OSError, ValueError) as err:
            self.status.value = f"<span style='color:#b00'>export failed: {err}</span>"
        else:
            self.status.value = f"wrote {written}"

    def _repr_mimebundle_(self, **kwargs):
        # No static PNG here: rendering one takes seconds (matplotlib via HoloViews); notebooks
        # that are exported to HTML show the widget through widgets.plots.with_picture.
        load_bokehjs()
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # what a static export (nbconvert HTML) shows instead of the live widget
        bundle["text/plain"] = (f"CubeViewer of {', '.join(self.model.cubes)} "
                                "(interactive: run the notebook in Jupyter to use it)")
        return bundle


def _rounded(value: float) -> float:
    """A value for a number box: two decimals ("-37.73", not "-37.7277")."""
    return round(float(value), 2)


def _set_bounds(control, lo: float, hi: float) -> None:
    """Set a bounded control's (min, max) in an order that never has min > max in between
    (ipywidgets refuses that, and the old bounds may lie anywhere, e.g. the default 0 to 100)."""
    if lo > control.max:
        control.max, control.min = hi, lo
    else:
        control.min, control.max = lo, hi


def _static_view(model, pv_name: str, plots):
    """The current view of ``model`` as a HoloViews layout for :func:`widgets.plots.save_png`."""
    import holoviews as hv

    m = model
    what = m.channel_label if m.view == "channel" else \
        f"{m.view} over {m.velocity_range_kms[0]:.0f} to {m.velocity_range_kms[1]:.0f} km/s"
    panels = []
    for name in m.names:
        image, limits = m.image(name), m.display_limits(name)
        unit, kind = m.unit, m.stretch_of(name)
        if kind != "linear":
            image, limits, unit = m.stretched(image, limits, name), (0.0, 1.0), f"{kind} of {unit}"
        cmap = "RdBu_r" if m.diverging(name) else "inferno"
        quantity = "intensity" if m.view == "channel" else m.view
        panels.append(plots.sky_image(image, m.cubes[name], hv.Dimension(quantity, unit=unit),
                                       f"{m.title(name)}\n{what}", cmap, limits))
    x, y = m.pixel
    bunit = m.reference.header.get("BUNIT", "")
    panels.append(plots.spectra({n: m.spectrum(n) for n in m.names}, m.velocity_kms, m.channel,
                                ylabel=f"pixel ({x}, {y}) [{bunit}]"))
    panels.append(plots.pv_diagram(m.cubes[pv_name], m.pv_center_yx, m.pv_pa_deg, m.pv_width_px))
    return plots.side_by_side(*panels, cols=max(len(m.names), 2))
