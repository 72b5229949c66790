"""Datasets and parallel generation under bad input (issue 12): lost, truncated and altered
chunks are named and repaired exactly, two writers cannot share a store, a script without a
main guard is told so, and every public argument is checked."""
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest

from galcube_lib import bench
from galcube_lib.bench import protocol
from galcube_lib._util import parallel as _parallel
from galcube_lib.datasets.generate import _writer_lock, generate_dataset
from galcube_lib.datasets.store import MAX_CUBES, IncompleteCubeError, open_dataset

SEED = 7


def _chunk(path, name, index):
    return os.path.join(path, name, "c", str(index), "0", "0", "0")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A complete store of 3 cubes (noisy stored) and its cubes, read before any damage."""
    path = str(tmp_path_factory.mktemp("pristine") / "s.zarr")
    generate_dataset(path, 3, rng=SEED, workers=0, progress=False)
    ds = open_dataset(path)
    return path, ds.clean[:], ds.noisy[:]


@pytest.fixture
def store(pristine, tmp_path):
    """A fresh copy of the pristine store, to damage."""
    path = str(tmp_path / "s.zarr")
    shutil.copytree(pristine[0], path)
    return path


def _damage(file, how):
    data = open(file, "rb").read()
    if how == "deleted":
        os.remove(file)
    elif how == "truncated":
        open(file, "wb").write(data[:len(data) // 2])
    else:  # one bit flipped, same size
        open(file, "wb").write(data[:100] + bytes([data[100] ^ 1]) + data[101:])


@pytest.mark.parametrize("how, why", [("deleted", "missing"), ("truncated", "checksum"),
                                      ("altered", "checksum")])
def test_a_damaged_chunk_is_named_on_read_found_by_verify_and_rewritten_exactly(
        pristine, store, how, why):
    from galcube_lib.datasets.torch_data import StoreDataset

    _, clean, noisy = pristine
    file = _chunk(store, "clean", 1)
    _damage(file, how)
    ds = open_dataset(store)
    assert ds.verify() == [1]
    for read in (lambda: ds.clean[1], lambda: ds.clean[:], lambda: ds.clean[[2, 1]],
                 lambda: ds.pair(1), lambda: StoreDataset(ds)[1]):
        with pytest.raises(IncompleteCubeError, match="cube 1 .*damaged") as err:
            read()
        assert file in str(err.value) and why in str(err.value)
        assert "generate_dataset again with the same arguments" in str(err.value)
    np.testing.assert_array_equal(ds.clean[0], clean[0])   # the other cubes still read
    np.testing.assert_array_equal(ds.noisy[1], noisy[1])

    generate_dataset(store, 3, rng=SEED, workers=0, progress=False)
    assert ds.verify() == []
    np.testing.assert_array_equal(ds.clean[:].view(np.uint32), clean.view(np.uint32))
    np.testing.assert_array_equal(ds.noisy[:].view(np.uint32), noisy.view(np.uint32))


def test_lost_chunks_of_a_clean_only_store_fail_the_recreated_noisy_cube_too(tmp_path):
    path = str(tmp_path / "clean_only.zarr")
    generate_dataset(path, 2, rng=SEED, workers=0, store_noisy=False, progress=False)
    before = open_dataset(path).noisy[0]
    os.remove(_chunk(path, "clean", 0))
    ds = open_dataset(path)
    assert ds.verify() == [0]
    with pytest.raises(IncompleteCubeError, match="cube 0 .*missing"):
        ds.noisy[0]   # never noise added to the NaN fill value
    generate_dataset(path, 2, rng=SEED, workers=0, store_noisy=False, progress=False)
    np.testing.assert_array_equal(ds.noisy[0], before)


def test_verify_lists_unfinished_and_damaged_cubes(store):
    os.remove(os.path.join(store, "params.csv"))      # as if killed before the end
    os.remove(os.path.join(store, "params", "000002.json"))
    os.remove(_chunk(store, "noisy", 0))
    ds = open_dataset(store)
    assert ds.missing() == [2] and ds.verify() == [0, 2]


# ------------------------------------------------------------------------------ two writers

def test_a_second_writer_is_refused_naming_the_path(store):
    with _writer_lock(store):
        with pytest.raises(RuntimeError, match="being written by another generate_dataset") \
                as err:
            generate_dataset(store, 3, rng=SEED, workers=0, progress=False)
        assert store in str(err.value) and f"PID {os.getpid()}" in str(err.value)
    generate_dataset(store, 3, rng=SEED, workers=0, progress=False)   # released on exit


def test_the_lock_of_a_killed_writer_is_not_stale(store):
    code = textwrap.dedent(f"""
        import time
        from galcube_lib.datasets.generate import _writer_lock
        with _writer_lock({store!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RuntimeError, match=f"PID {proc.pid} "):
            generate_dataset(store, 3, rng=SEED, workers=0, progress=False)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    generate_dataset(store, 3, rng=SEED, workers=0, progress=False)
    assert open_dataset(store).verify() == []


def test_two_writers_started_together_one_writes_the_other_is_told(tmp_path, pristine):
    path = str(tmp_path / "race.zarr")
    # both processes import first and start together at a barrier (under load one import can
    # take seconds longer, and the other then wrote its whole store before the second began)
    code = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        import galcube_lib as gl
        simulate = gl.simulate
        gl.simulate = lambda *a, **k: (time.sleep(1.0), simulate(*a, **k))[1]
        generate = gl.generate_dataset
        barrier = Path({str(tmp_path)!r})
        (barrier / f"ready-{{os.getpid()}}").touch()
        while len(list(barrier.glob("ready-*"))) < 2:
            time.sleep(0.01)
        try:
            generate({path!r}, 3, rng={SEED}, workers=0, progress=False)
        except RuntimeError as err:
            print(err)
            sys.exit(3)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 3], outs
    assert any(f"{path} is being written by another generate_dataset" in o for o in outs), outs
    np.testing.assert_array_equal(open_dataset(path).clean[:], pristine[1])


