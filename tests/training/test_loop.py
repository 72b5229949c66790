"""The shared training loop's pieces: seeds of the data (SPEC 7), and shipping a run (export,
with ship its deprecated name)."""
import numpy as np
import pytest
import torch

from galcube_lib.denoise.deep import weights as _models
from galcube_lib.training import spectral as ts
from galcube_lib.training.loop import keyed
from galcube_lib._util.rng import seed_sequence

pytestmark = pytest.mark.deep

TINY = dict(steps=2, batch_size=8, cubes_per_group=1, group_steps=2, val_size=1, val_every=1,
            seed=5, width=4, depth=1, heads=1, ff=8)


def state(seq):
    return seq.generate_state(4)


def test_an_int_root_keys_as_seed_sequence_did():
    np.testing.assert_array_equal(state(keyed(seed_sequence(7), 2 ** 32 - 2, 3)),
                                  state(np.random.SeedSequence(7, spawn_key=(2 ** 32 - 2, 3))))
    seq = np.random.SeedSequence(7, spawn_key=(1,))
    np.testing.assert_array_equal(state(keyed(seq, 4)),
                                  state(np.random.SeedSequence(7, spawn_key=(1, 4))))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run")
    ts.train_spectral(out, progress=False, **TINY)
    return out


def test_export_ships_a_run_folder_or_its_checkpoint_measured(run, tmp_path, monkeypatch):
    monkeypatch.setenv("GALCUBE_MODELS", str(tmp_path))
    path = ts.export(run, "tiny", n_cubes=1, notes={"why": "test"})
    assert path == tmp_path / "tiny.pt"
    state_, card = _models.load("tiny")
    best = torch.load(run / "best.pt", weights_only=False)
    for k, v in best["model"].items():  # half precision keeps the weights to ~1e-3
        torch.testing.assert_close(state_[k], v, rtol=2e-3, atol=1e-4)
    assert card["step"] == best["step"] and card["why"] == "test"
    assert card["cpu_time_s"] is not None and card["wall_time_s"] > 0
    figures = card["evaluation"]
    assert figures["n_cubes"] == 1 and "rng=0" in figures["command"]
    assert figures == {**ts.evaluate_spectral(path, 1), "command": figures["command"],
                       "time_s": figures["time_s"]}
    again = ts.export(run / "best.pt", "tiny2", n_cubes=1)
    assert _models.load(again)[1]["evaluation"]["rms_reduction_pooled"] == \
        figures["rms_reduction_pooled"]


def test_ship_is_the_deprecated_name_of_export(run, tmp_path, monkeypatch):
    monkeypatch.setenv("GALCUBE_MODELS", str(tmp_path))
    with pytest.warns(DeprecationWarning, match="ship.* is deprecated, use export"):
        path = ts.ship(run / "best.pt", "old", n_cubes=1)
    with pytest.warns(DeprecationWarning, match="seed= is deprecated, use rng="):
        seeded = ts.export(run, "seeded", n_cubes=1, seed=0)
    assert _models.load(path)[1]["evaluation"]["rms_reduction_pooled"] == \
        _models.load(seeded)[1]["evaluation"]["rms_reduction_pooled"]
