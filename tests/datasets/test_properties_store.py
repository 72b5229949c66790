"""Datasets with property maps: the stored maps are those of the cube's own scene, resumes keep
them, and a store without them says so."""
import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.datasets.draw import cube_seeds
from galcube_lib.inference.pairs import store_pairs

PRIOR = gl.BenchmarkPrior(n_pix=32, n_chan=16, channel_kms=40.0, n_galaxies=(1, 1), v_max_kms=(50.0, 100.0))


def test_stored_maps_are_the_scenes_maps(tmp_path):
    path = gl.generate_dataset(tmp_path / "p", n_cubes=3, rng=4, workers=0, prior=PRIOR, progress=False,
                               properties="kinematic")
    store = gl.open_dataset(path)
    _, scene_seed, _ = cube_seeds(np.random.SeedSequence(4), 1)
    scene = PRIOR.draw(np.random.default_rng(scene_seed))
    exact = gl.property_maps(scene.components, scene.observation, scatter=False)
    maps = store.maps(1)
    np.testing.assert_allclose(maps["sigma_line"], exact.sigma_line, rtol=1e-6, atol=1e-6 * exact.sigma_line.max())
    # the scatter is drawn: the ratio to the exact relation is log-normal, not 1
    on = exact.sigma_sfr > 1e-3 * exact.sigma_sfr.max()
    spread = np.log10(maps["sigma_sfr"][on] / exact.sigma_sfr[on]).std()
    assert 0.1 < spread < 0.6
    again = gl.generate_dataset(path, n_cubes=3, rng=4, workers=0, prior=PRIOR, progress=False,
                                properties="kinematic")
    np.testing.assert_array_equal(gl.open_dataset(again).maps(1)["sigma_sfr"], maps["sigma_sfr"])
    with pytest.raises(ValueError, match="properties"):
        gl.generate_dataset(path, n_cubes=3, rng=4, workers=0, prior=PRIOR, progress=False, properties="moment0")
    pairs = store_pairs(store, [0, 2])
    assert [p.galaxy for p in pairs] == [0, 2]
    np.testing.assert_array_equal(pairs[1].noisy.data, store.pair(2)[0])
    np.testing.assert_array_equal(pairs[1].maps.sigma_sfr, store.maps(2)["sigma_sfr"])


def test_a_store_without_maps_says_so(tmp_path):
    path = gl.generate_dataset(tmp_path / "n", n_cubes=1, rng=0, workers=0, prior=PRIOR, progress=False)
    with pytest.raises(ValueError, match="no property maps"):
        gl.open_dataset(path).maps(0)
    with pytest.raises(ValueError, match="properties="):
        gl.generate_dataset(tmp_path / "x", n_cubes=1, workers=0, prior=PRIOR, properties="sfr")