# ------------------------------------------------------------------------ no main guard

@pytest.mark.slow
def test_workers_from_a_script_without_main_guard_say_so(tmp_path):
    script = tmp_path / "no_guard.py"
    script.write_text(textwrap.dedent(f"""
        import galcube_lib as gl
        gl.generate_dataset({str(tmp_path / "s.zarr")!r}, 2, rng=0, workers=2, progress=False)
    """))
    start = time.monotonic()
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=180, cwd=tmp_path)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: the 2 worker processes of the local dask cluster "
                           "failed to start"), out.stderr[-3000:]
    assert 'if __name__ == "__main__":' in last and "workers=1" in last
    assert time.monotonic() - start < 120


def test_a_spawned_worker_reimporting_the_script_is_stopped_before_it_starts_a_cluster(
        monkeypatch):
    import multiprocessing

    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(RuntimeError, match='workers=2 .*if __name__ == "__main__":'):
        _parallel.check_workers(2)
    assert _parallel.check_workers(1) == 1      # in-process work stays possible there
    with pytest.raises(RuntimeError, match="processes=2 asked for from a new worker process"):
        _parallel.check_not_reimporting("processes", 2)


def test_nothing_to_do_starts_no_cluster(monkeypatch):
    import distributed

    monkeypatch.setattr(distributed, "LocalCluster", None)   # would fail if called
    _parallel.run_batches(print, (), [], workers=2)


# ------------------------------------------------------------------------ bad arguments

