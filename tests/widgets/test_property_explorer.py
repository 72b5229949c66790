"""PropertyExplorer: the maps and figures it shows are those of the chosen view and method."""
import numpy as np
import pytest

from galcube_lib.inference import pairs as P
from galcube_lib.inference.features import evaluated_spaxels
from galcube_lib.inference.scores import coverage
from widgets import PropertyExplorer, PropertyModel
from widgets._property_model import MAPS


@pytest.fixture(scope="module")
def pairs():
    return P.draw_pairs(2, views=2, rng=3, progress=False)


def _truth_plus(pairs, offset, sigma):
    out = []
    for p in pairs:
        true = np.log10(np.where(p.maps.sigma_sfr > 0, p.maps.sigma_sfr, 1.0))
        out.append((true + offset, np.full(true.shape, sigma)))
    return out


def test_model_maps_and_figures_follow_the_choice(pairs):
    model = PropertyModel(pairs, {"exact": _truth_plus(pairs, 0.0, 0.1), "off": _truth_plus(pairs, 0.2, 0.1)})
    model.select(index=2, method="off")
    maps = model.maps()
    on = evaluated_spaxels(pairs[2].maps.sigma_line) & (pairs[2].maps.sigma_sfr > 0)
    assert np.all(np.isnan(maps[MAPS[0]][~on]))
    np.testing.assert_allclose(maps[MAPS[1]][on] - maps[MAPS[0]][on], 0.2)
    np.testing.assert_allclose(maps[MAPS[3]][on], 2.0)     # 0.2 dex off, sigma 0.1
    rows = {r["method"]: r for r in model.summary()}
    assert rows["exact"]["scatter_dex"] == pytest.approx(0.0, abs=1e-12) and rows["exact"]["coverage"] == 1.0
    assert rows["off"]["scatter_dex"] == pytest.approx(0.2) and rows["off"]["coverage"] == 0.0
    mean, sigma = _truth_plus(pairs, 0.05, 0.1)[2]
    true = np.log10(pairs[2].maps.sigma_sfr[on])
    assert coverage(mean[on], sigma[on], true, np.full(on.sum(), 5.0))["all"] == 1.0
    assert len(model.labels) == 4 and "peak SNR" in model.labels[0]


def test_bad_choices_are_named(pairs):
    model = PropertyModel(pairs, {"exact": _truth_plus(pairs, 0.0, 0.1)})
    with pytest.raises(ValueError, match="index"):
        model.select(index=4)
    with pytest.raises(ValueError, match="method"):
        model.select(method="gpr")
    with pytest.raises(ValueError, match="one \\(mean, sigma\\)"):
        PropertyModel(pairs, {"short": _truth_plus(pairs[:2], 0.0, 0.1)})


def test_explorer_updates_on_the_dropdowns(pairs):
    explorer = PropertyExplorer(pairs, {"exact": _truth_plus(pairs, 0.0, 0.1), "off": _truth_plus(pairs, 0.2, 0.1)})
    explorer.view.value = 3
    explorer.method.value = "off"
    assert explorer.model.index == 3 and explorer.model.method == "off"
    assert "0.200" in explorer.table.value
    assert len(explorer.figure()) == 4
