"""The PDR model grids read from pdrtpy: axes, units, the derived FIR, the held-out split."""
import numpy as np
import pytest

pytest.importorskip("pdrtpy", reason="the PDR model grids come from pdrtpy: pip install 'galcube[pdr]'")

from galcube_lib.pdr.grids import GridInterpolator, every_other_node, load_grid  # noqa: E402


@pytest.fixture(scope="module")
def wk2020():
    return load_grid("wk2020")


def test_axes_are_log_n_and_log_G0_in_habing(wk2020):
    log_n, log_G0 = wk2020.axes
    # WK2020: n = 10-10^7 cm^-3, FUV = 10^-3.3-10^3.7 erg s^-1 cm^-2 = 10^-0.5-10^6.5 Habing
    assert log_n[0] == pytest.approx(1.0) and log_n[-1] == pytest.approx(7.0)
    assert log_G0[0] == pytest.approx(-0.5, abs=1e-3) and log_G0[-1] == pytest.approx(6.5, abs=1e-3)
    assert np.allclose(np.diff(log_n), 0.125) and np.allclose(np.diff(log_G0), 0.125)
    assert wk2020.log_intensity.shape == (len(log_n), len(log_G0), len(wk2020.lines))
    assert {"CII_158", "OI_63", "CO_10", "13CO_10", "FIR"} <= set(wk2020.lines)
    assert "TS" not in wk2020.lines          # a temperature, not an intensity


def test_fir_is_the_absorbed_fuv_reemitted(wk2020):
    """A slab that absorbs a FUV flux G0 x 1.6e-3 erg s^-1 cm^-2 re-emits it in the FIR from both
    faces: I_FIR ~ 2 G0 1.6e-3 / (4 pi) erg s^-1 cm^-2 sr^-1 (Kaufman et al. 1999), to within
    the absorbed optical photons and the escaping FUV (here at most 0.16 dex)."""
    fir = wk2020.log_intensity[..., wk2020.lines.index("FIR")]
    expected = np.log10(2 * 1.6e-3 / (4 * np.pi)) + wk2020.axes[1][None, :]
    assert np.abs(fir - expected).max() < 0.2
    assert np.abs(np.median(fir - expected)) < 0.05


def test_every_other_node_holds_out_the_odd_nodes(wk2020):
    coarse, points, values = every_other_node(wk2020)
    assert coarse.log_intensity.shape[:2] == (25, 29)
    assert len(points) == 49 * 57 - 25 * 29       # every node inside the coarse span, less the coarse ones
    interpolator = GridInterpolator(coarse, "linear")
    assert np.array_equal(interpolator.bounds, coarse.bounds) and interpolator.lines == wk2020.lines
    on_nodes = interpolator(coarse.nodes())
    assert np.allclose(on_nodes, coarse.log_intensity.reshape(-1, len(wk2020.lines)))
    i = np.searchsorted(wk2020.axes[0], points[:, 0])
    j = np.searchsorted(wk2020.axes[1], points[:, 1])
    assert np.all((i % 2 == 1) | (j % 2 == 1))
    assert np.allclose(values, wk2020.log_intensity[i, j])


def test_bad_input_is_named(wk2020):
    with pytest.raises(ValueError, match="model_set"):
        load_grid("meudon")
    with pytest.raises(ValueError, match="not in model set 'wk2020'.*CII_158"):
        wk2020.select(["CII_158", "HCN_10"])
    assert wk2020.select(["FIR", "CII_158"]).lines == ("FIR", "CII_158")
