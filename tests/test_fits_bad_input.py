"""FITS input/output under bad input (issue 12): beams in the wrong unit, missing or non-finite WCS
keywords, moments of blank spaxels, records that JSON cannot hold, atomic writes that fail or
were killed."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.io import fits

import galcube_lib as gl
from galcube_lib import _io

REAL = "/work/shared/data/real/ngc4324_carma_co10.fits"   # 1 arcsec pixels, 4.7 x 3.9 arcsec beam


@pytest.fixture(scope="module")
def small():
    obs = gl.Observation(n_pix=16, n_chan=6, channel_kms=25.0, beam_fwhm_px=3.0)
    return gl.simulate([gl.Galaxy(r_eff_kpc=1.0)], obs)


# ----------------------------------------------------------------------------- atomic writes

def test_unwritable_folder_names_the_target_not_the_temporary(small, tmp_path, monkeypatch):
    """As root no folder is unwritable, so mkstemp is made to fail as it does for other users."""
    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", os.path.join(dir, ".cube.fits.x.tmp"))
    monkeypatch.setattr(_io.tempfile, "mkstemp", refuse)
    target = tmp_path / "cube.fits"
    with pytest.raises(PermissionError) as err:
        small.to_fits(target)
    assert err.value.filename == str(target)
    assert str(target) in str(err.value) and "not writable" in str(err.value)
    assert ".tmp" not in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_unwritable_folder_for_real(small, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match="not writable"):
        small.to_fits(folder / "cube.fits")


def test_missing_folder_names_the_target(small, tmp_path):
    target = tmp_path / "nowhere" / "cube.fits"
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        small.to_fits(target)
    assert err.value.filename == str(target)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_killed_write_debris_is_removed_by_the_next_write(small, tmp_path):
    target = tmp_path / "cube.fits"
    host = _io._host()
    dead = tmp_path / f".cube.fits.{host}-{_dead_pid()}.abc_123.tmp"
    alive = tmp_path / f".cube.fits.{host}-{os.getpid()}.def_456.tmp"     # a write in progress
    foreign_new = tmp_path / ".cube.fits.otherhost-1.ghi789.tmp"         # cannot be checked: recent
    foreign_old = tmp_path / ".cube.fits.otherhost-1.jkl012.tmp"         # cannot be checked: old
    legacy_old = tmp_path / ".cube.fits.mno345.tmp"                      # before PIDs were in names
    other_target = tmp_path / f".other.fits.{host}-{_dead_pid()}.pqr678.tmp"
    for tmp in (dead, alive, foreign_new, foreign_old, legacy_old, other_target):
        tmp.write_bytes(b"half a cube")
    old = time.time() - 2 * _io.STALE_SECONDS
    for tmp in (foreign_old, legacy_old):
        os.utime(tmp, (old, old))
    small.to_fits(target)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"cube.fits", alive.name, foreign_new.name, other_target.name}


def test_temporary_names_carry_host_and_pid(tmp_path):
    with _io.atomic_path(tmp_path / "x.txt") as tmp:
        assert tmp.name.startswith(f".x.txt.{_io._host()}-{os.getpid()}.")
        assert not _io._is_stale(tmp)
        tmp.write_text("ok")
    assert (tmp_path / "x.txt").read_text() == "ok"


# ----------------------------------------------------------------------------- records

def test_numpy_values_in_a_record_are_written_as_lists_and_numbers(small, tmp_path):
    record = {**small.record, "extra": {"spectrum": np.arange(3, dtype=np.float32),
                                        "peak": np.float32(2.5), "n": np.int64(7),
                                        "flag": np.bool_(True), "where": tmp_path}}
    back = gl.read_fits(small.replace(record=record).to_fits(tmp_path / "cube.fits"))
    assert back.record["extra"] == {"spectrum": [0.0, 1.0, 2.0], "peak": 2.5, "n": 7, "flag": True,
                                    "where": str(tmp_path)}
    assert back.record["components"] == small.record["components"]


@pytest.mark.parametrize("bad", [object(), {1, 2}, np.array([1 + 2j])])
def test_a_record_value_json_cannot_hold_is_a_type_error_naming_its_key(small, tmp_path, bad):
    record = {"notes": {"fit": [1, bad]}}
    with pytest.raises(TypeError, match=r"record\['notes'\]\['fit'\]\[1\]"):
        small.replace(record=record).to_fits(tmp_path / "cube.fits")
    assert list(tmp_path.iterdir()) == []
