"""Dataset generation into zarr stores, reading back, resuming, and the torch datasets."""
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import galcube_lib as gl
from galcube_lib.datasets import IncompleteCubeError, generate_dataset, open_dataset

N = 8
SEED = 123


def _direct(i, n=N, seed=SEED):
    """Cube i simulated by hand from the documented seeding scheme."""
    scene_seed, noise_seed = np.random.SeedSequence(seed).spawn(n)[i].spawn(2)
    scene = gl.BenchmarkPrior().draw(np.random.default_rng(scene_seed))
    clean = gl.simulate(scene.components, scene.observation)
    noisy = gl.add_noise(clean, peak_snr=scene.peak_snr, kind=scene.noise_kind,
                         rng=np.random.default_rng(noise_seed))
    return scene, clean.data, noisy.data


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint32)


def _assert_same(a, b):
    """Two stores hold the same cubes bit for bit and the same parameter table."""
    a, b = open_dataset(a), open_dataset(b)
    assert a.shape == b.shape and not a.missing() and not b.missing()
    np.testing.assert_array_equal(_bits(a.clean[:]), _bits(b.clean[:]))
    np.testing.assert_array_equal(_bits(a.noisy[:]), _bits(b.noisy[:]))
    pd.testing.assert_frame_equal(a.params, b.params, check_exact=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted in-process store of N cubes, noisy stored."""
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    assert generate_dataset(path, N, rng=SEED, workers=1, progress=False) == str(path)
    return str(path)


def test_store_equals_direct_simulation(reference):
    ds = open_dataset(reference)
    assert len(ds) == N and ds.shape == (N, *gl.BenchmarkPrior().shape)
    assert ds.prior.to_dict() == gl.BenchmarkPrior().to_dict()
    table = ds.params
    assert len(table) == N and list(table["index"]) == list(range(N))
    for i in (0, N - 1):
        scene, clean, noisy = _direct(i)
        got = ds.clean[i]
        assert got.dtype == np.float32 and got.shape == gl.BenchmarkPrior().shape
        np.testing.assert_array_equal(_bits(got), _bits(clean))
        np.testing.assert_array_equal(_bits(ds.noisy[i]), _bits(noisy))
        row = table.iloc[i]
        for name, value in scene.params().items():
            assert row[name] == value or (pd.isna(value) and pd.isna(row[name])), name
        assert row["peak_snr"] == scene.peak_snr
        assert (row["seed_entropy"], row["seed_spawn_key"]) == (str(SEED), str(i))
    np.testing.assert_array_equal(ds.clean[-1], ds.clean[N - 1])
    np.testing.assert_array_equal(ds.noisy[2:5], np.stack([ds.noisy[k] for k in (2, 3, 4)]))
    np.testing.assert_array_equal(ds.clean[[5, 1]], np.stack([ds.clean[5], ds.clean[1]]))
    assert not np.array_equal(ds.clean[0], ds.clean[1])
    with pytest.raises(IndexError):
        ds.clean[N]


@pytest.mark.slow
def test_dask_workers_and_batches_give_the_same_store(reference, tmp_path):
    from dask.distributed import Client

    environ = dict(os.environ)
    generate_dataset(tmp_path / "cluster", N, rng=SEED, workers=2, batch_size=3,
                     progress=False)
    assert dict(os.environ) == environ  # dask's worker settings (OMP_NUM_THREADS=1) undone
    _assert_same(reference, tmp_path / "cluster")
    with Client(processes=False, n_workers=1, threads_per_worker=2,
                dashboard_address=None) as client:
        generate_dataset(tmp_path / "client", N, rng=SEED, client=client, batch_size=1,
                         progress=False)
        assert client.status == "running"  # a given client is left open
    _assert_same(reference, tmp_path / "client")


def test_unstored_noisy_is_recreated_exactly(reference, tmp_path, capfd):
    path = tmp_path / "clean_only"
    generate_dataset(path, N, rng=SEED, workers=1, store_noisy=False, progress=True)
    assert f"{N}/{N}" in capfd.readouterr().err
    assert not (path / "noisy").exists()
    _assert_same(reference, path)
    ds = open_dataset(path)
    noisy, clean = ds.pair(3)
    np.testing.assert_array_equal(_bits(noisy), _bits(open_dataset(reference).noisy[3]))
    np.testing.assert_array_equal(clean, ds.clean[3])


def test_no_output_without_progress(tmp_path, capfd):
    generate_dataset(tmp_path / "quiet", 1, workers=0, progress=False)
    assert capfd.readouterr() == ("", "")


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(reference, tmp_path):
    path = tmp_path / "killed"
    # Slow each cube down so the kill lands part-way through.
    code = textwrap.dedent(f"""
        import time
        from galcube_lib.datasets import draw
        from galcube_lib.datasets.generate import generate_dataset
        simulate = draw.simulate
        draw.simulate = lambda *a, **k: (time.sleep(0.4), simulate(*a, **k))[1]
        generate_dataset({str(path)!r}, {N}, rng={SEED}, workers=1, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    markers = path / "params"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if markers.is_dir() and len(list(markers.glob("*.json"))) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "generation finished before it was killed"

    ds = open_dataset(path)
    missing = ds.missing()
    assert 0 < len(missing) < N
    assert len(ds.params) == N - len(missing)
    assert not (path / "params.csv").exists()
    with pytest.raises(IncompleteCubeError, match=f"cube {missing[0]} .*incomplete"):
        ds.clean[missing[0]]
    with pytest.raises(IncompleteCubeError):
        ds.noisy[:]
    # A torn write: chunks of an unfinished cube hold garbage; resuming must redo them.
    import zarr
    zarr.open_group(path, mode="r+")["clean"][missing[-1]] = 7.0
    with pytest.raises(ValueError, match="n_cubes"):
        generate_dataset(path, N + 1, rng=SEED, workers=1, progress=False)

    generate_dataset(path, N, rng=SEED, workers=2, progress=False)
    _assert_same(reference, path)
    assert not ds.missing()


def test_mismatched_rerun_raises(reference):
    class OtherPrior(gl.BenchmarkPrior):
        def to_dict(self):
            return {**super().to_dict(), "variant": "other"}

    before = open_dataset(reference).params
    for kwargs, name in (({"n_cubes": N + 1}, "n_cubes"), ({"rng": SEED + 1}, "seed"),
                         ({"store_noisy": False}, "store_noisy"),
                         ({"prior": OtherPrior()}, "prior")):
        args = {"n_cubes": N, "rng": SEED, "workers": 1, "progress": False, **kwargs}
        with pytest.raises(ValueError, match=name) as err:
            generate_dataset(reference, **args)
        assert reference in str(err.value)
    # the same arguments resume a complete store: nothing to do, nothing changed
    generate_dataset(reference, N, rng=SEED, workers=1, progress=False)
    pd.testing.assert_frame_equal(open_dataset(reference).params, before)


def test_unseeded_store_records_its_entropy(tmp_path):
    generate_dataset(tmp_path / "a", 2, rng=None, workers=1, progress=False)
    entropy = json.loads(open_dataset(tmp_path / "a").params["seed_entropy"][0])
    assert entropy > 2**64  # fresh OS entropy, not a small default
    generate_dataset(tmp_path / "a", 2, rng=None, workers=1, progress=False)  # resumes
    generate_dataset(tmp_path / "b", 2, rng=np.random.SeedSequence(entropy), workers=1,
                     progress=False)
    _assert_same(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize("kwargs, error, name", [
    ({"n_cubes": 0}, ValueError, "n_cubes"),
    ({"n_cubes": -3}, ValueError, "n_cubes"),
    ({"n_cubes": 2.5}, TypeError, "n_cubes"),
    ({"workers": -1}, ValueError, "workers"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"rng": -1}, ValueError, "rng"),
    ({"rng": np.random.default_rng(0)}, TypeError, "rng"),
    ({"store_noisy": "yes"}, TypeError, "store_noisy"),
    ({"client": "localhost:8786"}, TypeError, "client"),
])
def test_bad_arguments_name_the_parameter(tmp_path, kwargs, error, name):
    args = {"path": tmp_path / "s", "n_cubes": 2, "workers": 0, "progress": False, **kwargs}
    with pytest.raises(error, match=name):
        generate_dataset(**args)
    assert not (tmp_path / "s").exists()


def test_paths_that_are_not_stores(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        open_dataset(tmp_path / "nowhere")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not a cube")
    for call in (lambda: open_dataset(other),
                 lambda: generate_dataset(other, 2, workers=0, progress=False)):
        with pytest.raises(ValueError, match="other.*not a galcube dataset"):
            call()
    assert os.listdir(other) == ["notes.txt"]


def test_import_galcube_lib_stays_light():
    code = "import sys, galcube_lib.datasets; print(sorted(m for m in sys.modules " \
           "if m.split('.')[0] in ('torch', 'dask', 'distributed', 'zarr', 'bokeh')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_store_dataset_and_loader(reference):
    import torch
    from torch.utils.data import DataLoader

    from galcube_lib.datasets.torch_data import StoreDataset

    ds = StoreDataset(reference)
    store = open_dataset(reference)
    assert len(ds) == N
    noisy, clean = ds[-1]
    assert noisy.shape == clean.shape == (1, *store.shape[1:])
    assert noisy.dtype == clean.dtype == torch.float32
    assert torch.equal(noisy[0], torch.from_numpy(store.noisy[N - 1]))
    assert torch.equal(clean[0], torch.from_numpy(store.clean[N - 1]))

    flipped = StoreDataset(store, transform=lambda n, c: (n.flip(-1), c.flip(-1)))
    assert torch.equal(flipped[2][1], ds[2][1].flip(-1))

    batches = list(DataLoader(ds, batch_size=3, num_workers=0))
    assert [b[0].shape[0] for b in batches] == [3, 3, 2]
    assert batches[0][0].shape == (3, 1, *store.shape[1:])
    assert torch.equal(torch.cat([b[1] for b in batches])[:, 0], torch.from_numpy(store.clean[:]))


def test_simulated_dataset_is_deterministic_and_matches_the_store(reference):
    import torch

    from galcube_lib.datasets.torch_data import SimulatedDataset

    ds = SimulatedDataset(length=N, rng=SEED)
    assert len(ds) == N
    noisy, clean = ds[5]
    assert noisy.shape == clean.shape == (1, *gl.BenchmarkPrior().shape)
    assert noisy.dtype == clean.dtype == torch.float32
    store = open_dataset(reference)
    assert torch.equal(noisy[0], torch.from_numpy(store.noisy[5]))
    assert torch.equal(clean[0], torch.from_numpy(store.clean[5]))
    # what a DataLoader worker gets: a pickled copy, drawing the same item
    again = pickle.loads(pickle.dumps(ds))[-3]
    assert torch.equal(again[0], noisy) and torch.equal(again[1], clean)
    assert not torch.equal(ds[4][1], clean)
    assert not torch.equal(SimulatedDataset(length=N, rng=SEED + 1)[5][1], clean)
    with pytest.raises(IndexError):
        ds[N]


def test_a_prior_with_three_galaxies_keeps_all_three_in_the_table(tmp_path):
    prior = gl.BenchmarkPrior(n_pix=32, n_chan=16, n_galaxies=(3, 3))
    generate_dataset(tmp_path / "three", 1, rng=4, workers=1, prior=prior, progress=False)
    params = open_dataset(tmp_path / "three").params
    scene_seed, _ = np.random.SeedSequence(4).spawn(1)[0].spawn(2)
    scene = prior.draw(np.random.default_rng(scene_seed))
    assert params.loc[0, "n_galaxies"] == 3
    assert [params.loc[0, f"g{i}_flux_jy_kms"] for i in range(3)] == pytest.approx(
        [g.flux_jy_kms for g in scene.components])
