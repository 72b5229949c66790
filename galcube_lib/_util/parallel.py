"""Running batches of independent work in this process or on a dask cluster."""
from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os

from galcube_lib._util import checks as check

#: Environment of the worker processes of the LocalCluster that galcube makes. With glibc's
#: defaults, and more so with dask's MALLOC_TRIM_THRESHOLD_=65536, every large array of a
#: simulation is mapped and page-faulted afresh, which doubles the CPU time per cube. Set the
#: same variables for the workers of your own cluster (e.g. dask-jobqueue's
#: ``job_script_prologue=[f"export {k}={v}" for k, v in WORKER_ENV.items()]``).
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": "268435456",
              "MALLOC_TRIM_THRESHOLD_": "1073741824"}


@contextlib.contextmanager
def _environ_restored():
    """Undo the changes dask's nannies make to os.environ (OMP_NUM_THREADS=1 would otherwise
    stay, e.g. for torch imported afterwards)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)


class _ShutdownHeartbeatFilter(logging.Filter):
    """Drops a worker's "Failed to communicate with scheduler during heartbeat" error once the
    worker is closing: a heartbeat in flight when the cluster shuts down finds the scheduler's
    end of the connection closed, and distributed logs that (harmless) race with a full
    CommClosedError traceback. The same error while the worker is running is kept."""

    MESSAGE = "Failed to communicate with scheduler during heartbeat"

    def __init__(self, worker):
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(getattr(self.worker, "status", None), "name", "")
        return not (status in ("closing", "closing_gracefully", "closed")
                    and record.getMessage().startswith(self.MESSAGE))


def _quiet_shutdown(dask_worker) -> None:
    """Run on every worker of a LocalCluster galcube made (``Client.run``)."""
    logging.getLogger("distributed.worker").addFilter(_ShutdownHeartbeatFilter(dask_worker))


#: why worker processes cannot start from a script without a main guard, and what to do
MAIN_GUARD_HELP = (
    "worker processes are started with multiprocessing's 'spawn' method (dask's workers, "
    "torch.multiprocessing), which imports the main script again; in a script without an "
    "`if __name__ == \"__main__\":` guard, that import runs the call again in every worker. "
    "Put the call under `if __name__ == \"__main__\":`, or use workers=1 (this process) or a "
    "dask Client")


def check_not_reimporting(name: str, value) -> None:
    """A RuntimeError naming ``name=value`` if this process is a new worker process importing
    the main script (multiprocessing's own test, as in its spawn.py): starting processes from
    there would recurse. Call it before starting worker processes."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(f"{name}={value!r} asked for from a new worker process while it "
                           f"imports the main script: {MAIN_GUARD_HELP}")


def check_workers(workers, client=None) -> int:
    """``workers`` checked (an int >= 0; without ``client``, at most 4 per CPU core), and
    ``client`` (a dask Client or None); a RuntimeError that says why if a LocalCluster cannot
    start from here."""
    if client is not None and not hasattr(client, "submit"):
        raise TypeError(f"client must be a dask.distributed.Client or None, got {client!r} "
                        f"({type(client).__name__})")
    workers = check.integer("workers", workers, 0)
    if client is None:
        limit = 4 * (os.cpu_count() or 1)
        if workers > limit:
            raise ValueError(f"workers={workers} is more than 4 processes per CPU core of this "
                             f"machine ({limit}); use fewer, or a dask Client for a cluster")
        if workers > 1:
            check_not_reimporting("workers", workers)
    return workers


def batches(items, n_workers: int, batch_size: int | None) -> list:
    """Split ``items`` into batches: by default up to 32 items, about 4 batches per worker."""
    items = list(items)
    if batch_size is None:
        batch_size = min(32, max(1, math.ceil(len(items) / (4 * max(1, n_workers)))))
    return [items[k:k + batch_size] for k in range(0, len(items), batch_size)]


def run_batches(func, args: tuple, items, *, workers: int, client=None, batch_size=None,
                on_result=lambda result: None) -> None:
    """Call ``func(*args, batch)`` for every batch of ``items``, calling ``on_result`` with each
    return value as it arrives: in this process when ``workers <= 1`` and no ``client`` is given,
    else on ``client`` (left open) or on a LocalCluster of ``workers`` processes made for the call
    (none when there are no items)."""
    workers = check_workers(workers, client)
    items = list(items)
    if not items:
        return
    if client is None and workers <= 1:
        for batch in batches(items, 1, batch_size):
            on_result(func(*args, batch))
        return
    with cluster(workers, client) as on:
        n = max(1, len(on.scheduler_info().get("workers", {})))
        _run_on(on, func, args, batches(items, n, batch_size), on_result)


@contextlib.contextmanager
def cluster(workers: int, client=None):
    """The dask client to run on: ``client`` itself (left open), a LocalCluster of ``workers``
    processes made for the ``with`` block (closed after it), or None (this process) when
    ``workers <= 1`` and no client is given.

    Parameters
    ----------
    workers : int
        Worker processes of a LocalCluster (checked by :func:`check_workers`).
    client : dask.distributed.Client, optional
        An existing client.

    Yields
    ------
    dask.distributed.Client or None
        Where to submit work.
    """
    workers = check_workers(workers, client)
    if client is not None or workers <= 1:
        yield client
        return
    import dask
    from dask.distributed import Client, LocalCluster

    env = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENV.items()}
    with _environ_restored(), dask.config.set(env):
        try:
            local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                 dashboard_address=None)
        except RuntimeError as err:
            if "failed to start" not in str(err):
                raise
            raise RuntimeError(f"the {workers} worker processes of the local dask cluster "
                               f"failed to start ({err}). If this runs from a script: "
                               f"{MAIN_GUARD_HELP}") from err
        with local, Client(local) as own:
            own.run(_quiet_shutdown)
            yield own


def _run_on(client, func, args, work, on_result) -> None:
    from dask.distributed import as_completed

    futures = [client.submit(func, *args, batch, pure=False) for batch in work]
    try:
        for future in as_completed(futures):
            on_result(future.result())
    finally:
        client.cancel(futures)
