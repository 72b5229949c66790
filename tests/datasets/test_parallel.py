"""galcube_lib._util.parallel: the LocalCluster it makes shuts down without printing tracebacks."""
import logging
from types import SimpleNamespace

import pytest

from galcube_lib._util import parallel as _parallel


def _heartbeat_record():
    return logging.LogRecord("distributed.worker", logging.ERROR, "worker.py", 1206,
                             "Failed to communicate with scheduler during heartbeat.", None, None)


@pytest.mark.parametrize("status, shown", [("running", True), ("paused", True),
                                           ("closing", False), ("closing_gracefully", False),
                                           ("closed", False)])
def test_heartbeat_error_is_dropped_only_while_the_worker_closes(status, shown):
    worker = SimpleNamespace(status=SimpleNamespace(name=status))
    quiet = _parallel._ShutdownHeartbeatFilter(worker)
    assert quiet.filter(_heartbeat_record()) is shown
    other = logging.LogRecord("distributed.worker", logging.ERROR, "worker.py", 1, "Compute failed",
                              None, None)
    assert quiet.filter(other) is True, "other worker errors must never be hidden"


def _filters_installed(batch):
    return [any(isinstance(f, _parallel._ShutdownHeartbeatFilter)
                for f in logging.getLogger("distributed.worker").filters) for _ in batch]


def test_local_cluster_workers_get_the_filter_and_close_quietly(capfd):
    seen = []
    _parallel.run_batches(_filters_installed, (), range(4), workers=2, on_result=seen.extend)
    assert seen == [True] * 4
    err = capfd.readouterr().err
    assert "Traceback" not in err and "CommClosedError" not in err, err
