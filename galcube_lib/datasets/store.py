"""The store of a dataset on disk: its layout, :func:`open_dataset` and :class:`CubeStore`.

A store made by :func:`~galcube_lib.datasets.generate.generate_dataset` is a zarr (v3) group
holding

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

Cube ``i`` is drawn from child ``i`` of the root seed (:mod:`galcube_lib.datasets.draw`), so
a store is the same, bit for bit, whatever the workers, batches or restarts, and its noisy cubes
can be re-created from the clean ones.
"""
from __future__ import annotations

import json
import numbers
import os

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib.datasets.draw import cube_seeds, noisy_cube, seed_from_json
from galcube_lib.io.cube import Cube
from galcube_lib.io.files import as_path
from galcube_lib.sim.prior import prior_from_dict

FORMAT = "galcube-dataset/1"
PARAMS_DIR = "params"
TABLE = "params.csv"
LOCK = ".writer.lock"
_SEED_COLUMNS = {"seed_entropy": str, "seed_spawn_key": str}
#: most cubes of one store (one marker file each; 10 million benchmark cubes are ~0.7 TB)
MAX_CUBES = 10_000_000


class IncompleteCubeError(RuntimeError):
    """A cube of the store is not complete: not written yet, or a chunk of it lost or damaged."""


def check_path(path) -> str:
    """Check the path of a store.

    Parameters
    ----------
    path : str or os.PathLike
        Directory of the store; not empty.

    Returns
    -------
    str
        ``os.fspath(path)``.

    Raises
    ------
    TypeError
        Not a path.
    ValueError
        An empty path.
    """
    as_path("path", path)
    if not os.fspath(path):
        raise ValueError("path is empty; give the directory of the store")
    return os.fspath(path)


# ------------------------------------------------------------- markers ----

def marker(path, index):
    """The completion marker of a cube: its parameter file.

    Parameters
    ----------
    path : str
        Directory of the store.
    index : int
        The cube's index, >= 0.

    Returns
    -------
    str
        ``<path>/params/<index:06d>.json``.
    """
    return os.path.join(path, PARAMS_DIR, f"{index:06d}.json")


def completed(path):
    """Indices of the cubes whose completion marker exists.

    Parameters
    ----------
    path : str
        Directory of the store.

    Returns
    -------
    set of int
        The indices.
    """
    names = os.listdir(os.path.join(path, PARAMS_DIR))
    return {int(n[:-5]) for n in names if n.endswith(".json")}


def read_meta(path):
    """The ``galcube`` attributes of the store at ``path``.

    Parameters
    ----------
    path : str
        Directory of the store.

    Returns
    -------
    dict or None
        The attributes (format, prior, root seed, layout); None when there is no store at
        ``path`` yet (no folder, or an empty one).

    Raises
    ------
    ValueError
        ``path`` holds something else, or a damaged or foreign zarr store.
    """
    if not os.path.exists(os.path.join(path, "zarr.json")):
        if os.path.exists(path) and (not os.path.isdir(path)
                                     or set(os.listdir(path)) - {LOCK}):
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


