"""Datasets of simulated cubes: parallel, resumable generation into a zarr store.

A store made by :func:`generate_dataset` is a zarr (v3) group holding

* ``clean`` and, unless ``store_noisy=False``, ``noisy``: float32 arrays of
  shape ``(n, v, y, x)``, one compressed chunk per cube, ending in its CRC-32C
  checksum (zarr's ``crc32c`` codec): a chunk that is lost, truncated or
  altered is found without decompressing it (:meth:`CubeStore.verify`);
* ``params/{i:06d}.json``: the parameters of cube ``i``, written atomically
  after its chunks, so a cube is complete exactly when this file exists;
* ``params.csv``: all the parameter rows, written once every cube is complete;
* group attribute ``galcube``: the prior, the root seed and the layout, which
  a re-run must match;
* ``.writer.lock``: locked (``flock``) while a :func:`generate_dataset` call
  writes the store, so a second writer is refused; the operating system
  releases it when the writing process ends, however it ends.

Cube ``i`` is drawn from ``np.random.SeedSequence(rng).spawn(n)[i]``: its
first spawned child seeds the scene, the second the noise. The store is
therefore the same, bit for bit, whatever the workers, batches or restarts.
"""
from __future__ import annotations

import contextlib
import json
import numbers
import os
import warnings

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib.io.files import as_path, write_text
from galcube_lib._util.parallel import WORKER_ENV, check_workers, run_batches

FORMAT = "galcube-dataset/1"
_PARAMS_DIR = "params"
_TABLE = "params.csv"
_LOCK = ".writer.lock"
_SEED_COLUMNS = {"seed_entropy": str, "seed_spawn_key": str}
#: most cubes of one store (one marker file each; 10 million benchmark cubes are ~0.7 TB)
MAX_CUBES = 10_000_000


class IncompleteCubeError(RuntimeError):
    """A cube of the store is not complete: not written yet, or a chunk of it lost or damaged."""


def _check_path(path) -> str:
    as_path("path", path)
    if not os.fspath(path):
        raise ValueError("path is empty; give the directory of the store")
    return os.fspath(path)


def _check_prior(prior):
    """The prior, or a TypeError: workers rebuild it from ``to_dict()``, so it must be one of
    the registered priors (``galcube_lib.sim.prior.PRIORS``)."""
    import galcube_lib as gl
    from galcube_lib.sim.prior import PRIORS

    if prior is None:
        return gl.BenchmarkPrior()
    if not isinstance(prior, tuple(PRIORS.values())):
        raise TypeError(f"prior must be a population such as gl.BenchmarkPrior(), got "
                        f"{prior!r} ({type(prior).__name__})")
    return prior


# --------------------------------------------------------------- seeds ----

def _root_seed(rng):
    """The root SeedSequence for ``rng`` (int >= 0, None or SeedSequence)."""
    if isinstance(rng, np.random.SeedSequence):
        return np.random.SeedSequence(rng.entropy, spawn_key=rng.spawn_key,
                                      pool_size=rng.pool_size)
    if rng is None:
        return np.random.SeedSequence()
    if isinstance(rng, np.random.Generator) or not isinstance(rng, numbers.Integral):
        raise TypeError(f"rng must be an int >= 0, None or a numpy SeedSequence, got {rng!r} "
                        f"({type(rng).__name__}); a Generator cannot be split reproducibly "
                        f"per cube")
    return np.random.SeedSequence(check.integer("rng", rng, 0))


def _seed_to_json(seed):
    return {"entropy": json.dumps(seed.entropy),
            "spawn_key": list(seed.spawn_key), "pool_size": seed.pool_size}


def _seed_from_json(d):
    return np.random.SeedSequence(json.loads(d["entropy"]),
                                  spawn_key=tuple(d["spawn_key"]),
                                  pool_size=d["pool_size"])


