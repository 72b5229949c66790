"""Generation of a dataset (:func:`generate_dataset`): parallel and resumable, bit for bit the
same whatever the workers, batches or restarts (the layout of the store: :mod:`.store`)."""
from __future__ import annotations

import contextlib
import json
import os
import warnings

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib._util.parallel import check_workers, run_batches
from galcube_lib._util.rng import seed_sequence
from galcube_lib.datasets.draw import (PROPERTY_MAPS, check_prior, cube_property_maps, seed_from_json, seed_to_json,
                                       simulate_cube)
from galcube_lib.datasets.store import (FORMAT, LOCK, MAX_CUBES, PARAMS_DIR, TABLE, CubeStore, check_path,
                                        completed, marker, read_meta, table_from_markers)
from galcube_lib.io.files import write_text
from galcube_lib.sim.prior import prior_from_dict
from galcube_lib.sim.properties import LABEL_MODELS


def _check_same(path, old, new):
    for key in ("n_cubes", "shape", "store_noisy", "seed", "prior", "properties"):
        if json.dumps(old.get(key), sort_keys=True) != json.dumps(new.get(key),
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
    for name in PROPERTY_MAPS if meta.get("properties") else ():
        if name not in group:
            group.create_array(name, shape=(meta["n_cubes"], *meta["shape"][1:]),
                               chunks=(1, *meta["shape"][1:]), dtype="float32",
                               fill_value=np.nan, compressors=_compressors())
    markers = os.path.join(path, PARAMS_DIR)
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
        fd = os.open(os.path.join(path, LOCK), os.O_RDWR | os.O_CREAT, 0o666)
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

    prior = prior_from_dict(meta["prior"])
    root = seed_from_json(meta["seed"])
    group = zarr.open_group(path, mode="r+")
    arrays = [group[n] for n in ("clean", "noisy")[:1 + meta["store_noisy"]]]
    for i in indices:
        row, *cubes = simulate_cube(prior, root, i, meta["store_noisy"])
        for array, cube in zip(arrays, cubes):
            array[i] = cube.data
        if meta.get("properties"):
            for name, values in cube_property_maps(prior, root, i, meta["properties"]).items():
                group[name][i] = values
        write_text(marker(path, i), json.dumps(row, default=_to_json))
    return len(indices)


def _to_json(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"parameter value {value!r} is not JSON serialisable")



def generate_dataset(path, n_cubes, rng=0, workers=2, prior=None, client=None,
                     store_noisy=True, batch_size=None, progress=True, properties=None):
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
        store, resumes it with its recorded seed). A numpy Generator is
        refused (TypeError): its stream cannot be split per cube reproducibly.
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
    properties : None or str
        Also store each cube's property maps (``sigma_line``, ``sigma_gas``, ``sigma_sfr``,
        :func:`galcube_lib.property_maps` with this label model, one of its ``LABEL_MODELS``;
        ``CubeStore.maps(i)``).
        Every cube is a different galaxy, so a split by cube index is a split by galaxy.

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

    Examples
    --------
    Three small cubes, in this process:

    >>> import pathlib, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> prior = gl.BenchmarkPrior(n_pix=32, n_chan=16, channel_kms=40.0, n_galaxies=(1, 1),
    ...                           v_max_kms=(50.0, 100.0))
    >>> path = gl.generate_dataset(pathlib.Path(folder.name) / "toy", n_cubes=3, rng=7,
    ...                            workers=0, prior=prior, progress=False)
    >>> store = gl.open_dataset(path)
    >>> store.shape, store.verify()
    ((3, 16, 32, 32), [])
    >>> noisy, clean = store.pair(0)
    >>> noisy.shape, noisy.dtype == np.float32
    ((16, 32, 32), True)
    >>> bool(store.params["peak_snr"].between(2.5, 10.0).all())
    True

    The same arguments give the same cubes, bit for bit:

    >>> again = gl.generate_dataset(pathlib.Path(folder.name) / "again", n_cubes=3, rng=7,
    ...                             workers=0, prior=prior, progress=False)
    >>> bool(np.array_equal(gl.open_dataset(again).clean[:], store.clean[:]))
    True
    >>> folder.cleanup()
    """
    path = check_path(path)
    n_cubes = check.integer("n_cubes", n_cubes, 1, MAX_CUBES)
    workers = check_workers(workers, client)
    if batch_size is not None:
        batch_size = check.integer("batch_size", batch_size, 1)
    store_noisy = check.boolean("store_noisy", store_noisy)
    progress = check.boolean("progress", progress)
    if properties is not None and properties not in LABEL_MODELS:
        raise ValueError(f"properties={properties!r} is not None or one of {', '.join(map(repr, LABEL_MODELS))}")
    seed = None if rng is None else seed_to_json(seed_sequence(rng))
    prior = check_prior(prior)  # the default prior's first use imports astropy's cosmology
    read_meta(path)  # a path holding something else fails before anything is written
    os.makedirs(path, exist_ok=True)
    with _writer_lock(path):
        old = read_meta(path)
        meta = {"format": FORMAT, "n_cubes": n_cubes,
                "shape": [int(s) for s in prior.shape], "store_noisy": store_noisy,
                "seed": seed or (old["seed"] if old else seed_to_json(seed_sequence(None))),
                "prior": prior.to_dict(), **({"properties": properties} if properties else {})}
        meta = json.loads(json.dumps(meta))
        if old:
            _check_same(path, old, meta)
        _create(path, meta, new=old is None)

        done = completed(path)
        damaged = CubeStore(path, meta)._damaged(done)
        todo = sorted(set(range(n_cubes)) - done | set(damaged))
        _run(path, meta, todo, workers, client, batch_size, progress)
        if not os.path.exists(os.path.join(path, TABLE)):
            table = table_from_markers(path, range(n_cubes))
            write_text(os.path.join(path, TABLE), table.to_csv(index=False))
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
