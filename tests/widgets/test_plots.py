"""widgets.plots: the data inside each figure against metrics/display/pandas, and PNG output."""
import math
import re
import struct

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

import galcube_lib as gl
from galcube_lib import metrics
from galcube_lib.report import display
from widgets import plots as P


@pytest.fixture(scope="module")
def cubes():
    obs = gl.Observation(n_pix=48, n_chan=16, channel_kms=40.0, pixel_kpc=0.5, beam_fwhm_px=(4.0, 2.5),
                         beam_pa_deg=30.0)
    clean = gl.simulate([gl.Galaxy(pa_deg=30.0, offset_kpc=(2.0, -1.0), r_eff_kpc=2.0)], obs)
    return clean, gl.add_noise(clean, peak_snr=6.0, rng=0)


def grid_values(image, dx, dy):
    """The image's values as a (ny, nx) array in pixel order, read through its coordinates."""
    xs, ys, zs = (image.dimension_values(i) for i in range(3))
    out = np.full((dy.size, dx.size), np.inf)
    out[np.abs(ys[:, None] - dy).argmin(1), np.abs(xs[:, None] - dx).argmin(1)] = zs
    return out


def panels(layout):
    """The layout's panels in order."""
    return list(layout)


def curves(overlay):
    """The overlay's plain curves (hv.Area is a Curve subclass, left out)."""
    return [e for e in overlay.traverse(lambda e: e, [hv.Curve]) if type(e) is hv.Curve]


def opts(element, backend):
    return hv.Store.lookup_options(backend, element, "plot").kwargs


# ----------------------------------------------------------------------------- moment maps

def test_moment_maps_hold_the_moments_on_east_left_offsets(cubes):
    clean, noisy = cubes
    mask = clean.clean > 0.05 * clean.clean.max()
    layout = P.moment_maps(noisy, mask=mask)
    expected = metrics.moments(noisy.data, noisy.velocity_kms, mask)
    dx, dy = display.sky_offsets_arcsec(noisy)
    assert len(layout) == 3 and dx[0] > dx[-1]
    for panel, moment in zip(layout, expected):
        image = panel.get(0)
        np.testing.assert_allclose(grid_values(image, dx, dy), moment, equal_nan=True)
        assert opts(image, "bokeh")["invert_xaxis"] and opts(image, "matplotlib")["invert_xaxis"]
        assert [d.label for d in image.kdims] == ["ΔRA", "ΔDec"]
    for backend in ("bokeh", "matplotlib"):
        assert "RA 10h00m00.00s, Dec +2d12m00.0s" in opts(layout, backend)["title"]
    named = P.moment_maps(noisy, mask=mask, name="ist")
    assert [opts(p.get(0), "bokeh")["title"].split(":")[0] for p in named] == ["ist"] * 3


def test_moment_maps_draw_the_beam(cubes):
    _, noisy = cubes
    ellipse = panels(P.moment_maps(noisy))[0].get(1)
    beam = noisy.record["observation"]["beam_fwhm_arcsec"]
    assert (ellipse.width, ellipse.height) == pytest.approx(beam)
    # a line at PA 30 points (sin 30, cos 30) in (ΔRA, ΔDec): 60 deg from the +ΔRA axis
    assert ellipse.orientation % math.pi == pytest.approx(math.radians(60.0))
    dx, dy = display.sky_offsets_arcsec(noisy)
    assert ellipse.x > 0.5 * dx.max() and ellipse.y < 0.5 * dy.min()   # lower left: east, south


def test_moment_maps_velocity_range_and_one_channel(cubes):
    _, noisy = cubes
    vel = noisy.velocity_kms
    keep = (vel >= -100) & (vel <= 100)
    mask = np.ones(noisy.shape, bool)
    m0 = panels(P.moment_maps(noisy, mask=mask, velocity_range=(100, -100)))[0].get(0)
    dx, dy = display.sky_offsets_arcsec(noisy)
    np.testing.assert_allclose(grid_values(m0, dx, dy), noisy.data[keep].sum(0) * 40.0, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="velocity_range"):
        P.moment_maps(noisy, velocity_range=(1000, 2000))
    single = noisy.crop(((5, 6), (0, 48), (0, 48))).replace(clean=None, record={})
    layout = P.moment_maps(single, mask=np.ones(single.shape, bool))
    assert len(layout) == 1
    np.testing.assert_allclose(grid_values(panels(layout)[0].get(0), dx, dy), single.data[0] * 40.0,
                               rtol=1e-5)


