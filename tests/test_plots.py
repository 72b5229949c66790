"""widgets.plots: the data inside each figure against metrics/display/pandas, and PNG output."""
import math
import struct

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

import galcube_lib as gl
from galcube_lib import display, metrics
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
