"""FITS input/output under bad input (issue 12): beams in the wrong unit, missing or non-finite WCS
keywords, moments of blank spaxels, records that JSON cannot hold, atomic writes that fail or
were killed."""

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import galcube_lib as gl
from galcube_lib.io import files as _io

REAL = Path(__file__).parents[2] / "data" / "real" / "ngc4324_carma_co10.fits.gz"   # 1 arcsec pixels


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
    dead = tmp_path / f".cube.fits.{host}-{_dead_pid()}.abc_1234.tmp"
    alive = tmp_path / f".cube.fits.{host}-{os.getpid()}.def_4567.tmp"     # a write in progress
    reused = tmp_path / f".cube.fits.{host}-{os.getpid()}.stu_7890.tmp"    # its PID taken since
    foreign_new = tmp_path / ".cube.fits.otherhost-1.ghi78901.tmp"         # cannot be checked: recent
    foreign_old = tmp_path / ".cube.fits.otherhost-1.jkl01234.tmp"         # cannot be checked: old
    legacy_old = tmp_path / ".cube.fits.mno34567.tmp"                      # before PIDs were in names
    other_target = tmp_path / f".other.fits.{host}-{_dead_pid()}.pqr67890.tmp"
    not_ours = tmp_path / ".notes.tmp"                                      # someone else's file
    for tmp in (dead, alive, reused, foreign_new, foreign_old, legacy_old, other_target, not_ours):
        tmp.write_bytes(b"half a cube")
    old = time.time() - 2 * _io.STALE_SECONDS
    for tmp in (reused, foreign_old, legacy_old, not_ours):
        os.utime(tmp, (old, old))
    small.to_fits(target)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"cube.fits", alive.name, foreign_new.name, not_ours.name}


_KILLED_WRITER = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("galcube_io", sys.argv[1])
io = importlib.util.module_from_spec(spec)
spec.loader.exec_module(io)
with io.atomic_path(sys.argv[2]) as tmp:
    tmp.write_bytes(b"half a cube")
    print(tmp, flush=True)
    time.sleep(60)