def test_moment_maps_of_a_lazy_cube_are_the_in_memory_ones(cubes, tmp_path):
    """A lazy cube with blanks and no record (its emission mask lazy too, or given): the same
    panels and colour limits as the cube in memory."""
    _, noisy = cubes
    data = noisy.data.copy()
    data[:, :, :6] = np.nan
    real = noisy.replace(data=data, clean=None, noise=None, record={})
    lazy_cube = gl.read_fits(real.to_fits(tmp_path / "real.fits"), lazy=True)
    assert lazy_cube.lazy
    dx, dy = display.sky_offsets_arcsec(real)
    for mask in (None, display.emission_mask(lazy_cube)):
        got, want = P.moment_maps(lazy_cube, mask=mask), P.moment_maps(real)
        for a, b in zip(panels(got), panels(want)):
            np.testing.assert_allclose(grid_values(a.get(0), dx, dy), grid_values(b.get(0), dx, dy),
                                       rtol=1e-6, atol=1e-9, equal_nan=True)
            assert opts(a.get(0), "bokeh")["clim"] == pytest.approx(opts(b.get(0), "bokeh")["clim"])


def test_moment_maps_of_a_blanked_cube_without_record(cubes):
    _, noisy = cubes
    data = noisy.data.copy()
    data[:, :, :6] = np.nan
    real = noisy.replace(data=data, clean=None, noise=None, record={})
    layout = P.moment_maps(real)
    assert len(layout) == 3
    for panel in panels(layout):
        assert np.isnan(grid_values(panel.get(0), *display.sky_offsets_arcsec(real))[:, :6]).all()
    hv.render(layout, backend="bokeh")


# ----------------------------------------------------------------------------- spectra, PV

def test_spectra_curves_and_channel_marker(cubes):
    _, noisy = cubes
    vel = noisy.velocity_kms
    specs = {"a": np.arange(16.0), "b": -np.arange(16.0)}
    overlay = P.spectra(specs, vel, channel=4)
    assert [c.label for c in curves(overlay)] == ["a", "b"]
    for curve, spec in zip(curves(overlay), specs.values()):
        np.testing.assert_array_equal(curve.dimension_values(0), vel)
        np.testing.assert_array_equal(curve.dimension_values(1), spec)
    assert overlay.traverse(lambda e: e.data, [hv.VLine]) == [vel[4]]
    with pytest.raises(ValueError, match="channel"):
        P.spectra(specs, vel, channel=16)
    with pytest.raises(ValueError, match="spectra"):
        P.spectra({"short": np.ones(3)}, vel)