def _cube_seeds(root, index):
    """Child ``index`` of ``root`` and its (scene, noise) SeedSequences."""
    child = np.random.SeedSequence(root.entropy,
                                   spawn_key=(*root.spawn_key, index),
                                   pool_size=root.pool_size)
    return child, *child.spawn(2)


def _simulate(prior, root, index, with_noise=True):
    """Simulate cube ``index``: its parameter row, clean and noisy Cubes.

    The noisy Cube is None when ``with_noise`` is False.
    """
    import galcube_lib as gl

    child, scene_seed, noise_seed = _cube_seeds(root, index)
    scene = prior.draw(np.random.default_rng(scene_seed))
    clean = gl.simulate(scene.components, scene.observation)
    noisy = (_add_noise(clean, scene, noise_seed) if with_noise else None)
    row = {"index": index, **scene.params(max_galaxies=prior.n_galaxies[1]), "peak_snr": scene.peak_snr,
           "seed_entropy": json.dumps(child.entropy),
           "seed_spawn_key": ",".join(map(str, child.spawn_key))}
    return row, clean, noisy


def _add_noise(clean, scene, noise_seed):
    import galcube_lib as gl

    return gl.add_noise(clean, peak_snr=scene.peak_snr, kind=scene.noise_kind,
                        rng=np.random.default_rng(noise_seed))


# ------------------------------------------------------------- markers ----

def _marker(path, index):
    return os.path.join(path, _PARAMS_DIR, f"{index:06d}.json")


def _done(path):
    """Indices of the cubes whose completion marker exists."""
    names = os.listdir(os.path.join(path, _PARAMS_DIR))
    return {int(n[:-5]) for n in names if n.endswith(".json")}


# ------------------------------------------------------------ generate ----

def _read_meta(path):
    """The ``galcube`` attributes of the store at ``path`` (None if absent)."""
    if not os.path.exists(os.path.join(path, "zarr.json")):
        if os.path.exists(path) and (not os.path.isdir(path)
                                     or set(os.listdir(path)) - {_LOCK}):
            raise ValueError(f"{path} exists and is not a galcube dataset; "
                             f"give the path of a new or existing dataset")
        return None
    import zarr

    try:
        meta = zarr.open_group(path, mode="r").attrs.get("galcube")
    except ValueError as err:  # zarr.json not JSON (truncated), or not zarr metadata
        raise ValueError(f"{path} is damaged: its zarr.json cannot be read ({err}); restore it "
                         f"from a copy, or generate the dataset again in a new path") from None
    if not meta or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is a zarr store but not a galcube dataset")
    return meta


def _check_same(path, old, new):
    for key in ("n_cubes", "shape", "store_noisy", "seed", "prior"):
        if json.dumps(old[key], sort_keys=True) != json.dumps(new[key],
                                                             sort_keys=True):
            what = ("a different prior" if key == "prior"
                    else f"{key}={old[key]!r}, not {new[key]!r}")
            raise ValueError(f"{path} was generated with {what}; use the same "
                             f"arguments to resume it, or a new path")


def _create(path, meta, new):
    """Make the store (``new``) or complete an interrupted creation."""
    import zarr

    group = (zarr.create_group(path, attributes={"galcube": meta}) if new
             else zarr.open_group(path, mode="r+"))
    for name in ("clean", "noisy")[:1 + meta["store_noisy"]]:
        if name not in group:
            group.create_array(name, shape=(meta["n_cubes"], *meta["shape"]),
                               chunks=(1, *meta["shape"]), dtype="float32",
                               fill_value=np.nan, compressors=_compressors())
    markers = os.path.join(path, _PARAMS_DIR)
    os.makedirs(markers, exist_ok=True)
    for name in os.listdir(markers):  # left by a killed run
        if name.endswith(".tmp"):
            os.remove(os.path.join(markers, name))


def _compressors():
    """Blosc/zstd with byte shuffle (fast and tight on mostly-empty cubes), then a CRC-32C
    of the compressed chunk (4 bytes; checked by zarr on every read, costs no measurable time)."""
    from zarr.codecs import BloscCodec, Crc32cCodec

    return (BloscCodec(cname="zstd", clevel=1, shuffle="shuffle", typesize=4), Crc32cCodec())


