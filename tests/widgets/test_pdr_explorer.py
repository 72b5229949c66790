"""The PdrExplorer and its model: a click picks a pixel; the pixel's posterior and best model
are those of the fit; bad input is named."""
import numpy as np
import pytest

from galcube_lib.pdr.posterior import ParameterGrid, parameter_maps
from widgets import PdrExplorer, PdrModel

BOUNDS = [[1.0, 7.0], [-0.5, 6.5]]
LINES = ["A", "B", "C"]


def forward(points):
    x, y = (np.asarray(points, dtype=float) - [4.0, 3.0]).T
    return np.stack([-4 + 0.6 * x + 0.3 * y, -5 + 0.9 * y - 0.1 * x ** 2, -6 + 1.1 * x - 0.4 * y], 1)


@pytest.fixture(scope="module")
def fitted():
    yy, xx = np.mgrid[:6, :8]
    truth = np.stack([2.0 + 0.5 * xx, 1.0 + 0.6 * yy])
    model = 10 ** forward(truth.reshape(2, -1).T).T.reshape(3, 6, 8)
    grid = ParameterGrid(forward, BOUNDS)
    result = parameter_maps(model, 0.05 * model, grid, fit_scale=False, progress=False)
    return truth, model, grid, result


def test_a_pixel_shows_its_fit(fitted):
    truth, model, grid, result = fitted
    m = PdrModel(LINES, model, 0.05 * model, result, grid, fit_scale=False)
    m.select(pixel=(2, 5))
    s = m.pixel_summary()
    assert s["best"] == pytest.approx(tuple(truth[:, 2, 5]), abs=0.03)
    assert np.allclose(s["model"], model[:, 2, 5], rtol=0.1)          # noise-free: the model is the data
    assert s["posterior"].sum() == pytest.approx(1.0)
    assert s["quantiles"]["log_n"][1] == pytest.approx(truth[0, 2, 5], abs=0.03)
    m.select(pixel=(99, -3), parameter="log_G0")                      # clipped to the map
    assert m.pixel == (5, 0) and np.array_equal(m.parameter_map(), result.median[1], equal_nan=True)
    with pytest.raises(ValueError, match="parameter"):
        m.select(parameter="T_gas")
    with pytest.raises(ValueError, match="3 lines"):
        PdrModel(LINES, model[:2], 0.05 * model[:2], result, grid)


def test_a_click_on_the_map_selects_the_pixel(fitted):
    from bokeh.events import Tap

    truth, model, grid, result = fitted
    explorer = PdrExplorer(LINES, model, 0.05 * model, result, grid, fit_scale=False)
    sky = explorer._layout.children[0]
    for callback in sky._event_callbacks["tap"]:
        callback(Tap(model=sky, x=6.4, y=1.7))
    assert explorer.model.pixel == (1, 6)
    assert explorer._marker.data == {"x": [6.5], "y": [1.5]}
    assert "pixel (y, x) = (1, 6)" in explorer.info.value
    assert explorer._lines.data["model"] == pytest.approx(list(model[:, 1, 6]), rel=0.1)
    explorer.parameter.value = "log_G0"
    assert np.array_equal(explorer._map.data["image"][0], result.median[1], equal_nan=True)
