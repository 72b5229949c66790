"""Datasets of simulated cubes: parallel, resumable generation into a zarr store.

A store made by :func:`generate_dataset` is a zarr (v3) group holding

* ``clean`` and, unless ``store_noisy=False``, ``noisy``: float32 arrays of
  shape ``(n, v, y, x)``, one compressed chunk per cube;
* ``params/{i:06d}.json``: the parameters of cube ``i``, written atomically
  after its chunks, so a cube is complete exactly when this file exists;
* ``params.csv``: all the parameter rows, written once every cube is complete;
* group attribute ``galcube``: the prior, the root seed and the layout, which
  a re-run must match.

Cube ``i`` is drawn from ``np.random.SeedSequence(rng).spawn(n)[i]``: its
first spawned child seeds the scene, the second the noise. The store is
therefore the same, bit for bit, whatever the workers, batches or restarts.
"""
from __future__ import annotations

import json
import numbers
import os

import numpy as np

from . import _validate as check
from ._io import write_text
from ._parallel import WORKER_ENV, run_batches  # noqa: F401 (WORKER_ENV documented here)

FORMAT = "galcube-dataset/1"
_PARAMS_DIR = "params"
_TABLE = "params.csv"
_SEED_COLUMNS = {"seed_entropy": str, "seed_spawn_key": str}


class IncompleteCubeError(RuntimeError):
    """A cube of the store has not been (completely) written yet."""


# --------------------------------------------------------------- seeds ----

def _root_seed(rng):
    """The root SeedSequence for ``rng`` (int >= 0, None or SeedSequence)."""
    if isinstance(rng, np.random.SeedSequence):
        return np.random.SeedSequence(rng.entropy, spawn_key=rng.spawn_key,
                                      pool_size=rng.pool_size)
    if rng is None:
        return np.random.SeedSequence()
    if isinstance(rng, np.random.Generator):
        raise TypeError("rng must be an int, None or a numpy SeedSequence "
                        "(a Generator cannot be split reproducibly per cube)")
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
    row = {"index": index, **scene.params(), "peak_snr": scene.peak_snr,
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
    path = os.fspath(path)
    if not os.path.exists(os.path.join(path, "zarr.json")):
        if os.path.exists(path) and (not os.path.isdir(path)
                                     or os.listdir(path)):
            raise ValueError(f"{path} exists and is not a galcube dataset")
        return None
    import zarr

    meta = zarr.open_group(path, mode="r").attrs.get("galcube")
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
    """Blosc/zstd with byte shuffle: fast and tight on mostly-empty cubes."""
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="zstd", clevel=1, shuffle="shuffle", typesize=4)


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
        completed cubes are kept, the others (re)written.
    n_cubes : int
        Number of cubes, >= 1.
    rng : int, None or numpy.random.SeedSequence
        Root seed; cube ``i`` uses ``SeedSequence(rng).spawn(n_cubes)[i]``.
        None draws fresh entropy, recorded in the store (and, on an existing
        store, resumes it with its recorded seed).
    workers : int
        Worker processes of the local dask cluster made for this call;
        0 or 1 runs in this process without dask. Ignored with ``client``.
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
    """
    import galcube_lib as gl

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {path!r}")
    path = os.fspath(path)
    n_cubes = check.integer("n_cubes", n_cubes, 1)
    workers = check.integer("workers", workers, 0)
    if batch_size is not None:
        batch_size = check.integer("batch_size", batch_size, 1)
    for name, flag in (("store_noisy", store_noisy), ("progress", progress)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if client is not None and not hasattr(client, "submit"):
        raise TypeError(f"client must be a dask.distributed.Client, "
                        f"got {client!r}")
    prior = gl.BenchmarkPrior() if prior is None else prior
    old = _read_meta(path)
    seed = (old["seed"] if rng is None and old
            else _seed_to_json(_root_seed(rng)))
    meta = {"format": FORMAT, "n_cubes": int(n_cubes),
            "shape": [int(s) for s in prior.shape], "store_noisy": store_noisy,
            "seed": seed, "prior": prior.to_dict()}
    meta = json.loads(json.dumps(meta))
    if old:
        _check_same(path, old, meta)
    _create(path, meta, new=old is None)

    todo = sorted(set(range(n_cubes)) - _done(path))
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
    path = os.fspath(path)
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
        slices and sequences of indices give ``(k, v, y, x)`` arrays. Reading
        an unfinished cube raises :class:`IncompleteCubeError`.
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
        self._arrays = None

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
        """Indices of the cubes not completely written yet (sorted list)."""
        if os.path.exists(os.path.join(self.path, _TABLE)):
            return []
        return sorted(set(range(len(self))) - _done(self.path))

    def pair(self, index):
        """Cube ``index`` as (noisy, clean) float32 arrays, one read each."""
        (index,) = self._indices(index)
        clean = self._read("clean", [index])
        return self._noisy([index], clean)[0], clean[0]

    def _indices(self, key):
        n = len(self)
        if isinstance(key, slice):
            indices = list(range(*key.indices(n)))
        else:
            indices = [int(k) for k in np.atleast_1d(key)]
        for k in indices:
            if not -n <= k < n:
                raise IndexError(f"cube index {k} out of range for "
                                 f"{n} cubes")
        indices = [k % n for k in indices]
        if not os.path.exists(os.path.join(self.path, _TABLE)):
            for k in indices:
                if not os.path.exists(_marker(self.path, k)):
                    raise IncompleteCubeError(
                        f"cube {k} of {self.path} is incomplete; re-run "
                        f"generate_dataset to finish")
        return indices

    def _read(self, name, indices):
        if not indices:
            return np.empty((0, *self.shape[1:]), np.float32)
        if self._arrays is None:
            import zarr

            self._arrays = zarr.open_group(self.path, mode="r")
        array = self._arrays[name]
        if indices == list(range(indices[0], indices[-1] + 1)):
            return array[indices[0]:indices[-1] + 1]
        return np.stack([array[k] for k in indices])

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