def test_pv_diagram_is_the_pv_slice(cubes):
    _, noisy = cubes
    image = P.pv_diagram(noisy, center_yx=(22.0, 28.0), pa_deg=120.0, width_px=3)
    pv, offsets = display.pv_slice(noisy.data, (22.0, 28.0), 120.0, width_px=3,
                                   pixel_arcsec=noisy.pixel_arcsec)
    inside = np.isfinite(pv).any(axis=0)
    pv, offsets = pv[:, inside], offsets[inside]
    vel = noisy.velocity_kms
    for k in (0, 7, 15):
        for j in (0, offsets.size // 2, offsets.size - 1):
            assert image[offsets[j], vel[k]] == pytest.approx(pv[k, j], nan_ok=True)
    assert [d.unit for d in image.kdims] == ["arcsec", "km/s"]


def test_pv_diagram_default_is_the_major_axis_receding_side_positive(cubes):
    clean, _ = cubes
    image = P.pv_diagram(clean)
    assert "PA 30°" in opts(image, "matplotlib")["title"]
    ys, vs, values = (image.dimension_values(i) for i in range(3))
    receding = values[(ys > 0.2) & np.isfinite(values)]
    weights = np.where(ys > 0.2, np.nan_to_num(values), 0)
    assert receding.max() > 0 and (weights * vs).sum() / weights.sum() > 0   # positive offsets recede


def test_pv_diagram_title_rounds_the_width(cubes):
    title = opts(P.pv_diagram(cubes[0], width_px=4.59278), "matplotlib")["title"]
    assert title.endswith("(width 4.59 px)")


def test_side_by_side_keeps_named_pv_diagrams_in_one_row(cubes):
    clean, noisy = cubes
    row = P.side_by_side(P.pv_diagram(clean, name="truth"), P.pv_diagram(noisy, name="noisy"))
    assert len(row) == 2
    assert [opts(p, "bokeh")["title"].split(":")[0] for p in row] == ["truth", "noisy"]
    np.testing.assert_allclose(row[1].dimension_values(2, flat=False)[::-1],
                               P.pv_diagram(noisy).dimension_values(2, flat=False)[::-1])


# ----------------------------------------------------------------------------- channel grid

def test_channel_grid_shares_limits_and_labels_velocities(cubes):
    _, noisy = cubes
    layout = P.channel_grid(noisy, n=6)
    picks = display.line_channels(noisy, 6)
    clim = display.stretch_limits(noisy.data[picks])
    dx, dy = display.sky_offsets_arcsec(noisy)
    assert len(layout) == 6
    for panel, k in zip(layout, picks):
        image = panel.get(0)
        np.testing.assert_allclose(grid_values(image, dx, dy), noisy.data[k])
        assert hv.Store.lookup_options("matplotlib", image, "plot").kwargs["title"].startswith(
            f"{noisy.velocity_kms[k]:.1f} km/s")
        assert opts(image, "bokeh")["clim"] == clim
        assert isinstance(panel.get(1), hv.Ellipse)


def test_channel_grid_rows_of_cubes_share_the_first_cubes_channels_and_scale(cubes):
    clean, noisy = cubes
    layout = P.channel_grid({"noisy": noisy, "truth": clean}, n=4)
    picks = display.line_channels(noisy, 4)
    clim = display.stretch_limits(noisy.data[picks])
    dx, dy = display.sky_offsets_arcsec(noisy)
    assert len(layout) == 8
    for panel, (cube, k) in zip(layout, [(c, k) for c in (noisy, clean) for k in picks]):
        np.testing.assert_allclose(grid_values(panel.get(0), dx, dy), cube.data[k])
        assert opts(panel.get(0), "bokeh")["clim"] == clim
    with pytest.raises(ValueError, match="shape"):
        P.channel_grid({"a": noisy, "b": noisy.crop([(0, 16), (0, 40), (0, 40)])})


# ----------------------------------------------------------------------------- benchmark curves

@pytest.fixture(scope="module")
def table():
    rows = []
    for method, shift in (("ist", 0.0), ("pca", 10.0)):
        for snr in (2.7, 3.2, 4.5, 9.0):
            for value in (1.0, 2.0, 3.0, 4.0, 50.0):
                rows.append({"method": method, "peak_snr": snr, "class": "resolved",
                             "nrmse": value / 10 + shift, "flux_conservation": value + shift})
    return pd.DataFrame(rows)


def test_benchmark_curves_are_binned_medians(table):
    layout = P.benchmark_curves(table)
    centres = {2.7: 2.75, 3.2: 3.25, 4.5: 4.5, 9.0: 9.0}
    for panel, figure, reference in zip(layout, ("nrmse", "flux_conservation"), (1.0, 100.0)):
        assert panel.traverse(lambda e: e.data, [hv.HLine]) == [reference]
        expected = table.groupby(["method", "peak_snr"])[figure].median()
        for curve in curves(panel):
            want = expected[curve.label]
            np.testing.assert_allclose(curve.dimension_values(0), [centres[s] for s in want.index])
            np.testing.assert_allclose(curve.dimension_values(1), want.to_numpy())
        bands = panel.traverse(lambda e: e, [hv.Area])
        np.testing.assert_allclose(bands[0].dimension_values(1), table[table.method == "ist"]
                                   .groupby("peak_snr")[figure].quantile(0.25))


def test_benchmark_curves_use_the_snr_bin_column_and_filter_class(table):
    labelled = table.assign(snr_bin=pd.cut(table.peak_snr, [2.5, 3, 3.5, 4, 5, 6, 8, 10]).map(
        lambda b: f"({b.left:g},{b.right:g}]"), peak_snr=np.nan)
    curve = curves(panels(P.benchmark_curves(labelled))[0])[0]
    np.testing.assert_allclose(curve.dimension_values(1), [0.3, 0.3, 0.3, 0.3])
    with pytest.raises(ValueError, match="source_class"):
        P.benchmark_curves(table, source_class="big")
    assert not curves(panels(P.benchmark_curves(table, source_class="unresolved"))[0])


# ----------------------------------------------------------------------------- PNG output

@pytest.mark.slow
def test_save_png_writes_a_png_atomically(cubes, tmp_path):
    _, noisy = cubes
    path = P.save_png(P.moment_maps(noisy), tmp_path / "moments.png", dpi=60)
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    width, height = struct.unpack(">II", raw[16:24])
    assert width > 2 * height > 300       # three panels side by side
    assert [p.name for p in tmp_path.iterdir()] == ["moments.png"]
    with pytest.raises(ValueError, match="dpi"):
        P.save_png(P.spectra({"a": np.ones(16)}, noisy.velocity_kms), tmp_path / "x.png", dpi=0)
    assert [p.name for p in tmp_path.iterdir()] == ["moments.png"]


def test_benchmark_bands_have_their_curves_colour_in_static_figures(table):
    import matplotlib.colors as mcolors

    fig = hv.render(P.benchmark_curves(table), backend="matplotlib")
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_label() in ("ist", "pca")]
    bands = [c for c in ax.collections if type(c).__name__.startswith("FillBetween")]
    assert len(lines) == len(bands) == 2
    for line, band in zip(lines, bands):
        np.testing.assert_allclose(band.get_facecolor()[0][:3], mcolors.to_rgb(line.get_color()))