@pytest.mark.parametrize("kwargs, error, name", [
    ({"path": None}, TypeError, "path"),
    ({"path": 42}, TypeError, "path"),
    ({"n_cubes": MAX_CUBES + 1}, ValueError, "n_cubes"),
    ({"rng": 1.5}, TypeError, "rng"),
    ({"rng": "seed"}, TypeError, "rng"),
    ({"rng": -1}, ValueError, r"rng=-1 is outside the valid range \[0, inf\)"),
    ({"rng": True}, TypeError, "rng"),
    ({"rng": np.random.default_rng(0)}, TypeError, "rng .*Generator cannot be split reproducibly"),
    ({"workers": 4 * (os.cpu_count() or 1) + 1}, ValueError, "workers"),
    ({"workers": 2.0}, TypeError, "workers"),
    ({"prior": "benchmark"}, TypeError, "prior"),
    ({"prior": {"n_pix": 32}}, TypeError, "prior"),
    ({"progress": "no"}, TypeError, "progress"),
    ({"batch_size": 1.5}, TypeError, "batch_size"),
])
def test_bad_arguments_fail_before_anything_is_written(tmp_path, kwargs, error, name):
    args = {"path": tmp_path / "s", "n_cubes": 2, "workers": 0, "progress": False, **kwargs}
    start = time.monotonic()
    with pytest.raises(error, match=name):
        generate_dataset(**args)
    assert time.monotonic() - start < 1
    assert not (tmp_path / "s").exists()


def test_a_file_is_not_a_store(tmp_path):
    file = tmp_path / "cubes.zarr"
    file.write_text("not a store")
    for call in (lambda: generate_dataset(file, 2, workers=0, progress=False),
                 lambda: open_dataset(file)):
        with pytest.raises(ValueError, match="cubes.zarr exists and is not a galcube dataset"):
            call()
    assert file.read_text() == "not a store"
    with pytest.raises(TypeError, match="path"):
        open_dataset(None)
    for call in (open_dataset, lambda p: generate_dataset(p, 2, workers=0)):
        with pytest.raises(ValueError, match="path is empty"):
            call("")


@pytest.mark.parametrize("key", [1.5, "1", True, (0, 3), [[0, 1]], None, [0.5]])
def test_cubes_are_indexed_by_integers_only(pristine, key):
    ds = open_dataset(pristine[0])
    with pytest.raises(TypeError, match="int, a slice or a list of ints"):
        ds.clean[key]
    with pytest.raises(TypeError, match="index"):
        ds.pair(slice(0, 2))
    assert ds.clean[np.int64(2)].shape == ds.shape[1:]
    assert ds.noisy[[]].shape == (0, *ds.shape[1:])


def test_torch_datasets_check_their_arguments(pristine):
    from galcube_lib.datasets.torch_data import SimulatedDataset, StoreDataset

    with pytest.raises(TypeError, match="path_or_dataset"):
        StoreDataset(3)
    with pytest.raises(TypeError, match="transform"):
        StoreDataset(pristine[0], transform="flip")
    with pytest.raises(TypeError, match="prior"):
        SimulatedDataset("benchmark", length=2)
    with pytest.raises(TypeError, match="rng"):
        SimulatedDataset(length=2, rng=0.5)
    with pytest.raises(TypeError, match="rng .*Generator cannot be split reproducibly"):
        SimulatedDataset(length=2, rng=np.random.default_rng(0))
    for key in (1.5, "0"):
        with pytest.raises(TypeError, match="index"):
            SimulatedDataset(length=2)[key]


@pytest.mark.parametrize("kwargs, error, name", [
    ({"n_per_bin": 10**9}, ValueError, "n_per_bin"),
    ({"methods": []}, ValueError, "methods"),
    ({"methods": 3}, TypeError, "methods"),
    ({"methods": ["gaussian", "median"]}, ValueError, "median"),
    ({"options": {"gausian": {"fwhm": 2}}}, ValueError, "options.*gausian"),
    ({"options": {"gaussian": 3}}, TypeError, r"options\['gaussian'\]"),
    ({"options": "fast"}, TypeError, "options"),
    ({"subsample": {"lcea": 1}}, ValueError, "subsample.*lcea"),
    ({"workers": 10**6}, ValueError, "workers"),
    ({"client": "tcp://localhost:8786"}, TypeError, "client"),
    ({"progress": "no"}, TypeError, "progress"),
])
def test_benchmark_arguments_fail_before_any_work(kwargs, error, name):
    start = time.monotonic()
    with pytest.raises(error, match=name):
        bench.run(**{"n_per_bin": 2, "methods": ("gaussian",), "workers": 0, **kwargs})
    assert time.monotonic() - start < 1


