"""The CubeViewer's bokeh figures: images with sky offsets, spectra and a PV cut, fed by a ViewerModel.

:class:`ViewerFigures` builds the figures once and afterwards only replaces the data of their
ColumnDataSources (and a few annotation properties), so that a channel change sends one image
per cube to the browser and nothing else.
"""
from __future__ import annotations

import numpy as np
from bokeh.events import SelectionGeometry, Tap
from bokeh.layouts import column, row
from bokeh.models import (
    BoxAnnotation,
    BoxSelectTool,
    ColorBar,
    ColumnDataSource,
    CustomJS,
    HoverTool,
    LinearAxis,
    LinearColorMapper,
    Range1d,
    Span,
)
from bokeh.palettes import Category10_10, Inferno256, RdBu11, interp_palette
from bokeh.plotting import figure

from astropy.constants import c

from ._viewer_model import RESIDUAL

SEQUENTIAL = Inferno256
DIVERGING = interp_palette(RdBu11, 256)   # low blue (approaching, negative), high red
IMAGE_PX = 260      # largest side of an image's frame, screen pixels
ROW_PX = 1200       # the images' row fits this width: a cell's output in a 1600 px JupyterLab
AXES_PX = 80        # what a figure adds to its frame's width: the y axis, its label, padding


def image_px(n_images: int) -> int:
    """Side of each image's frame so that ``n_images`` side by side fit in :data:`ROW_PX`."""
    return min(IMAGE_PX, ROW_PX // max(n_images, 1) - AXES_PX)


class ViewerFigures:
    """Bokeh figures of a :class:`~widgets._viewer_model.ViewerModel` and their update methods.

    Parameters
    ----------
    model : ViewerModel
    pv_name : str
        The cube whose position-velocity cut is shown.

    Attributes
    ----------
    layout : bokeh layout
        Images side by side (shared, linked ranges), then the spectrum and the PV cut.
    images : list of bokeh figures
        One per cube, in model order; the first has css class "gc-image".
    spectrum, pv : bokeh figures
        The spectrum figure has css class "gc-spectrum"; with a rest frequency it has a second
        x axis above, in GHz.
    sources, mappers, colorbars, hovers : dict name -> bokeh model
        Per image: its data (the map's values, columns running from low to high ΔRA), its linear
        colour mapper over the panel's limits, its colour bar (below) and its value hover.
    region, contours : ColumnDataSource
        The outline of the region around the pixel, and the contour lines, drawn on every image.
    """

    def __init__(self, model, pv_name: str):
        self.model, self.pv_name = model, pv_name
        dx, dy = model.offsets_arcsec
        p = model.reference.pixel_arcsec
        # east (larger dx) to the left: the x range runs from high to low
        self._x_range = Range1d(dx.max() + p / 2, dx.min() - p / 2)
        self._y_range = Range1d(dy.min() - p / 2, dy.max() + p / 2)
        self._frame = {"x": [dx.min() - p / 2], "y": [dy.min() - p / 2],
                       "dw": [dx.size * p], "dh": [dy.size * p]}
        # bokeh draws image column 0 at x and the last at x + dw: columns must run from low to high
        # dx, so the usual image (dx decreasing with x, CDELT1 < 0) is reversed
        self._flip_x = dx[0] > dx[-1]
        self.marker = ColumnDataSource({"x": [0.0], "y": [0.0]})
        self.region = ColumnDataSource({"x": [0.0], "y": [0.0]})
        self.contours = ColumnDataSource({"xs": [], "ys": [], "level": []})
        self.pv_line = ColumnDataSource({"x0": [0.0], "y0": [0.0], "x1": [0.0], "y1": [0.0]})
        self.sources, self.mappers, self.colorbars, self.hovers = {}, {}, {}, {}
        self.images = []
        side = image_px(len(model.names))
        for name in model.names:
            self.images.append(self._image_figure(name, side, first=not self.images))
        self.spectrum = self._spectrum_figure()
        self.pv = self._pv_figure()
        self.layout = column(row(*self.images), row(self.spectrum, self.pv))
        for what in ("view", "pixel", "aperture", "velocity_range", "pv", "contours"):
            self.update(what)

    # ------------------------------------------------------------------ building

    def _image_figure(self, name: str, side: int, first: bool):
        fig = figure(frame_width=side, frame_height=side, x_range=self._x_range,
                     y_range=self._y_range, toolbar_location="above",
                     tools="tap,pan,wheel_zoom,box_zoom,reset", title=name,
                     css_classes=["gc-image"] if first else [],
                     x_axis_label="ΔRA (″)", y_axis_label="ΔDec (″)")
        fig.title.text_font_size = "9pt"
        source = ColumnDataSource({"image": [np.zeros((1, 1), np.float32)], **self._frame})
        mapper = LinearColorMapper(palette=SEQUENTIAL, low=0.0, high=1.0, nan_color="#cccccc")
        glyph = fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=source,
                          color_mapper=mapper)
        bar = ColorBar(color_mapper=mapper, orientation="horizontal", height=8,
                       title_text_font_size="8pt", major_label_text_font_size="8pt")
        fig.add_layout(bar, "below")
        hover = HoverTool(renderers=[glyph])
        fig.add_tools(hover)
        self._decorate(fig)
        self.sources[name], self.mappers[name], self.colorbars[name] = source, mapper, bar
        self.hovers[name] = hover
        return fig

    def _decorate(self, fig) -> None:
        """Beam (bottom left), scale bar (bottom right), PV cut, the pixel and its aperture."""
        beam, (length, label) = self.model.beam, self.model.scale_bar
        (x_left, x_right), (y_low, y_high) = (self._x_range.start, self._x_range.end), \
                                             (self._y_range.start, self._y_range.end)
        pad = 0.08 * (y_high - y_low)
        fig.ellipse(x=x_left - pad, y=y_low + pad, width=beam["bmaj_arcsec"],
                    height=beam["bmin_arcsec"], angle=beam["angle_rad"],
                    fill_color=None, line_color="white", line_width=2)
        bar_x = x_right + pad
        fig.segment(x0=bar_x, y0=y_low + pad, x1=bar_x + length, y1=y_low + pad,
                    line_color="white", line_width=3)
        fig.text(x=bar_x, y=y_low + 1.3 * pad, text=[label], text_color="white",
                 text_align="right", text_font_size="9pt")
        fig.segment(x0="x0", y0="y0", x1="x1", y1="y1", source=self.pv_line,
                    line_color="cyan", line_dash="dashed", line_alpha=0.7)
        fig.multi_line(xs="xs", ys="ys", source=self.contours, line_color="white", line_width=1,
                       line_alpha=0.8)
        fig.scatter(x="x", y="y", source=self.marker, marker="cross", size=14,
                    line_color="lime", line_width=2)
        fig.line(x="x", y="y", source=self.region, line_color="lime", line_dash="dotted")

    def _spectrum_figure(self):
        m = self.model
        velocity, half = m.velocity_kms, m.reference.channel_kms / 2.0
        fig = figure(width=2 * IMAGE_PX + 80, height=IMAGE_PX + 60, title="spectra (solid: pixel, dashed: aperture)",
                     tools="xbox_select,tap,pan,wheel_zoom,reset", css_classes=["gc-spectrum"],
                     x_range=Range1d(velocity.min() - half, velocity.max() + half),
                     y_range=Range1d(0.0, 1.0), x_axis_label="velocity (km/s)",
                     y_axis_label=f"pixel ({m.reference.header.get('BUNIT', '')})")
        fig.toolbar.active_drag = fig.select_one(BoxSelectTool)
        self.pixel_spectra, self.aperture_spectra = {}, {}
        for name, colour in zip(m.names, Category10_10 * 10):
            self.pixel_spectra[name] = ColumnDataSource({"x": velocity, "y": np.zeros_like(velocity)})
            self.aperture_spectra[name] = ColumnDataSource({"x": velocity, "y": np.zeros_like(velocity)})
            fig.line("x", "y", source=self.pixel_spectra[name], color=colour, legend_label=name)
            fig.line("x", "y", source=self.aperture_spectra[name], color=colour,
                     line_dash="dashed", y_range_name="aperture")
        fig.extra_y_ranges = {"aperture": Range1d(0.0, 1.0)}
        fig.add_layout(LinearAxis(y_range_name="aperture", axis_label="aperture (Jy)"), "right")
        if m.rest_frequency_hz is not None:
            self._frequency_axis(fig)
        fig.legend.click_policy = "hide"
        fig.legend.location = "top_left"
        self.channel_span = Span(location=m.channel_velocity_kms, dimension="height",
                                 line_color="black", line_dash="dotted")
        self.range_box = BoxAnnotation(fill_alpha=0.1, fill_color="orange")
        fig.add_layout(self.channel_span)
        fig.add_layout(self.range_box)
        return fig

    def _frequency_axis(self, fig) -> None:
        """A second x axis above, the observed frequency (GHz) of the velocities below; radio
        velocities are linear in frequency, so the axis follows the velocity range's ends."""
        x = fig.x_range
        start, end = self.model.frequency_ghz([x.start, x.end])
        fig.extra_x_ranges = {"frequency": Range1d(float(start), float(end))}
        fig.add_layout(LinearAxis(x_range_name="frequency", axis_label="frequency (GHz)"), "above")
        args = {"v": x, "f": fig.extra_x_ranges["frequency"], "c": c.to_value("km/s"),
                "rest": self.model.rest_frequency_hz / 1e9}
        follow = CustomJS(args=args, code="f.start = rest * (1 - v.start / c); "
                                          "f.end = rest * (1 - v.end / c);")
        x.js_on_change("start", follow)
        x.js_on_change("end", follow)

    def _pv_figure(self):
        fig = figure(width=IMAGE_PX + 200, height=IMAGE_PX + 60, tools="pan,wheel_zoom,reset",
                     y_axis_label="velocity (km/s)")
        self.pv_source = ColumnDataSource({"image": [np.zeros((1, 1), np.float32)],
                                           "x": [0.0], "y": [0.0], "dw": [1.0], "dh": [1.0]})
        self.pv_mapper = LinearColorMapper(palette=SEQUENTIAL, low=0.0, high=1.0, nan_color="#cccccc")
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.pv_source,
                  color_mapper=self.pv_mapper)
        self.pv_colorbar = ColorBar(color_mapper=self.pv_mapper, width=8, title_text_font_size="8pt",
                                    major_label_text_font_size="8pt",
                                    title=str(self.model.reference.header.get("BUNIT", "")).strip())
        fig.add_layout(self.pv_colorbar, "right")
        self.pv_span = Span(location=self.model.channel_velocity_kms, dimension="width",
                            line_color="white", line_dash="dotted")
        fig.add_layout(self.pv_span)
        return fig

    def on_tap(self, callback) -> None:
        """Call ``callback(dx_arcsec, dy_arcsec)`` when an image is clicked."""
        for fig in self.images:
            fig.on_event(Tap, lambda event: callback(event.x, event.y))

    def on_spectrum(self, range_callback, tap_callback) -> None:
        """``range_callback(v0, v1)`` when a velocity range is selected on the spectrum,
        ``tap_callback(v)`` when it is clicked."""
        def selected(event):
            if event.final and {"x0", "x1"} <= set(event.geometry):
                range_callback(event.geometry["x0"], event.geometry["x1"])
        self.spectrum.on_event(SelectionGeometry, selected)
        self.spectrum.on_event(Tap, lambda event: tap_callback(event.x))

    # ------------------------------------------------------------------ updates

    def update(self, what: str) -> None:
        """Bring the figures up to date after model change ``what``."""
        m = self.model
        moments = what in ("velocity_range", "mask")
        images = what in ("cubes", "view", "stretch") or (what == "channel" and m.view == "channel") \
            or (moments and m.view != "channel")
        if images:
            self._update_images()
        if what in ("contours", "cubes") or (what == "channel" and m.contour_view == "channel") \
                or (moments and m.contour_view == "mom0"):
            self.contours.data = m.contours()
        if what in ("channel", "cubes"):
            self.channel_span.location = self.pv_span.location = m.channel_velocity_kms
        if what in ("pixel", "aperture", "cubes"):
            self._update_spectra()
        if what in ("velocity_range", "cubes"):
            self.range_box.left, self.range_box.right = m.velocity_range_kms
        if what in ("pv", "stretch", "cubes"):
            self._update_pv()

    def _update_images(self) -> None:
        """Each image source gets the map's values (a hover reads them); its colour mapper spans
        the panel's limits and its palette follows the panel's stretch."""
        m = self.model
        for name, fig in zip(m.names, self.images):
            image = m.image(name).astype(np.float32)
            self.sources[name].data = {"image": [image[:, ::-1] if self._flip_x else image],
                                       **self._frame}
            self._colour(self.mappers[name], name, m.display_limits(name))
            self.colorbars[name].title = f"{m.view} ({m.unit})" if m.unit else m.view
            self.hovers[name].tooltips = [("ΔRA, ΔDec", "$x{0.00}″, $y{0.00}″"),
                                          (m.view, f"@image{{0.0000g}} {m.unit}")]
            fig.title.text = f"{m.title(name)} · {m.view}"

    def _colour(self, mapper, name: str, limits, view=None) -> None:
        mapper.low, mapper.high = (float(v) for v in limits)
        mapper.palette = self.model.palette(name, SEQUENTIAL, DIVERGING, view)

    def _update_spectra(self) -> None:
        m = self.model
        dx, dy = m.offsets_arcsec
        x, y = m.pixel
        self.marker.data = {"x": [dx[x]], "y": [dy[y]]}
        outline_x, outline_y = m.aperture_outline_arcsec
        self.region.data = {"x": outline_x, "y": outline_y}
        for name in m.names:
            self.pixel_spectra[name].data = {"x": m.velocity_kms, "y": m.spectrum(name)}
            self.aperture_spectra[name].data = {"x": m.velocity_kms, "y": m.aperture_spectrum(name)}
        pixel, aperture = m.spectrum_limits
        self.spectrum.y_range.start, self.spectrum.y_range.end = pixel
        aperture_range = self.spectrum.extra_y_ranges["aperture"]
        aperture_range.start, aperture_range.end = aperture

    def set_pv_name(self, name: str) -> None:
        """Show the PV cut of cube ``name``."""
        self.pv_name = name
        self._update_pv()

    def _update_pv(self) -> None:
        m = self.model
        pv, offsets = m.pv(self.pv_name)
        limits = m.limits(pv, symmetric=self.pv_name == RESIDUAL)
        velocity = m.velocity_kms
        dv = m.reference.channel_kms
        shown = (pv if velocity[0] < velocity[-1] else pv[::-1]).astype(np.float32)
        step = offsets[1] - offsets[0] if offsets.size > 1 else m.reference.pixel_arcsec
        self.pv_source.data = {"image": [shown], "x": [offsets.min() - step / 2],
                               "y": [velocity.min() - dv / 2], "dw": [offsets.size * step],
                               "dh": [velocity.size * dv]}
        self._colour(self.pv_mapper, self.pv_name, limits, view="pv")
        self.pv.title.text = f"PV of {self.pv_name} · PA {m.pv_pa_deg:.0f}°"
        self.pv.xaxis.axis_label = f"offset along PA {m.pv_pa_deg:.0f}° (″)"
        (x0, y0), (x1, y1) = m.pv_endpoints_arcsec
        self.pv_line.data = {"x0": [x0], "y0": [y0], "x1": [x1], "y1": [y1]}