"""


def test_debris_of_a_really_killed_writer_is_removed(small, tmp_path):
    target = tmp_path / "cube.fits"
    with subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, _io.__file__, str(target)],
                          stdout=subprocess.PIPE, text=True) as writer:
        debris = Path(writer.stdout.readline().strip())
        assert debris.exists()
        writer.kill()
    assert debris.exists()                      # SIGKILL: no clean-up ran
    small.to_fits(target)
    assert [p.name for p in tmp_path.iterdir()] == ["cube.fits"]


def test_a_folder_is_searched_for_debris_once_per_process(small, tmp_path, monkeypatch):
    """Writing many files into one folder (a dataset's markers) must not list it every time."""
    listed = []
    scandir = os.scandir
    monkeypatch.setattr(_io.os, "scandir", lambda folder: listed.append(folder) or scandir(folder))
    for name in ("a.txt", "b.txt", "c.txt"):
        _io.write_text(tmp_path / name, name)
    assert listed == [tmp_path]


def test_temporary_names_carry_host_and_pid(tmp_path):
    with _io.atomic_path(tmp_path / "x.txt") as tmp:
        assert tmp.name.startswith(f".x.txt.{_io._host()}-{os.getpid()}.")
        name = _io._TEMPORARY.fullmatch(tmp.name)
        assert (name["target"], name["host"], name["pid"]) == ("x.txt", _io._host(), str(os.getpid()))
        assert not _io._is_stale(tmp, name["host"], name["pid"])
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


# ----------------------------------------------------------------------------- headers

class Bare(str):
    """A header value written as it is, without quotes: INF, NAN."""


def _foreign(tmp_path, cube, name="c.fits", **cards):
    """``cube`` written as another program's plain FITS file; ``cards`` set keywords (None removes
    one, a :class:`Bare` value is written unquoted, as an unparsable card)."""
    header = cube.header.copy()
    raw = {key: value for key, value in cards.items() if isinstance(value, Bare)}
    for key, value in cards.items():
        header.remove(key, ignore_missing=True)
        if value is not None:
            header[key] = 12345.0 if key in raw else value   # no comment: the card is known
    path = tmp_path / name
    fits.PrimaryHDU(cube.data, header).writeto(path)
    text = path.read_bytes()
    for key, value in raw.items():
        card = fits.Card(key, 12345.0).image.encode()
        text = text.replace(card, f"{key:<8}= {value:>20}".ljust(80).encode())
    path.write_bytes(text)
    return path


def test_beam_in_degrees_is_refused_saying_arcsec(small, tmp_path):
    path = _foreign(tmp_path, small)
    with pytest.raises(ValueError, match=r"c\.fits.*far below a pixel.*beam=.*arcsec.*3600"):
        gl.read_fits(path, beam=(1.3e-3, 1.07e-3, 15.5))
    with pytest.raises(ValueError, match=r"far larger than the 16 px field.*beam=.*arcsec"):
        gl.read_fits(path, beam=(3.6e5, 3.6e5, 0.0))          # e.g. milliarcsec for arcsec
    pixel = small.pixel_arcsec
    undersampled = gl.read_fits(path, beam=(0.5 * pixel, 0.4 * pixel, 0.0))   # unusual, not wrong
    assert undersampled.beam_fwhm_px == pytest.approx((0.5, 0.4))


def test_the_issue_example_on_a_real_cube():
    with pytest.raises(ValueError, match=r"ngc4324.*0\.0013 x 0\.00107 px.*arcsec"):
        gl.read_fits(REAL, beam=(1.3e-3, 1.07e-3, 15.5))


@pytest.mark.parametrize("bmaj, bmin", [(3.0, 2.0), (1e-9, 1e-9)])   # arcsec as deg; deg as rad
def test_header_beam_in_the_wrong_unit_is_refused_and_beam_argument_overrides_it(
        small, tmp_path, bmaj, bmin):
    path = _foreign(tmp_path, small, BMAJ=bmaj, BMIN=bmin)
    with pytest.raises(ValueError, match=r"c\.fits.*BMAJ/BMIN \(in degrees\).*beam=\(bmaj_arcsec"):
        gl.read_fits(path)
    pixel = small.pixel_arcsec
    assert gl.read_fits(path, beam=(3 * pixel, 3 * pixel, 0.0)).beam_fwhm_px == pytest.approx((3, 3))


@pytest.mark.parametrize("key", ["CDELT1", "CDELT2", "CDELT3"])
def test_missing_increment_is_an_error_naming_the_keyword(small, tmp_path, key):
    with pytest.raises(ValueError, match=rf"c\.fits: {key} is missing.*FITS default"):
        gl.read_fits(_foreign(tmp_path, small, **{key: None}))


def test_cropped_cubes_are_written_and_read_back(small, tmp_path):
    part = small.crop(((1, 4), (2, 14), (3, 13)))
    back = gl.read_fits(part.to_fits(tmp_path / "part.fits"))
    assert back.shape == (3, 12, 10) and np.array_equal(back.data, small.data[1:4, 2:14, 3:13])
    assert back.velocity_kms == pytest.approx(small.velocity_kms[1:4])
    again = back.crop(((0, 2), (0, 5), (0, 4)))            # a header read from a file: NAXISn set
    assert again.header["NAXIS1"] == 4 and gl.read_fits(again.to_fits(tmp_path / "a.fits")).shape == (2, 5, 4)
    header = small.header.copy()
    header["NAXIS1"], header["BITPIX"] = 99, 16              # stale structural cards, out of place
    back = gl.read_fits(small.replace(header=header).to_fits(tmp_path / "s.fits"))
    assert back.shape == small.shape and back.header["BITPIX"] == -32


def test_a_one_channel_map_without_channel_width_reads_once_ctype3_is_removed(small, tmp_path):
    one = small.crop(((0, 1), (0, 16), (0, 16)))
    with pytest.raises(ValueError, match="CDELT3 is missing.*for a map with no channel width, remove CTYPE3"):
        gl.read_fits(_foreign(tmp_path, one, CDELT3=None))
    cube = gl.read_fits(_foreign(tmp_path, one, "m.fits", CDELT3=None, CTYPE3=None))
    assert np.array_equal(np.nan_to_num(cube.data), one.data)     # exact zeros read as blanks
    with pytest.raises(ValueError, match="no spectral axis"):
        _ = cube.channel_kms


@pytest.mark.parametrize("key", ["CDELT1", "CDELT2", "CDELT3"])
def test_zero_increment_is_an_error_naming_the_keyword_not_wcsset(small, tmp_path, key):
    with pytest.raises(ValueError, match=rf"c\.fits: {key} = 0 ") as err:
        gl.read_fits(_foreign(tmp_path, small, **{key: 0.0}))
    assert "wcsset" not in str(err.value)


@pytest.mark.parametrize("key, text", [("CRVAL1", "INF"), ("CRVAL3", "-INF"), ("CDELT3", "NAN"),
                                       ("CRPIX2", "nan"), ("RESTFRQ", "INF"), ("BMAJ", "NAN"),
                                       ("PC1_1", "NAN"), ("EQUINOX", "INF")])
def test_non_finite_keyword_is_an_error_naming_it(small, tmp_path, key, text):
    with pytest.raises(ValueError, match=rf"c\.fits: header keyword {key} = '{text}' is not a finite"):
        gl.read_fits(_foreign(tmp_path, small, **{key: Bare(text)}))


def test_singular_matrices_name_the_matrix(small, tmp_path):
    with pytest.raises(ValueError, match=r"c\.fits: the PCi_j matrix.*singular"):
        gl.read_fits(_foreign(tmp_path, small, PC1_1=1.0, PC1_2=1.0, PC2_1=1.0, PC2_2=1.0))
    cd = {f"CDELT{a}": None for a in (1, 2, 3)}
    with pytest.raises(ValueError, match=r"d\.fits: the CDi_j matrix.*singular"):
        gl.read_fits(_foreign(tmp_path, small, "d.fits", CD1_1=-1e-4, CD2_2=1e-4, **cd))


def test_cd_matrix_header_gives_pixel_size_and_channels(small, tmp_path):
    step = small.header["CDELT2"]
    cd = {"CD1_1": small.header["CDELT1"], "CD2_2": step, "CD3_3": small.header["CDELT3"],
          **{f"CDELT{a}": None for a in (1, 2, 3)}}
    cube = gl.read_fits(_foreign(tmp_path, small, **cd))
    assert cube.pixel_arcsec == pytest.approx(step * 3600)
    assert cube.channel_kms == pytest.approx(small.channel_kms)
    assert cube.beam_fwhm_px == pytest.approx(small.beam_fwhm_px)


# ----------------------------------------------------------------------------- moments

def test_moments_of_blank_spaxels_are_nan_in_memory_and_in_fits(small, tmp_path):
    from galcube_lib.metrics import real

    blank = small.replace(data=np.full(small.shape, np.nan, np.float32))
    for image in real.moment_images(blank):
        assert np.isnan(image.data).all()
    data = small.data.copy()
    data[:, 2, 3] = np.nan                     # one blank spaxel
    data[:, 5, 6] = 0.0                        # one finite spaxel with no emission
    paths = real.write_moments(small.replace(data=data), tmp_path / "c.fits")
    mom0 = fits.getdata(paths[0])
    assert np.isnan(mom0[2, 3]) and mom0[5, 6] == 0.0
    assert np.isfinite(np.delete(mom0.ravel(), 2 * mom0.shape[1] + 3)).all()
    for path in paths[1:]:
        assert np.isnan(fits.getdata(path)[2, 3])


def test_moment_zero_of_a_one_channel_cube_uses_its_channel_width(small):
    from galcube_lib.metrics import real

    one = small.crop(((2, 3), (0, 16), (0, 16)))
    mom0 = real.moment_images(one)[0].data
    np.testing.assert_allclose(mom0, one.data[0] * small.channel_kms, rtol=1e-5)


# ----------------------------------------------------------------------------- siblings

def test_in_memory_headers_are_checked_like_files(small):
    header = small.header.copy()
    del header["CDELT3"]
    with pytest.raises(ValueError, match="CDELT3 is missing"):
        _ = small.replace(header=header).channel_kms
    header = small.header.copy()
    header["CDELT1"] = 0.0
    with pytest.raises(ValueError, match="CDELT1 = 0"):
        _ = small.replace(header=header).wcs
    header = small.header.copy()
    del header["CDELT2"]
    with pytest.raises(ValueError, match="no pixel size.*CDELT2"):
        _ = small.replace(header=header).beam_fwhm_px
    header = small.header.copy()
    del header["BMIN"]
    with pytest.raises(ValueError, match="no beam.*BMIN"):
        _ = small.replace(header=header).beam_area_px


def test_to_fits_checks_its_arguments_and_header(small, tmp_path):
    header = small.header.copy()
    header["CRVAL1"] = "INF"
    with pytest.raises(ValueError, match="CRVAL1 = 'INF' is not a finite number"):
        small.replace(header=header).to_fits(tmp_path / "c.fits")
    path = small.to_fits(tmp_path / "c.fits")
    with pytest.raises(TypeError, match="overwrite must be True or False"):
        small.to_fits(path, overwrite="no")
    with pytest.raises(TypeError, match="path must be a file path"):
        small.to_fits(3)
    with pytest.raises(TypeError, match="path must be a file path"):
        gl.read_fits(None)
    assert list(tmp_path.iterdir()) == [path]


def test_cube_data_must_be_numeric(small):
    with pytest.raises(TypeError, match="data must be a real numeric array, got list"):
        gl.Cube([["a"]], small.header)
    with pytest.raises(TypeError, match="clean must be a real numeric array, got dtype complex"):
        gl.Cube(small.data, small.header, clean=small.data.astype(complex))
    with pytest.raises(ValueError, match=r"data must be a 3-D \(v, y, x\) cube, got shape \(2, 2\)"):
        gl.Cube(np.ones((2, 2)), small.header)


def test_cube_keeps_float32_data_without_copying(small):
    data = np.ones(small.shape, np.float32)
    assert gl.Cube(data, small.header).data is data


@pytest.mark.parametrize("cards, named", [({"CUNIT3": "xyz"}, "CUNIT3"), ({"CUNIT1": "m"}, "CUNIT1"),
                                          ({"CTYPE3": "FREQ", "CUNIT3": "km/s"}, "CUNIT3"),
                                          ({"CTYPE1": "FOO"}, "celestial axes")])
def test_wcslib_refusals_say_which_keyword_without_wcslib_line_numbers(small, tmp_path, cards, named):
    with pytest.raises(ValueError, match=rf"c\.fits: wcslib cannot use the header's WCS.*{named}") as err:
        gl.read_fits(_foreign(tmp_path, small, **cards))
    assert "ERROR" not in str(err.value) and "line" not in str(err.value)


def test_non_positive_beam_and_folder_paths_are_named(small, tmp_path):
    with pytest.raises(ValueError, match=r"c\.fits: has no beam \(BMAJ/BMIN missing or not positive"):
        gl.read_fits(_foreign(tmp_path, small, BMAJ=-1.0))
    with pytest.raises(IsADirectoryError, match="is a folder"):
        gl.read_fits(tmp_path)


def test_a_zero_channel_width_is_not_returned(small):
    header = small.header.copy()
    header["CRPIX3"] = 1e30           # every channel at the same velocity, in double precision
    with pytest.raises(ValueError, match="channel width.*CDELT3"):
        _ = small.replace(header=header).channel_kms


@pytest.mark.parametrize("box", [((0.5, 3), (0, 8), (0, 8)), ((True, 3), (0, 8), (0, 8)),
                                 ((0, "3"), (0, 8), (0, 8)), ((0, 3), (0, float("nan")), (0, 8))])
def test_crop_box_indices_must_be_integers(small, box):
    with pytest.raises(TypeError, match=r"box\[\d\]\[\d\] \(an index\) must be an integer"):
        small.crop(box)
    assert small.crop(((np.int64(1), 3), (None, 8), (0, None))).shape == (2, 8, 16)


def test_real_cube_functions_name_their_bad_arguments(small):
    from galcube_lib.metrics import real

    wrong = np.ones((2, 3, 4), bool)
    checks = [
        (lambda: real.flux_aperture(small, wrong), ValueError, "mask has shape"),
        (lambda: real.flux_aperture(small, grow_beams=-1.0), ValueError, "grow_beams"),
        (lambda: real.own_noise(small, 2, mask=wrong), ValueError, "mask has shape"),
        (lambda: real.evaluate_real(small, "gaussian", n_null=2.5), TypeError, "n_null"),
        (lambda: real.evaluate_real(small, "gaussian", n_realisations=True), TypeError, "n_realisations"),
        (lambda: real.evaluate_real(small, "gaussian", n_placements=-3), ValueError, "n_placements"),
        (lambda: real.evaluate_real(small, "gaussian", options=[("k", 3)]), TypeError, "options"),
        (lambda: real.evaluate_real(small, "gaussian", mask=small.data > 0, aperture=wrong), ValueError,
         "aperture has shape"),
        (lambda: real.evaluate_real(small.data, "gaussian"), TypeError, "noisy must be a galcube Cube"),
        (lambda: real.inject(small, peak_snr=True), TypeError, "peak_snr"),
        (lambda: real.inject(small, galaxy="disk"), TypeError, "galaxy must be a galcube Galaxy"),
        (lambda: real.inject(small, mask=wrong), ValueError, "mask has shape"),
        (lambda: real.injection_recovery(small, "ist"), TypeError, r"methods must be a list.*\['ist'\]"),
        (lambda: real.injection_recovery(small, 3), TypeError, "methods must be a list"),
        (lambda: real.default_galaxy(small, r_eff_beams=0.0), ValueError, "r_eff_beams"),
    ]
    for call, kind, message in checks:
        with pytest.raises(kind, match=message):
            call()


def test_damaged_galcube_files_and_bad_cube_parts_are_named(small, tmp_path):
    path = small.to_fits(tmp_path / "c.fits")
    with fits.open(path) as hdul:
        hdul["CLEAN"].data = hdul["CLEAN"].data[:, :4]
        hdul.writeto(tmp_path / "bad.fits")
    with pytest.raises(ValueError, match=r"bad\.fits: clean has shape"):
        gl.read_fits(tmp_path / "bad.fits")
    with pytest.raises(TypeError, match="clean must be a real numeric array"):
        small.replace(clean="abc")
    with pytest.raises(TypeError, match="record must be a dict"):
        small.replace(record=[1, 2])
    with pytest.raises(TypeError, match="record must be a dict"):
        gl.scene_from_record(None)


def test_non_finite_keywords_of_an_in_memory_header_are_refused(small):
    header = small.header.copy()
    header["CRVAL1"] = "INF"                  # astropy refuses float('inf'), not the text
    with pytest.raises(ValueError, match="CRVAL1 = 'INF' is not a finite number"):
        _ = small.replace(header=header).wcs


# ----------------------------------------------------------------------------- fuzz

FUZZ = settings(max_examples=12, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
WRONG = st.one_of(NON_FINITE, st.integers(), st.floats(0.1, 9.9), st.booleans(), st.none(),
                  st.lists(st.integers(), max_size=3), st.sampled_from([object(), b"x.fits", 1j]))


def _named_error(call, name):
    start = time.perf_counter()
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    assert name in str(err.value), err.value
    assert time.perf_counter() - start < 1.0


@FUZZ
@given(value=WRONG)
def test_fuzz_paths(small, tmp_path, value):
    from galcube_lib.metrics import real

    _named_error(lambda: small.to_fits(value), "path")
    _named_error(lambda: gl.read_fits(value), "path")
    _named_error(lambda: real.write_moments(small, value), "path")


@FUZZ
@given(value=st.one_of(WRONG.filter(lambda v: not isinstance(v, bool)), st.sampled_from(["no", "yes"])))
def test_fuzz_overwrite(small, tmp_path, value):
    path = tmp_path / "c.fits"
    if not path.exists():
        small.to_fits(path)
    _named_error(lambda: small.to_fits(path, overwrite=value), "overwrite")


@FUZZ
@given(value=st.one_of(WRONG, st.text(max_size=4),
                       st.tuples(st.floats(allow_nan=True), st.integers(1, 3)).map(lambda r: (r, r, r)),
                       st.tuples(st.integers(-9, -1), st.integers(1, 3)).map(lambda r: (r, r, r))))
def test_fuzz_crop_box(small, value):
    _named_error(lambda: small.crop(value), "box")


@FUZZ
@given(value=WRONG, name=st.sampled_from(["peak_snr", "n_null", "n_realisations", "n_placements",
                                          "r_eff_beams", "grow_beams", "record"]))
def test_fuzz_real_cube_and_record_arguments(small, value, name):
    from galcube_lib.metrics import real

    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if number and (name != "record" and not (name.startswith("n_") and isinstance(value, float))):
        value = -abs(value) - 1                          # a positive size or count is valid
    calls = {"peak_snr": lambda: real.inject(small, peak_snr=value),
             "n_null": lambda: real.evaluate_real(small, n_null=value),
             "n_realisations": lambda: real.evaluate_real(small, n_realisations=value),
             "n_placements": lambda: real.evaluate_real(small, n_placements=value),
             "r_eff_beams": lambda: real.default_galaxy(small, r_eff_beams=value),
             "grow_beams": lambda: real.flux_aperture(small, grow_beams=value),
             "record": lambda: gl.scene_from_record(value)}
    _named_error(calls[name], name)


def test_a_full_disk_names_the_target(tmp_path):
    target = tmp_path / "cube.fits"
    with pytest.raises(OSError, match=rf"cannot write {target}: No space left") as err:
        with _io.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise OSError(28, "No space left on device")
    assert err.value.errno == 28 and err.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