@contextlib.contextmanager
def _writer_lock(path):
    """Hold the writer lock of the store at ``path`` (a directory), or raise RuntimeError.

    An ``flock`` on ``path/.writer.lock``: the operating system releases it when the holder's
    file is closed or its process ends, even by SIGKILL, so a lock is never left stale. The
    file holds the last owner's PID and host, for the message; it is not removed (removing it
    would let a third writer lock a new file while a second holds the old one).
    """
    import fcntl
    import socket

    try:
        fd = os.open(os.path.join(path, _LOCK), os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        raise PermissionError(f"no permission to write the dataset at {path}; generate it "
                              f"where you can write (open_dataset only reads)") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode(errors="replace") or "another process"
            raise RuntimeError(
                f"{path} is being written by another generate_dataset call ({owner}); wait "
                f"for it to finish (then call again to check or complete the store), or "
                f"write to another path") from None
        except OSError as err:  # a file system without locks (e.g. Lustre mounted noflock)
            warnings.warn(f"cannot lock {path} ({err.strerror}): nothing stops another "
                          f"generate_dataset call from writing it at the same time",
                          stacklevel=4)
        else:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"PID {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield
    finally:
        os.close(fd)


def _write_batch(path, meta, indices):
    """Simulate cubes ``indices`` and write them to the store; worker task."""
    import zarr

    import galcube_lib as gl

    prior = gl.prior_from_dict(meta["prior"])
    root = _seed_from_json(meta["seed"])
    group = zarr.open_group(path, mode="r+")
    arrays = [group[n] for n in ("clean", "noisy")[:1 + meta["store_noisy"]]]
    for i in indices:
        row, *cubes = _simulate(prior, root, i, meta["store_noisy"])
        for array, cube in zip(arrays, cubes):
            array[i] = cube.data
        write_text(_marker(path, i), json.dumps(row, default=_to_json))
    return len(indices)


def _to_json(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"parameter value {value!r} is not JSON serialisable")


def generate_dataset(path, n_cubes, rng=0, workers=2, prior=None, client=None,
                     store_noisy=True, batch_size=None, progress=True):
    """Simulate ``n_cubes`` noisy/clean cube pairs into a zarr store.

    Parameters
    ----------
    path : str or os.PathLike
        Directory of the store. An existing store made with the same
        ``n_cubes``, ``prior``, ``rng`` and ``store_noisy`` is resumed:
        completed cubes whose chunks are intact (checksums read, not
        decompressed: about a second per GB) are kept, the others (re)written,
        bit for bit as the first time.
    n_cubes : int
        Number of cubes, 1 to ``MAX_CUBES``.
    rng : int, None or numpy.random.SeedSequence
        Root seed; cube ``i`` uses ``SeedSequence(rng).spawn(n_cubes)[i]``.
        None draws fresh entropy, recorded in the store (and, on an existing
        store, resumes it with its recorded seed).
    workers : int
        Worker processes of the local dask cluster made for this call, at
        most 4 per CPU core; 0 or 1 runs in this process without dask.
        Ignored with ``client``. dask starts its workers by importing the
        main script again: call this under ``if __name__ == "__main__":``
        in a script.
    prior : prior, optional
        Population to draw scenes from (default ``BenchmarkPrior()``).
    client : dask.distributed.Client, optional
        Existing client to run on; it is left open. Its workers run about
        twice as fast with the environment variables of ``WORKER_ENV``.
    store_noisy : bool
        Store the noisy cubes too. If False, :func:`open_dataset` re-creates
        them exactly from the clean cubes and the recorded seeds.
    batch_size : int, optional
        Cubes per dask task (default: up to 32, about 4 tasks per worker).
    progress : bool
        Show a tqdm progress bar over cubes.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    TypeError
        For an argument of the wrong type.
    ValueError
        For an argument out of its range, or a ``path`` holding something
        else than a store made with these arguments.
    RuntimeError
        If another call is writing the store now, or the worker processes
        cannot start (a script without ``if __name__ == "__main__":``).
    """
    path = _check_path(path)
    n_cubes = check.integer("n_cubes", n_cubes, 1, MAX_CUBES)
    workers = check_workers(workers, client)
    if batch_size is not None:
        batch_size = check.integer("batch_size", batch_size, 1)
    store_noisy = check.boolean("store_noisy", store_noisy)
    progress = check.boolean("progress", progress)
    seed = None if rng is None else _seed_to_json(_root_seed(rng))
    prior = _check_prior(prior)  # the default prior's first use imports astropy's cosmology
    _read_meta(path)  # a path holding something else fails before anything is written
    os.makedirs(path, exist_ok=True)
    with _writer_lock(path):
        old = _read_meta(path)
        meta = {"format": FORMAT, "n_cubes": n_cubes,
                "shape": [int(s) for s in prior.shape], "store_noisy": store_noisy,
                "seed": seed or (old["seed"] if old else _seed_to_json(_root_seed(None))),
                "prior": prior.to_dict()}
        meta = json.loads(json.dumps(meta))
        if old:
            _check_same(path, old, meta)
        _create(path, meta, new=old is None)

        done = _done(path)
        damaged = CubeStore(path, meta)._damaged(done)
        todo = sorted(set(range(n_cubes)) - done | set(damaged))
        _run(path, meta, todo, workers, client, batch_size, progress)
        if not os.path.exists(os.path.join(path, _TABLE)):
            table = _table_from_markers(path, range(n_cubes))
            write_text(os.path.join(path, _TABLE), table.to_csv(index=False))
    return path


def _run(path, meta, todo, workers, client, batch_size, progress):
    from tqdm.auto import tqdm

    n_total = meta["n_cubes"]
    with tqdm(total=n_total, initial=n_total - len(todo), unit="cube",
              disable=not progress, desc="generate_dataset") as bar:
        # In this process, one cube per batch: a killed run loses at most one cube's work.
        run_batches(_write_batch, (path, meta), todo, workers=workers, client=client,
                    batch_size=1 if client is None and workers <= 1 else batch_size,
                    on_result=bar.update)


def _table_from_markers(path, indices):
    import pandas as pd

    rows = []
    for i in indices:
        with open(_marker(path, i)) as f:
            rows.append(json.load(f))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- read ----

def open_dataset(path):
    """Open a store made by :func:`generate_dataset`.

    Parameters
    ----------
    path : str or os.PathLike
        Directory of the store.

    Returns
    -------
    CubeStore

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a galcube dataset.
    """
    path = _check_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no galcube dataset at {path}")
    meta = _read_meta(path)
    if meta is None:
        raise ValueError(f"{path} is not a galcube dataset (no zarr.json)")
    return CubeStore(path, meta)


class CubeStore:
    """A galcube dataset on disk (see :func:`open_dataset`).

    Attributes
    ----------
    clean, noisy : indexable
        ``store.clean[i]`` is cube ``i`` as a float32 ``(v, y, x)`` array;
        slices and lists of indices give ``(k, v, y, x)`` arrays. Reading
        an unfinished cube, or one whose chunk is lost or fails its checksum,
        raises :class:`IncompleteCubeError` naming the cube and the chunk.
    path : str
    shape : tuple
        ``(n, v, y, x)``.
    """

    def __init__(self, path, meta):
        self.path = path
        self.meta = meta
        self.shape = (meta["n_cubes"], *meta["shape"])
        self.clean = _Cubes(self, "clean")
        self.noisy = _Cubes(self, "noisy")
        self._prior = None
        self._arrays = {}

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return (f"CubeStore({self.path!r}, shape={self.shape}, "
                f"complete={len(self) - len(self.missing())}/{len(self)})")

    def __getstate__(self):
        return {"path": self.path, "meta": self.meta}

    def __setstate__(self, state):
        self.__init__(state["path"], state["meta"])

    @property
    def prior(self):
        """The prior the cubes were drawn from."""
        if self._prior is None:
            import galcube_lib as gl

            self._prior = gl.prior_from_dict(self.meta["prior"])
        return self._prior

    @property
    def params(self):
        """pandas.DataFrame: one parameter row per complete cube."""
        import pandas as pd

        table = os.path.join(self.path, _TABLE)
        if os.path.exists(table):
            exact = ({} if int(pd.__version__.split(".")[0]) >= 3
                     else {"float_precision": "round_trip"})
            return pd.read_csv(table, dtype=_SEED_COLUMNS, **exact)
        return _table_from_markers(self.path, sorted(_done(self.path)))

    def missing(self):
        """Indices of the cubes not completely written yet (sorted list).

        Only the completion records are looked at; :meth:`verify` also checks the chunks.
        """
        if os.path.exists(os.path.join(self.path, _TABLE)):
            return []
        return sorted(set(range(len(self))) - _done(self.path))

    def verify(self):
        """Indices of the cubes that are not complete and intact (sorted list; empty if all are).

        A cube is intact when every chunk of it exists and its bytes match the CRC-32C checksum
        written with them. The compressed bytes are read and checksummed, not decompressed
        (about a second per GB of store). Reading a cube checks its checksum anyway (zarr
        does, at no measurable cost) and that its chunk exists, so a lost or damaged cube is
        never returned as data; ``verify`` finds them all at once. Calling
        :func:`generate_dataset` again with the same arguments rewrites them.
        """
        missing = self.missing()
        return sorted({*missing, *self._damaged(set(range(len(self))) - set(missing))})

    def _damaged(self, indices):
        """The cubes among ``indices`` with a chunk lost or failing its checksum."""
        names = ("clean", "noisy")[:1 + self.meta["store_noisy"]]
        return sorted({i for i, *_ in self._bad_chunks(names, indices, check_bytes=True)})

    def _bad_chunks(self, names, indices, check_bytes):
        """(index, chunk file, what is wrong) of the chunks of arrays ``names`` and cubes
        ``indices`` that are missing, or, with ``check_bytes``, fail their CRC-32C (checked only
        if the store has them: stores made before checksums are checked for lost chunks only)."""
        bad = []
        for name in names:
            array = self._array(name)
            crc = check_bytes and "crc32c" in {c.to_dict()["name"] for c in array.metadata.codecs}
            for i in indices:
                file = os.path.join(self.path, name, *array.metadata.encode_chunk_key(
                    (i, *(0 for _ in self.shape[1:]))).split("/"))
                problem = _chunk_problem(file, crc)
                if problem:
                    bad.append((i, file, problem))
        return bad

    def pair(self, index):
        """Cube ``index`` as (noisy, clean) float32 arrays, one read each."""
        (index,) = self._indices(check.integer("index", index))
        clean = self._read("clean", [index])
        return self._noisy([index], clean)[0], clean[0]

    def _indices(self, key):
        n = len(self)
        if isinstance(key, slice):
            indices = list(range(*key.indices(n)))
        else:
            keys = None if isinstance(key, tuple) else np.asarray(key)
            if keys is None or keys.ndim > 1 or (keys.size and keys.dtype.kind not in "iu"):
                raise TypeError(
                    f"cubes are indexed by an int, a slice or a list of ints, got {key!r}; "
                    f"index the cube for channels or pixels: store.clean[i][v, y, x]")
            indices = [int(k) for k in keys.ravel()]
        for k in indices:
            if not -n <= k < n:
                raise IndexError(f"cube index {k} out of range for "
                                 f"{n} cubes")
        indices = [k % n for k in indices]
        check.memory(f"reading {len(indices)} cubes at once",
                     len(indices) * np.prod(self.shape[1:]) * 4.0,
                     "read fewer at a time (e.g. store.clean[i:i + 100]), or iterate over "
                     "galcube_lib.datasets.torch_data.StoreDataset")
        if not os.path.exists(os.path.join(self.path, _TABLE)):
            for k in indices:
                if not os.path.exists(_marker(self.path, k)):
                    raise IncompleteCubeError(
                        f"cube {k} of {self.path} is incomplete; re-run "
                        f"generate_dataset to finish")
        return indices

    def _array(self, name):
        """The zarr array ``name``, opened once (a group lookup costs milliseconds)."""
        if name not in self._arrays:
            import zarr

            try:
                self._arrays[name] = zarr.open_group(self.path, mode="r")[name]
            except KeyError:
                raise IncompleteCubeError(
                    f"the array {name!r} of {self.path} is missing ({name}/zarr.json lost or "
                    f"deleted); call generate_dataset again with the same arguments to restore "
                    f"it and rewrite any cube it lost") from None
        return self._arrays[name]

    def _read(self, name, indices):
        """Cubes ``indices`` of array ``name``, after checking that their chunks exist (a lost
        chunk would read as NaN, zarr's fill value); a chunk that fails its checksum or does
        not decompress is found and named."""
        if not indices:
            return np.empty((0, *self.shape[1:]), np.float32)
        self._raise_damaged(self._bad_chunks([name], indices, check_bytes=False))
        array = self._array(name)
        try:
            if indices == list(range(indices[0], indices[-1] + 1)):
                return array[indices[0]:indices[-1] + 1]
            return np.stack([array[k] for k in indices])
        except (ValueError, RuntimeError) as err:  # checksum mismatch, or blosc cannot decode
            self._raise_damaged(self._bad_chunks([name], indices, check_bytes=True), err)
            raise

    def _raise_damaged(self, bad, cause=None):
        if bad:
            index, file, problem = bad[0]
            others = f" (and {len(bad) - 1} more among the cubes read)" if len(bad) > 1 else ""
            raise IncompleteCubeError(
                f"cube {index} of {self.path} is damaged: its chunk {file} {problem}{others}. "
                f"Call generate_dataset again with the same arguments to rewrite the damaged "
                f"cubes exactly as they were; CubeStore.verify() lists them all") from cause

    def _noisy(self, indices, clean=None):
        if self.meta["store_noisy"]:
            return self._read("noisy", indices)
        import galcube_lib as gl

        if clean is None:
            clean = self._read("clean", indices)
        root = _seed_from_json(self.meta["seed"])
        out = np.empty_like(clean)
        for j, k in enumerate(indices):
            _, scene_seed, noise_seed = _cube_seeds(root, k)
            scene = self.prior.draw(np.random.default_rng(scene_seed))
            cube = gl.Cube(clean[j], scene.observation.header,
                           clean=clean[j])
            out[j] = _add_noise(cube, scene, noise_seed).data
        return out


def _chunk_problem(file, check_bytes):
    """What is wrong with chunk ``file`` (None if nothing): missing, or, with ``check_bytes``,
    not ending in the CRC-32C of the bytes before it (zarr's ``crc32c`` codec, little-endian)."""
    if not os.path.exists(file):
        return "is missing (lost or deleted)"
    if check_bytes:
        import google_crc32c  # what zarr's crc32c codec uses (a zarr dependency)

        with open(file, "rb") as f:
            body = f.read(max(0, os.fstat(f.fileno()).st_size - 4))
            tail = f.read()
        if len(tail) < 4 or google_crc32c.value(body) != int.from_bytes(tail, "little"):
            return "fails its CRC-32C checksum (truncated or altered)"
    return None


class _Cubes:
    """``store.clean`` / ``store.noisy``: index to read cubes."""

    def __init__(self, store, name):
        self._store = store
        self._name = name
        self.shape = store.shape
        self.dtype = np.dtype("float32")

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        indices = self._store._indices(key)
        if self._name == "clean":
            cubes = self._store._read("clean", indices)
        else:
            cubes = self._store._noisy(indices)
        return cubes[0] if isinstance(key, numbers.Integral) else cubes