# ----------------------------------------------------------------------------- every figure is readable

UNITLESS = {"peak SNR", "normalised RMSE"}   # dimensionless axes, named as such


FIGURES = {   # one figure of every builder, as the notebooks use them: (clean, noisy, table) -> figure
    "moment_maps": lambda clean, noisy, table: P.moment_maps(noisy),
    "moment_maps one channel": lambda clean, noisy, table: P.moment_maps(
        noisy.crop(((5, 6), (0, 48), (0, 48))).replace(clean=None)),
    "spectra": lambda clean, noisy, table: P.spectra({"a": np.ones(16), "b": np.zeros(16)},
                                                     noisy.velocity_kms, 3),
    "pv_diagram": lambda clean, noisy, table: P.pv_diagram(noisy),
    "channel_grid": lambda clean, noisy, table: P.channel_grid(noisy, n=4),
    "channel_grid rows": lambda clean, noisy, table: P.channel_grid({"noisy": noisy, "truth": clean}, n=3),
    "benchmark_curves": lambda clean, noisy, table: P.benchmark_curves(table),
    "side_by_side": lambda clean, noisy, table: P.side_by_side(
        *(P.pv_diagram(c, name=n) for n, c in (("a", clean), ("b", noisy), ("c", clean), ("d", noisy)))),
    "sky_image": lambda clean, noisy, table: P.sky_image(
        noisy.data[8], noisy, hv.Dimension("i", unit="Jy/beam"), "one channel", "inferno", (0.0, 1.0)),
}


def _has_unit(label):
    return label in UNITLESS or bool(re.search(r"[\[(][^\])]+[\])]\s*$", label))