def table_from_markers(path, indices):
    """The parameter table of some cubes, read from their markers.

    Parameters
    ----------
    path : str
        Directory of the store.
    indices : iterable of int
        Complete cubes.

    Returns
    -------
    pandas.DataFrame
        One row per cube, in the order of ``indices``.
    """
    import pandas as pd

    rows = []
    for i in indices:
        with open(marker(path, i)) as f:
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
        The store; its cubes are read when indexed.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a galcube dataset.
    """
    path = check_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no galcube dataset at {path}")
    meta = read_meta(path)
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
        Directory of the store.
    meta : dict
        The store's ``galcube`` attributes (:func:`read_meta`).
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
            self._prior = prior_from_dict(self.meta["prior"])
        return self._prior

    @property
    def params(self):
        """pandas.DataFrame: one parameter row per complete cube."""
        import pandas as pd

        table = os.path.join(self.path, TABLE)
        if os.path.exists(table):
            exact = ({} if int(pd.__version__.split(".")[0]) >= 3
                     else {"float_precision": "round_trip"})
            return pd.read_csv(table, dtype=_SEED_COLUMNS, **exact)
        return table_from_markers(self.path, sorted(completed(self.path)))

    def missing(self):
        """Indices of the cubes not completely written yet.

        Only the completion records are looked at; :meth:`verify` also checks the chunks.

        Returns
        -------
        list of int
            Sorted indices; empty when every cube is complete.
        """
        if os.path.exists(os.path.join(self.path, TABLE)):
            return []
        return sorted(set(range(len(self))) - completed(self.path))

    def verify(self):
        """Indices of the cubes that are not complete and intact (sorted list; empty if all are).

        A cube is intact when every chunk of it exists and its bytes match the CRC-32C checksum
        written with them. The compressed bytes are read and checksummed, not decompressed
        (about a second per GB of store). Reading a cube checks its checksum anyway (zarr
        does, at no measurable cost) and that its chunk exists, so a lost or damaged cube is
        never returned as data; ``verify`` finds them all at once. Calling
        :func:`generate_dataset` again with the same arguments rewrites them.

        Returns
        -------
        list of int
            Sorted indices; empty when every cube is complete and intact.
        """
        missing = self.missing()
        return sorted({*missing, *self._damaged(set(range(len(self))) - set(missing))})

    def _damaged(self, indices):
        """The cubes among ``indices`` with a chunk lost or failing its checksum."""
        names = ("clean", "noisy")[:1 + self.meta["store_noisy"]]
        if self.meta.get("properties"):
            names += ("sigma_line", "sigma_gas", "sigma_sfr")
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
                    (i, *(0 for _ in array.shape[1:]))).split("/"))
                problem = _chunk_problem(file, crc)
                if problem:
                    bad.append((i, file, problem))
        return bad

    def pair(self, index):
        """Cube ``index`` as (noisy, clean) float32 arrays, one read each.

        Parameters
        ----------
        index : int
            The cube's index; negative indices count from the end.

        Returns
        -------
        noisy, clean : numpy.ndarray
            float32 (v, y, x) arrays (the noise re-drawn from the seed when the store holds
            no noisy cubes).

        Raises
        ------
        IndexError
            An index out of range.
        IncompleteCubeError
            The cube is unfinished, or a chunk of it lost or damaged.
        """
        (index,) = self._indices(check.integer("index", index))
        clean = self._read("clean", [index])
        return self._noisy([index], clean)[0], clean[0]

    def maps(self, index) -> dict:
        """The property maps of cube ``index`` (a store made with ``properties``).

        Parameters
        ----------
        index : int
            The cube's index; negative indices count from the end.

        Returns
        -------
        dict
            "sigma_line", "sigma_gas", "sigma_sfr" -> (y, x) float32 maps.

        Raises
        ------
        ValueError
            The store holds no property maps.
        IncompleteCubeError
            The cube is unfinished, or a chunk of it lost or damaged.
        """
        if not self.meta.get("properties"):
            raise ValueError(f"{self.path} holds no property maps: generate it with properties="
                             "'kinematic' or 'moment0'")
        (index,) = self._indices(check.integer("index", index))
        names = ("sigma_line", "sigma_gas", "sigma_sfr")
        self._raise_damaged(self._bad_chunks(list(names), [index], check_bytes=False))
        return {name: self._array(name)[index] for name in names}

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
        if not os.path.exists(os.path.join(self.path, TABLE)):
            for k in indices:
                if not os.path.exists(marker(self.path, k)):
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
        if clean is None:
            clean = self._read("clean", indices)
        root = seed_from_json(self.meta["seed"])
        out = np.empty_like(clean)
        for j, k in enumerate(indices):
            _, scene_seed, noise_seed = cube_seeds(root, k)
            scene = self.prior.draw(np.random.default_rng(scene_seed))
            cube = Cube(clean[j], scene.observation.header, clean=clean[j])
            out[j] = noisy_cube(cube, scene, noise_seed).data
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
