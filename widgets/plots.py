"""HoloViews figure builders: one builder per figure, for notebooks (bokeh) and reports (PNG).

Every builder returns a HoloViews object styled for both backends (options given per backend),
so the same object is interactive under ``hv.extension("bokeh")`` and renders as a static
figure through :func:`save_png` (matplotlib backend, every artist inside the figure). Under
bokeh a row of plots fits in :data:`WIDTH_PX`, so that a notebook and its HTML export cut nothing
off. :func:`with_picture` gives a widget a PNG of its view for static exports. Importing this
module registers both plotting backends with HoloViews but does not call ``hv.extension`` or
change the current one.

Sky images use offsets from the cube's reference position (:func:`galcube_lib.report.display.sky_offsets_arcsec`)
with east to the left: the x axis (ΔRA, east positive) is inverted.
"""
from __future__ import annotations

import math
from pathlib import Path

import holoviews as hv
import holoviews.plotting.bokeh  # registers the backends, for their options
import holoviews.plotting.mpl
import numpy as np

from galcube_lib import bench, metrics
from galcube_lib.io import checks, lazy
from galcube_lib.report import display
from galcube_lib.io.files import atomic_path
from galcube_lib.io.cube import Cube, check_cube

__all__ = ["benchmark_curves", "channel_grid", "moment_maps", "pv_diagram", "save_png", "side_by_side",
           "render_mpl", "sky_image", "spectra", "with_picture"]

#: matplotlib's tab10, so that a method keeps its colour in both backends and every panel
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
SKY_KDIMS = [hv.Dimension("dra", label="ΔRA", unit="arcsec"),
             hv.Dimension("ddec", label="ΔDec", unit="arcsec")]
VELOCITY = hv.Dimension("velocity", label="radio velocity", unit="km/s")
#: pixels a figure may take across in a notebook's output area (and its HTML export) under bokeh
WIDTH_PX = 900
#: pixels of a bokeh plot outside its frame: the y axis with its label, and a colour bar with its label
AXIS_PX, COLORBAR_PX = 60, 90


def _styled(obj, common=None, bokeh=None, mpl=None):
    """``obj`` with options for both backends: ``common`` to each, then each backend's own."""
    return (obj.opts(**(common or {}), **(bokeh or {}), backend="bokeh")
            .opts(**(common or {}), **(mpl or {}), backend="matplotlib"))


def _reference_text(cube) -> str:
    """The reference position as sexagesimal RA/Dec."""
    from astropy.coordinates import Angle

    ra, dec = display.reference_radec(cube)
    return (f"RA {Angle(ra, 'deg').to_string('hourangle', sep='hms', precision=2)}, "
            f"Dec {Angle(dec, 'deg').to_string(sep='dms', precision=1, alwayssign=True)}")


def _beam(cube, dx, dy, colour) -> hv.Ellipse:
    """The beam as an ellipse in the lower-left (east, south) corner of an offset image."""
    beam = display.beam_ellipse(cube)
    margin = 0.04 * abs(dx[-1] - dx[0]) + 0.5 * beam["bmaj_arcsec"]
    # data-coordinate angle on a ΔRA axis that increases to the left
    ellipse = hv.Ellipse(dx.max() - margin, dy.min() + margin, (beam["bmaj_arcsec"], beam["bmin_arcsec"]),
                         orientation=math.pi - beam["angle_rad"])
    return _styled(ellipse, {"color": colour}, {"line_width": 2}, {"linewidth": 1.5})