def test_every_builder_is_checked():
    assert {name.split()[0] for name in FIGURES} == set(P.__all__) - {"save_png", "render_mpl", "with_picture"}


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_has_titles_units_and_colour_bars_and_nothing_clipped(cubes, table, name):
    """Per plot: a title, axis labels with units, and for images a colour bar with a unit (on
    the object); and in the rendered matplotlib figure every artist inside the canvas."""
    from matplotlib import pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig_obj = FIGURES[name](*cubes, table)
    plots = list(fig_obj) if isinstance(fig_obj, hv.Layout) else [fig_obj]
    colorbars = 0
    for plot in plots:
        element = plot.get(0) if isinstance(plot, hv.Overlay) else plot
        for backend in ("bokeh", "matplotlib"):
            assert opts(element, backend).get("title") or opts(plot, backend).get("title"), (name, backend)
        if isinstance(element, hv.Image):
            assert all(d.unit for d in element.kdims), element.kdims
            assert element.vdims[0].unit, f"{name}: colour bar without a unit"
            colorbars += opts(element, "matplotlib").get("colorbar", False)
        else:
            labels = (opts(plot, "matplotlib").get("xlabel") or element.kdims[0].pprint_label,
                      opts(plot, "matplotlib").get("ylabel") or element.vdims[0].pprint_label)
            assert all(_has_unit(label) for label in labels), (name, labels)
    assert colorbars or not any(isinstance(p.get(0) if isinstance(p, hv.Overlay) else p, hv.Image)
                                for p in plots)
    fig = P.render_mpl(fig_obj)
    try:
        agg = FigureCanvasAgg(fig)
        agg.draw()
        canvas, tight = fig.bbox, fig.get_tightbbox(agg.get_renderer()).transformed(fig.dpi_scale_trans)
        # every artist inside the figure (1 px of slack), so no PNG or page cuts anything off
        assert tight.x0 >= -1 and tight.y0 >= -1, (name, tight, canvas)
        assert tight.x1 <= canvas.x1 + 1 and tight.y1 <= canvas.y1 + 1, (name, tight, canvas)
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.get_images() + ax.lines]
        cbars = [ax for ax in fig.axes if ax not in axes and ax.get_ylabel()]
        for ax in axes:
            assert ax.get_title(), f"{name}: a panel without a title"
            assert _has_unit(ax.get_xlabel()) and _has_unit(ax.get_ylabel()), (name, ax.get_xlabel(), ax.get_ylabel())
        for ax in cbars:
            assert _has_unit(ax.get_ylabel()), (name, ax.get_ylabel())
        assert len(cbars) >= colorbars > 0 or not colorbars
        # no panel's labels, ticks or title run into another panel, nor a colour bar into the next
        renderer = agg.get_renderer()
        boxes = {ax: ax.get_tightbbox(renderer) for ax in axes + cbars}
        for i, a in enumerate(axes):
            for b in axes[i + 1:]:
                assert not boxes[a].overlaps(boxes[b]), (name, a.get_title(), b.get_title())
        for cb in cbars:
            beside = [ax for ax in axes if ax.bbox.x1 <= cb.bbox.x0 + 1
                      and ax.bbox.y0 < cb.bbox.y1 and cb.bbox.y0 < ax.bbox.y1]
            owner = max(beside, key=lambda ax: ax.bbox.x1)
            for ax in axes:
                assert ax is owner or not boxes[cb].overlaps(boxes[ax]), (name, cb.get_ylabel(), ax.get_title())
        # legends beside the plots, never over the curves
        for legend in [ax.get_legend() for ax in axes if ax.get_legend()]:
            extent = legend.get_window_extent(renderer)
            assert not any(extent.overlaps(ax.bbox) for ax in axes), name
    finally:
        plt.close(fig)


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_fits_a_notebook_width_under_bokeh(cubes, table, name):
    """A row of plots (frames, their y axes and colour bars) fits in WIDTH_PX, so that a notebook's
    output area and its HTML export cut nothing off (a 5-column channel grid, 4 PV diagrams), and
    legends sit beside the plots. The pixels of an axis and a colour bar were measured in Chromium."""
    from bokeh.models import ColorBar, GridPlot, Legend
    from bokeh.plotting import figure

    model = hv.render(FIGURES[name](*cubes, table), backend="bokeh")
    grids = list(model.select({"type": GridPlot}))
    cells = grids[0].children if grids else [(model, 0, 0)]
    rows = {}
    for fig, row, _ in cells:
        assert isinstance(fig, figure)
        assert not [r for r in fig.center if isinstance(r, Legend) and r.items], f"{name}: a legend over the plot"
        axis = P.AXIS_PX * any(a.visible for a in fig.left)
        bars = P.COLORBAR_PX * sum(isinstance(r, ColorBar) for r in fig.right)
        rows[row] = rows.get(row, 0) + (fig.frame_width + axis + bars if fig.frame_width else fig.width)
    assert max(rows.values()) <= P.WIDTH_PX, (name, rows)


# ----------------------------------------------------------------------------- widgets in static exports

@pytest.mark.slow
def test_with_picture_shows_the_view_in_an_html_export(cubes, tmp_path):
    """The live widget for Jupyter, and a PNG of its view that the report's HTML shows (the widget
    itself would be blank there: its JavaScript is not in the page)."""
    import base64

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from galcube_lib.report.notebooks import _export_html
    from widgets import CubeViewer

    viewer = CubeViewer(cubes[1].crop(((4, 12), (12, 36), (12, 36))))   # small: a quick picture
    bundle = P.with_picture(viewer, dpi=30)._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == viewer.widget.model_id
    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    cell = new_code_cell("plots.with_picture(viewer)", execution_count=1,
                         outputs=[new_output("execute_result", bundle, execution_count=1)])
    state = {"application/vnd.jupyter.widget-state+json": {   # as papermill saves it
        "state": {viewer.widget.model_id: {"model_name": "VBoxModel", "state": {}}},
        "version_major": 2, "version_minor": 0}}
    nb = new_notebook(cells=[cell], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"},
                                              "widgets": state})
    nbformat.write(nb, tmp_path / "w.ipynb")
    _export_html(tmp_path / "w.ipynb", tmp_path / "w.html")
    assert f'src="data:image/png;base64,{bundle["image/png"]}"' in (tmp_path / "w.html").read_text()


def test_with_picture_refuses_what_has_no_view(cubes):
    from widgets import DenoisePanel

    with pytest.raises(ValueError, match="widget .*DenoisePanel.* no cube yet"):
        P.with_picture(DenoisePanel(cubes[1]))
    with pytest.raises(TypeError, match="widget must be a CubeViewer"):
        P.with_picture(hv.Curve([]))