def test_one_method_name_is_one_method():
    assert protocol._methods("ist") == ("ist",)   # not the methods 'i', 's' and 't'
    assert protocol._methods(m for m in ("pca", "ica")) == ("pca", "ica")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_store_without_write_permission_names_the_store(store):
    lock = os.path.join(store, ".writer.lock")     # as made by another user
    os.chmod(lock, 0o444)
    os.chmod(store, 0o555)
    try:
        with pytest.raises(PermissionError, match=f"no permission to write the dataset at {store}"):
            generate_dataset(store, 3, rng=SEED, workers=0, progress=False)
    finally:
        os.chmod(store, 0o755)


def test_damaged_store_metadata_is_named(pristine, store):
    os.remove(os.path.join(store, "clean", "zarr.json"))
    with pytest.raises(IncompleteCubeError, match="array 'clean' of .*s.zarr is missing"):
        open_dataset(store).clean[0]
    generate_dataset(store, 3, rng=SEED, workers=0, progress=False)   # restores it
    np.testing.assert_array_equal(open_dataset(store).clean[:], pristine[1])

    root = os.path.join(store, "zarr.json")
    with open(root) as f:
        text = f.read()
    with open(root, "w") as f:
        f.write(text[:20])
    for call in (lambda: open_dataset(store),
                 lambda: generate_dataset(store, 3, rng=SEED, workers=0, progress=False)):
        with pytest.raises(ValueError, match="s.zarr is damaged: its zarr.json cannot be read"):
            call()


def test_reading_more_cubes_than_memory_holds_is_refused_before_allocating(pristine,
                                                                           monkeypatch):
    import psutil

    ds = open_dataset(pristine[0])
    cube_bytes = int(np.prod(ds.shape[1:])) * 4
    memory = psutil.virtual_memory()._replace(available=2 * cube_bytes + 1)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory)
    assert ds.clean[:2].shape == (2, *ds.shape[1:])
    with pytest.raises(ValueError, match="reading 3 cubes at once needs about 4.22 MiB of "
                                         "memory, more than .* read fewer at a time"):
        ds.noisy[:]


def test_benchmark_tables_check_what_they_are_given():
    import pandas as pd

    rows = pd.DataFrame({"method": ["ist", "ist"], "class": ["resolved"] * 2,
                         "snr_bin": ["(4,5]"] * 2, "nrmse": [0.2, 0.4]})
    table = bench.summary(rows, figures="nrmse")      # one figure by name, not 'n', 'r', ...
    assert table.loc[("ist", "resolved", "(4,5]"), ("mean", "nrmse")] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="results has no column 'flux_conservation'"):
        bench.plot(rows)
    with pytest.raises(ValueError, match="'rmse'"):
        bench.summary(rows, figures=("rmse",))
    with pytest.raises(TypeError, match="results must be the DataFrame"):
        bench.summary(rows.to_dict())


def test_workers_are_limited_only_where_this_machine_runs_them():
    too_many = 4 * (os.cpu_count() or 1) + 1
    with pytest.raises(ValueError, match=f"workers={too_many} is more than 4 processes per CPU"):
        _parallel.check_workers(too_many)
    client = types.SimpleNamespace(submit=None)       # any dask Client: workers is ignored
    assert _parallel.check_workers(too_many, client) == too_many


def test_a_file_system_without_locks_warns_and_still_writes(store, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    os.remove(_chunk(store, "noisy", 2))
    with pytest.warns(UserWarning, match="cannot lock .*s.zarr .*nothing stops another") as rec:
        generate_dataset(store, 3, rng=SEED, workers=0, progress=False)
    assert rec[0].filename == __file__
    assert open_dataset(store).verify() == []