def _frame_px(cols, axes, colorbars, widest=260) -> int:
    """Frame width (px) of each of ``cols`` bokeh plots in a row, ``axes`` of them with a y axis
    and ``colorbars`` with a colour bar, so that the row fits in :data:`WIDTH_PX` (at least
    100 px, at most ``widest``)."""
    return int(max(100, min(widest, (WIDTH_PX - axes * AXIS_PX - colorbars * COLORBAR_PX) // cols)))


def sky_image(image, cube, vdim, title, cmap, clim, colorbar=True, *, frame_width=260) -> hv.Overlay:
    """A (y, x) map of ``cube``'s field on sky offsets (east left) with the beam in a corner.

    Parameters
    ----------
    image : array_like
        The map, (y, x) as the cube's spatial axes.
    cube : Cube
        Gives the offsets, the reference position and the beam.
    vdim : str or holoviews.Dimension
        Name (and unit) of the values.
    title : str
    cmap : str
        Colour map; the beam is white on "inferno", black otherwise (on the grey of blank pixels).
    clim : (float, float)
        Colour limits.
    colorbar : bool
    frame_width : int
        Width of the image in pixels under bokeh.
    """
    dx, dy = display.sky_offsets_arcsec(cube)
    img = hv.Image((dx, dy, np.asarray(image, dtype=float)), kdims=SKY_KDIMS, vdims=[vdim])
    common = {"cmap": cmap, "clim": clim, "colorbar": colorbar, "invert_xaxis": True, "title": title,
              "clipping_colors": {"NaN": "#d9d9d9"}}
    img = _styled(img, common, {"data_aspect": 1, "frame_width": frame_width, "tools": ["hover"],
                                "fontsize": {"title": "10pt"}},
                  {"aspect": "equal"})
    return img * _beam(cube, dx, dy, "white" if cmap == "inferno" else "black")


def moment_maps(cube, mask=None, velocity_range=None, *, name="") -> hv.Layout:
    """Moment 0, 1 and 2 maps on sky offsets, with the beam and the reference position.

    Parameters
    ----------
    cube : Cube
    mask : bool array, optional
        (v, y, x) or (y, x) voxels to include (:func:`galcube_lib.metrics.moments`); default
        :func:`galcube_lib.report.display.emission_mask`, so that noise does not scatter moments 1 and 2
        (all voxels for a single channel).
    velocity_range : (float, float), optional
        Only channels whose velocity lies in this closed range (km/s, either order).
    name : str
        Put in front of each panel's title (for example the denoiser's name).

    Returns
    -------
    holoviews.Layout
        Three panels (only moment 0 for a one-channel cube, as the map times the channel width).
    """
    check_cube("cube", cube)
    vel = cube.velocity_kms
    keep = np.ones(vel.size, bool)
    if velocity_range is not None:
        lo, hi = sorted(float(v) for v in velocity_range)
        keep = (vel >= lo) & (vel <= hi)
        if not keep.any():
            raise ValueError(f"velocity_range={tuple(velocity_range)!r} holds no channel; the cube "
                             f"covers [{vel.min():.1f}, {vel.max():.1f}] km/s")
    if mask is None and keep.sum() > 1:   # a single channel has no line to find: the whole map
        mask = display.emission_mask(cube)
    if mask is not None:                   # a lazy mask stays lazy: only the maps are held
        mask = (mask if lazy.is_lazy(mask) else np.asarray(mask)).astype(bool)
        mask = mask[keep] if mask.ndim == 3 else mask
    m0, m1, m2 = metrics.moments(cube.data[keep], vel[keep], mask)   # NaN on blank spaxels
    if keep.sum() == 1:
        m0 = m0 * cube.channel_kms
    # limits from the masked source, not the zeros of the spaxels the mask leaves out
    shown = m0 if mask is None else np.where(m0 != 0, m0, np.nan)
    lo, hi = display.stretch_limits(shown, percent=99.0)[0], display.stretch_limits(shown, percent=100.0)[1]
    unit, reference = cube.header.get("BUNIT", "Jy/beam"), f"offsets from {_reference_text(cube)}"
    # a one-panel Layout drops its title (matplotlib backend): that panel carries the reference
    prefix = f"{name}: " if name else ""
    title = f"{prefix}moment 0 (integrated intensity)" if keep.sum() > 1 else f"{prefix}moment 0\n{reference}"
    n_panels = 3 if keep.sum() > 1 else 1
    width = _frame_px(n_panels, n_panels, n_panels)
    panels = [sky_image(m0, cube, hv.Dimension("mom0", label="moment 0", unit=f"{unit} km/s"),
                         title, "inferno", (min(lo, 0.0), hi), frame_width=width)]
    if keep.sum() > 1:
        centre = np.nanmedian(m1) if np.isfinite(m1).any() else 0.0
        half = max(np.max(np.abs(np.array(display.stretch_limits(m1, percent=96.0)) - centre)),
                   cube.channel_kms / 2)
        top = display.stretch_limits(m2, percent=96.0)[1]
        panels += [
            sky_image(m1, cube, hv.Dimension("mom1", label="moment 1", unit="km/s"),
                       f"{prefix}moment 1 (velocity)", "RdBu_r", (centre - half, centre + half),
                       frame_width=width),
            sky_image(m2, cube, hv.Dimension("mom2", label="moment 2", unit="km/s"),
                       f"{prefix}moment 2 (dispersion)", "viridis", (0.0, top), frame_width=width)]
    return _styled(hv.Layout(panels).cols(3), {"title": reference},
                   mpl={"sublabel_format": "", "fig_inches": (5 * len(panels), 4.4), "hspace": 0.6})


def spectra(spectra, velocity_kms, channel=None, *, ylabel="flux density [Jy]", title="spectra") -> hv.Overlay:
    """Spectra against velocity, as steps, with the current channel marked.

    Parameters
    ----------
    spectra : dict
        ``{name: 1-D array}``, each as long as ``velocity_kms``.
    velocity_kms : array_like
        Channel velocities.
    channel : int, optional
        A channel index to mark with a vertical line.
    ylabel : str
        Label of the flux axis, with its unit.
    title : str
        The figure's title.
    """
    vel = np.asarray(velocity_kms, dtype=float)
    if not spectra:
        raise ValueError("spectra is empty; give {name: spectrum}")
    curves = []
    for i, (name, spec) in enumerate(spectra.items()):
        spec = np.asarray(spec, dtype=float)
        if spec.shape != vel.shape:
            raise ValueError(f"spectra[{name!r}] has shape {spec.shape}; velocity_kms has {vel.shape}")
        colour = COLOURS[i % len(COLOURS)]
        curve = hv.Curve((vel, spec), VELOCITY, hv.Dimension("flux", label=ylabel), label=str(name))
        curves.append(_styled(curve, {"color": colour, "interpolation": "steps-mid"},
                              {"line_width": 2}, {"linewidth": 1.5}))
    if channel is not None:
        if not 0 <= int(channel) < vel.size:
            raise ValueError(f"channel={channel!r} is outside the valid range [0, {vel.size - 1}]")
        curves.append(_styled(hv.VLine(vel[int(channel)]), {"color": "black"}, {"line_dash": "dashed"},
                              {"linestyle": "--", "linewidth": 1}))
    return _styled(hv.Overlay(curves), {"show_grid": True, "ylabel": ylabel, "title": title,
                                        "legend_position": "right"},   # beside the curves, not on them
                   {"width": 600, "height": 300}, {"fig_inches": 7, "aspect": 1.8})


def pv_diagram(cube, center_yx=None, pa_deg=None, width_px=None, *, name="") -> hv.Image:
    """Position-velocity diagram along a position angle (:func:`galcube_lib.report.display.pv_slice`).

    Parameters
    ----------
    cube : Cube
    center_yx : (float, float), optional
        0-based pixel (y, x) of offset 0; default from :func:`galcube_lib.report.display.major_axis`.
    pa_deg : float, optional
        North through east; default the major axis (positive offsets on the receding side).
    width_px : float, optional
        Width of the cut; default the beam's minor FWHM, rounded (at least 1 px).
    name : str
        Put in front of the title (for example "truth").

    Returns
    -------
    holoviews.Image
        Offset (arcsec) against radio velocity (km/s).
    """
    check_cube("cube", cube)
    if center_yx is None or pa_deg is None:
        found_center, found_pa = display.major_axis(cube)
        center_yx = found_center if center_yx is None else center_yx
        pa_deg = found_pa if pa_deg is None else pa_deg
    width_px = max(1, round(cube.beam_fwhm_px[1])) if width_px is None else width_px
    pv, offsets = display.pv_slice(cube.data, center_yx, pa_deg, width_px=width_px,
                                   pixel_arcsec=cube.pixel_arcsec)
    inside = np.flatnonzero(np.isfinite(pv).any(axis=0))   # drop the cut's ends beyond the image
    if inside.size:
        pv, offsets = pv[:, inside[0]:inside[-1] + 1], offsets[inside[0]:inside[-1] + 1]
    vel = cube.velocity_kms
    order = np.argsort(vel)[::-1]               # Image arrays run top (highest velocity) down
    step, dv = cube.pixel_arcsec, cube.channel_kms
    bounds = (offsets[0] - step / 2, vel.min() - dv / 2, offsets[-1] + step / 2, vel.max() + dv / 2)
    unit = cube.header.get("BUNIT", "Jy/beam")
    title = f"{name + ': ' if name else ''}PV along PA {pa_deg:.0f}° (width {width_px:.3g} px)"
    image = hv.Image(pv[order], bounds=bounds, vdims=[hv.Dimension("intensity", unit=unit)],
                     kdims=[hv.Dimension("offset", label="offset along PA", unit="arcsec"), VELOCITY])
    return _styled(image, {"cmap": "inferno", "colorbar": True, "title": title,
                           "clim": display.stretch_limits(pv, percent=99.5)},
                   {"frame_width": 380, "frame_height": 300, "tools": ["hover"]},
                   {"aspect": 1.2, "fig_inches": 5})


def channel_grid(cube, n=9, *, mode="percentile", percent=99.5, mask=None) -> hv.Layout:
    """Channel maps spanning the line, on one colour scale, with velocity and beam in each.

    Parameters
    ----------
    cube : Cube or dict
        One cube, or ``{name: Cube}`` of cubes with the same shape shown as rows (for example
        noisy and denoised): the first sets the channels and the colour scale of every row.
    n : int
        Number of maps per cube (:func:`galcube_lib.report.display.line_channels`).
    mode, percent
        Colour limits over the first cube's maps (:func:`galcube_lib.report.display.stretch_limits`).
    mask : bool array, optional
        (v, y, x) emission that defines the line; default the first cube's emission.
    """
    cubes = {"": cube} if isinstance(cube, Cube) else dict(cube)
    if not cubes:
        raise ValueError("cube is an empty dict; give a Cube or {name: Cube}")
    first = check_cube("cube", next(iter(cubes.values())))
    for name, other in cubes.items():
        if check_cube("cube", other).shape != first.shape:
            raise ValueError(f"cube[{name!r}] has shape {other.shape}; the first has {first.shape}")
    picks = display.line_channels(first, n, mask)
    clim = display.stretch_limits(first.data[picks], mode, percent)
    vel = first.velocity_kms
    unit = hv.Dimension("intensity", unit=first.header.get("BUNIT", "Jy/beam"))
    cols = 3 if len(cubes) == 1 else picks.size
    width = _frame_px(min(cols, picks.size), 1, 1)
    panels = [sky_image(c.data[k], first, unit, f"{name + ', ' if name else ''}{vel[k]:.1f} km/s"
                         f"{'' if name else f' (channel {k})'}", "inferno", clim,
                         colorbar=(i % cols == cols - 1 or i == picks.size - 1), frame_width=width)
              .opts({"Image": {"fontsize": {"title": "9pt"}, "yaxis": "left" if i % cols == 0 else None}},
                    backend="bokeh")   # the y axis of a row once, as in print: the row fits the width
              for name, c in cubes.items() for i, k in enumerate(picks)]
    rows = math.ceil(len(panels) / cols)
    return _styled(hv.Layout(panels).cols(cols),
                   {"title": f"channel maps; offsets from {_reference_text(first)}"},
                   mpl={"sublabel_format": "", "fig_inches": (4 * cols, 3.6 * rows), "hspace": 0.3,
                        "vspace": 0.3})


def _binned(table, figure):
    """Median and quartiles of ``figure`` per (method, SNR bin), with the bins' centres."""
    import pandas as pd

    labels = [f"({a:g},{b:g}]" for a, b in bench.SNR_BINS]
    centres = dict(zip(labels, [(a + b) / 2 for a, b in bench.SNR_BINS]))
    if "snr_bin" in table:
        bins = table["snr_bin"]
    else:
        edges = [bench.SNR_BINS[0][0]] + [b for _, b in bench.SNR_BINS]
        bins = pd.cut(table["peak_snr"], edges, labels=labels).astype(str)
    stats = table.groupby(["method", bins.rename("snr_bin")])[figure].quantile([0.25, 0.5, 0.75])
    stats = stats.unstack().reset_index()
    stats["snr"] = stats["snr_bin"].map(centres)
    return stats.dropna(subset=["snr"]).sort_values(["method", "snr"])


def benchmark_curves(table, *, source_class=None) -> hv.Layout:
    """Normalised RMSE and flux conservation against peak SNR, per method.

    Medians per SNR bin (docs/conventions.md, Benchmark protocol; the ``snr_bin`` column, else
    ``peak_snr`` binned), with the interquartile range as a band; reference lines at nRMSE 1
    (no better than the noisy cube) and 100% flux.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per (cube, method), as :func:`galcube_lib.bench.run` returns: ``method``,
        ``snr_bin`` or ``peak_snr``, ``nrmse``, ``flux_conservation``, and ``class``.
    source_class : {"resolved", "unresolved"}, optional
        Only cubes of that class; default all.
    """
    if source_class is not None:
        if source_class not in bench.CLASSES:
            raise ValueError(f"source_class={source_class!r} is not one of {', '.join(bench.CLASSES)}")
        table = table[table["class"] == source_class]
    panels = []
    for figure, label, reference in (("nrmse", "normalised RMSE", 1.0),
                                     ("flux_conservation", "flux conservation [%]", 100.0)):
        legend = figure == "flux_conservation"   # one legend, right of the last panel: off the curves
        stats = _binned(table, figure)
        layers = [_styled(hv.HLine(reference), {"color": "grey"}, {"line_dash": "dashed"},
                          {"linestyle": "--", "linewidth": 1})]
        for i, (method, rows) in enumerate(stats.groupby("method", sort=True)):
            colour = COLOURS[i % len(COLOURS)]
            xy = (rows["snr"], rows[0.5])
            band = hv.Area((rows["snr"], rows[0.25], rows[0.75]), "peak SNR",
                           vdims=[figure, f"{figure} upper quartile"])
            layers += [
                _styled(band, {"alpha": 0.2}, {"fill_color": colour, "line_alpha": 0},
                        {"color": colour, "facecolor": colour, "linewidth": 0}),
                _styled(hv.Curve(xy, "peak SNR", figure, label=method), {"color": colour},
                        {"line_width": 2}, {"linewidth": 1.5}),
                _styled(hv.Scatter(xy, "peak SNR", figure), {"color": colour}, {"size": 6}, {"s": 20})]
        title = f"{label.split(' [')[0]}{'' if source_class is None else f', {source_class} sources'}"
        panels.append(_styled(hv.Overlay(layers),
                              {"ylabel": label, "xlabel": "peak SNR", "title": title, "show_grid": True,
                               "show_legend": legend, "legend_position": "right"},
                              {"width": 520 if legend else 380, "height": 340}, {"fig_inches": (5.5, 4)}))
    return _styled(hv.Layout(panels).cols(2), {"shared_axes": False},
                   mpl={"sublabel_format": "", "hspace": 0.3})


def side_by_side(*figures, cols=2) -> hv.Layout:
    """Figures in rows of ``cols``, spaced so that colour-bar labels clear the next panel's axis.

    Under bokeh each figure is resized (a copy) so that a row fits in :data:`WIDTH_PX`.
    """
    cols = min(len(figures), checks.integer("cols", cols, 1))
    width = WIDTH_PX // cols
    frame = width - AXIS_PX - COLORBAR_PX
    fitted = [f.opts({"Image": {"frame_width": frame}} if f.traverse(lambda e: e, [hv.Image])
                     else {type(f).__name__: {"width": width}}, backend="bokeh", clone=True) for f in figures]
    return _styled(hv.Layout(fitted).cols(cols), mpl={"sublabel_format": "", "hspace": 1.1, "vspace": 0.6})


class _WithPicture:
    """A widget and a PNG of its view: see :func:`with_picture`."""

    def __init__(self, widget, png: bytes):
        self.widget, self.png = widget, png

    def _repr_mimebundle_(self, **kwargs):
        import base64

        return {**self.widget._repr_mimebundle_(**kwargs), "image/png": base64.b64encode(self.png).decode()}


def with_picture(widget, dpi=80):
    """``widget`` for display, with a static picture of its view for exports of the notebook.

    JupyterLab shows the live widget; a static export (nbconvert HTML, as ``make report`` writes)
    cannot, and shows instead the PNG of the view (:meth:`widgets.CubeViewer.export_png`; for a
    panel, that of its viewer).

    Parameters
    ----------
    widget : CubeViewer, GeneratorPanel or DenoisePanel
        A panel must show a viewer already (after Generate, or a run).
    dpi : int
        Resolution of the picture, in [30, 600].
    """
    import tempfile

    viewer = getattr(widget, "viewer", widget)
    if viewer is None:
        raise ValueError(f"widget ({type(widget).__name__}) shows no cube yet: generate or run it "
                         "before with_picture")
    if not hasattr(viewer, "export_png"):
        raise TypeError(f"widget must be a CubeViewer, GeneratorPanel or DenoisePanel, got "
                        f"{type(widget).__name__}")
    with tempfile.TemporaryDirectory() as tmp:
        png = viewer.export_png(Path(tmp) / "view.png", dpi=dpi).read_bytes()
    return _WithPicture(widget, png)


def render_mpl(obj, pad_inches=0.1):
    """``obj`` rendered with matplotlib, its canvas fitted to its artists (what :func:`save_png` writes).

    HoloViews places titles, tick labels and colour bars where they may stick out of the figure;
    here the figure is resized and its contents moved so that every artist lies inside it, with
    ``pad_inches`` to spare (as ``savefig(bbox_inches="tight")``, but on the figure itself).

    Returns
    -------
    matplotlib.figure.Figure
        Close it (``pyplot.close``) when done.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = hv.render(obj, backend="matplotlib")
    tight = fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer())   # inches
    (w, h), (x0, y0) = fig.get_size_inches(), (tight.x0 - pad_inches, tight.y0 - pad_inches)
    new_w, new_h = tight.width + 2 * pad_inches, tight.height + 2 * pad_inches

    def moved(x, y):   # a figure-fraction position on the new canvas
        return (x * w - x0) / new_w, (y * h - y0) / new_h

    for ax in fig.axes:
        box = ax.get_position()
        ax.set_position([*moved(box.x0, box.y0), box.width * w / new_w, box.height * h / new_h])
    for text in fig.texts:
        text.set_position(moved(*text.get_position()))
    fig.set_size_inches(new_w, new_h)
    return fig


def save_png(obj, path, dpi=120) -> Path:
    """Render ``obj`` with the matplotlib backend and write it as a PNG, atomically.

    Parameters
    ----------
    obj : holoviews object
        A figure of this module (or any HoloViews object).
    path : str or path-like
        Target file; its folder must exist.
    dpi : int
        Resolution, in [30, 600].

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from matplotlib import pyplot as plt

    if not 30 <= dpi <= 600:
        raise ValueError(f"dpi={dpi!r} is outside the valid range [30, 600]")
    path = Path(path)
    fig = render_mpl(obj)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return path
