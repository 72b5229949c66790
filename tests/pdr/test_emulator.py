"""The PDR emulator: it learns a grid, saves and loads to the same outputs, selects lines, and
the shipped one reproduces the WK2020 grid it was trained on."""
import numpy as np
import pytest

pytest.importorskip("pdrtpy", reason="the PDR model grids come from pdrtpy: pip install 'galcube[pdr]'")

from galcube_lib.pdr.emulator import load_emulator, save_emulator, train_emulator  # noqa: E402
from galcube_lib.pdr.grids import every_other_node, load_grid  # noqa: E402


@pytest.fixture(scope="module")
def grid():
    return load_grid("wk2020").select(["CII_158", "CO_10", "FIR"])


def test_a_small_emulator_learns_the_grid_and_round_trips(grid, tmp_path):
    coarse, points, values = every_other_node(grid)
    emulator = train_emulator(coarse, width=32, depth=2, adam_steps=400, lbfgs_steps=200, progress=False)
    error = np.abs(emulator(points) - values)
    spread = values.std(0)                  # what predicting the mean would miss by (about 1-2 dex)
    assert np.all(np.median(error, 0) < 0.05 * spread), (np.median(error, 0), spread)
    assert emulator.card["lines"] == list(grid.lines)
    path = save_emulator(emulator, tmp_path / "tiny.pt", figures={"note": "test"})
    back = load_emulator(path)
    assert np.array_equal(back(points), emulator(points))            # float32 weights, both ways
    assert back.card["figures"] == {"note": "test"} and back.lines == grid.lines
    subset = back.select(["FIR", "CII_158"])
    assert np.array_equal(subset(points), emulator(points)[:, [2, 0]])
    with pytest.raises(ValueError, match="not in this model set"):
        back.select(["OI_63"])


def test_bad_training_settings_are_named(grid):
    with pytest.raises(ValueError, match="width"):
        train_emulator(grid, width=2)
    with pytest.raises(ValueError, match="no PDR emulator .meudon.*wk2020"):
        load_emulator("meudon")


def test_the_shipped_emulator_reproduces_its_grid():
    full = load_grid("wk2020")
    emulator = load_emulator("wk2020")
    assert emulator.lines == full.lines
    assert np.allclose(emulator.bounds, full.bounds)
    error = np.abs(emulator(full.nodes()) - full.log_intensity.reshape(-1, len(full.lines)))
    assert np.median(error) < 0.01 and np.percentile(error, 99) < 0.1
    figures = emulator.card["figures"]["held_out_every_other_node"]
    assert set(figures) == {"linear", "cubic", "emulator"}
