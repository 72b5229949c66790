"""Atomic file writes: write beside the target under a temporary name, then rename."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

STALE_SECONDS = 3600.0
"""A temporary not modified for this long is debris, whoever its writer (writes do not pause)."""

_TEMPORARY = re.compile(r"\.(?P<target>.+?)\.(?:(?P<host>\w+)-(?P<pid>\d+)\.)?[a-z0-9_]{8}\.tmp")
"""Names of :func:`atomic_path`'s temporaries, ``.<target>.<host>-<pid>.<random>.tmp`` (older
galcube versions: ``.<target>.<random>.tmp``)."""

_CLEANED: set[tuple[int, str]] = set()
"""(process, folder) pairs whose debris has been removed: once per process is enough, since
debris comes from processes that have died."""


def as_path(name: str, value) -> Path:
    """A file path argument as a Path.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : str or os.PathLike
        The path (bytes are refused).

    Returns
    -------
    pathlib.Path
        ``Path(value)``.

    Raises
    ------
    TypeError
        Anything else; the message names ``name``.
    """
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {value!r} "
                        f"({type(value).__name__})")
    return Path(value)


def _host() -> str:
    """This host's name as it appears in the names of temporaries (letters, digits and _)."""
    return re.sub(r"\W", "_", socket.gethostname(), flags=re.ASCII)


def _is_stale(tmp: Path, host: str | None, pid: str | None) -> bool:
    """Whether a temporary is debris: its writer (``host``, ``pid``) is a process of this host that
    no longer runs, or it has not been modified for ``STALE_SECONDS`` (a writer on another host,
    an older galcube's, or a PID that a new process has taken)."""
    if host == _host():
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, OverflowError):
            return True
        except PermissionError:   # it runs, as another user
            pass
    try:
        return time.time() - tmp.stat().st_mtime > STALE_SECONDS
    except FileNotFoundError:     # its writer has just finished
        return False


def remove_stale_temporaries(folder) -> list[Path]:
    """Remove the temporaries that killed atomic writes left in ``folder``.

    A temporary is debris when its writer is a process of this host that no longer runs, or
    it has not been modified for ``STALE_SECONDS`` (docs/conventions.md, Files).

    Parameters
    ----------
    folder : str or os.PathLike
        The folder; one that cannot be read is left alone.

    Returns
    -------
    list of pathlib.Path
        The temporaries removed.
    """
    removed = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            name = _TEMPORARY.fullmatch(entry.name)
            if name and _is_stale(Path(entry.path), name["host"], name["pid"]):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    return removed


def _clean_once(folder: Path) -> None:
    """:func:`remove_stale_temporaries` on the first write of this process into ``folder``."""
    key = (os.getpid(), os.path.abspath(folder))
    if key not in _CLEANED:
        remove_stale_temporaries(folder)
        _CLEANED.add(key)


def _target_error(err: OSError, path: Path) -> OSError:
    """``err`` (about the temporary) told about the target ``path`` and its folder instead."""
    if isinstance(err, PermissionError):
        advice = (f"the folder {path.parent} is not writable; choose another folder or change its "
                  "permissions")
    elif isinstance(err, FileNotFoundError):
        advice = f"the folder {path.parent} does not exist; create it first"
    else:
        advice = err.strerror or str(err)
    return type(err)(err.errno, f"cannot write {path}: {advice}", str(path))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    A reader never sees a half-written file, and a failed write leaves any old file as it was.
    The temporary is ``.<name>.<host>-<pid>.<random>.tmp``. On this process's first write into a
    folder, the temporaries that killed writes left there are removed
    (:func:`remove_stale_temporaries`), those of writes in progress kept. Errors about the
    temporary (a folder that is not writable or does not exist, a full disk) name ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.

    Yields
    ------
    pathlib.Path
        The temporary to write; it is renamed over ``path`` when the ``with`` block ends
        without an exception, and removed otherwise.

    Raises
    ------
    OSError
        The temporary cannot be made, written or renamed; the message names ``path``.
    """
    path = Path(path)
    try:
        _clean_once(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host()}-{os.getpid()}.", suffix=".tmp",
                                   dir=path.parent)
    except OSError as err:
        raise _target_error(err, path) from None
    os.close(fd)
    try:
        try:
            yield Path(tmp)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the file gets the usual modes
            os.replace(tmp, path)
        except OSError as err:
            if err.filename not in (None, tmp):   # about another file the writer used
                raise
            raise _target_error(err, path) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(path):
    """Yield a temporary folder next to ``path``; on success it replaces ``path``.

    The folder counterpart of :func:`atomic_path`, for zarr stores: a reader sees the old store
    or the new one, never a half-written one. An old store is first renamed aside, then the new
    one renamed in, then the old one removed; a run killed between the two renames leaves the
    old store under a temporary name, which :func:`remove_stale_temporaries` later removes.

    Parameters
    ----------
    path : str or os.PathLike
        The target folder.

    Yields
    ------
    pathlib.Path
        The temporary folder to fill; it replaces ``path`` when the ``with`` block ends without
        an exception, and is removed otherwise.

    Raises
    ------
    OSError
        The temporary cannot be made or renamed; the message names ``path``.
    """
    path = Path(path)
    prefix = f".{path.name}.{_host()}-{os.getpid()}."
    try:
        _clean_once(path.parent)
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=path.parent))
    except OSError as err:
        raise _target_error(err, path) from None
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=path.parent))
            os.replace(path, old / "old")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8), as :func:`atomic_path` does.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.
    text : str
        The text.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
