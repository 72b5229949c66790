"""Lazy cubes: read_fits(lazy=True) over the file, zarr stores, atomic folder writes."""
import gzip
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import galcube_lib as gl
from galcube_lib.io import lazy
from galcube_lib.io.files import atomic_folder

REAL = Path(__file__).parents[2] / "data" / "real"


@pytest.fixture(scope="module")
def noisy():
    cube = gl.simulate(gl.Galaxy(r_eff_kpc=1.0),
                       gl.Observation(n_pix=40, n_chan=12, channel_kms=40.0))
    return gl.add_noise(cube, peak_snr=5, rng=1)


def _same(a, b):
    assert a.lazy is False and b.lazy is False
    for name in ("data", "clean", "noise", "uncertainty", "gain"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert np.array_equal(x, y, equal_nan=True), name
    assert a.record == b.record and _cards(a.header) == _cards(b.header)


def _cards(header):
    """The header's cards but those astropy writes for the array."""
    return [(c.keyword, c.value) for c in header.cards if c.keyword not in _STRUCTURAL]


_STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND"}


def test_lazy_fits_reads_nothing_until_computed_and_then_the_same_cube(tmp_path, noisy):
    path = noisy.to_fits(tmp_path / "c.fits")
    cube = gl.read_fits(path, lazy=True)
    assert cube.lazy and lazy.is_lazy(cube.clean) and lazy.is_lazy(cube.noise)
    assert cube.shape == noisy.shape and cube.data.dtype == np.float32
    # the graph names the file: shipping it to a dask worker does not ship the data
    assert len(pickle.dumps(cube.data)) < noisy.data.nbytes / 4
    _same(cube.compute(), gl.read_fits(path))
    part = cube.crop(((2, 6), (5, 25), (0, 40)))
    assert part.lazy and np.array_equal(part.compute().data, noisy.data[2:6, 5:25])


def test_every_shipped_real_cube_reads_lazily_as_in_memory(tmp_path):
    for gz in sorted(REAL.glob("*.fits.gz")):
        path = tmp_path / gz.name[:-3]
        with gzip.open(gz) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the files' own traps warn the same way both times
            try:
                eager = gl.read_fits(path)
            except ValueError as err:         # a PSF or residual map without a beam
                with pytest.raises(ValueError, match="has no beam"):
                    gl.read_fits(path, lazy=True)
                assert "has no beam" in str(err)
                continue
            _same(gl.read_fits(path, lazy=True).compute(), eager)


def test_lazy_reading_scales_integers_blanks_and_drops_stokes(tmp_path):
    raw = np.arange(120, dtype=np.int16).reshape(1, 4, 6, 5)
    raw[0, 1, 2, 3] = -32768
    raw[0, :, 0, :] = 0 * 2 - 2                 # stored -2 -> 0.0 after scaling: zero spaxels
    hdu = fits.PrimaryHDU(raw)
    for i, (ctype, crval, cdelt) in enumerate([("RA---SIN", 150.0, -1e-4), ("DEC--SIN", 2.0, 1e-4),
                                               ("VRAD", 1e5, 1e4), ("STOKES", 1.0, 1.0)], 1):
        hdu.header[f"CTYPE{i}"], hdu.header[f"CRVAL{i}"] = ctype, crval
        hdu.header[f"CDELT{i}"], hdu.header[f"CRPIX{i}"] = cdelt, 1.0
    hdu.header["BMAJ"], hdu.header["BMIN"], hdu.header["BUNIT"] = 3e-4, 2e-4, "Jy/beam"
    hdu.header["BLANK"], hdu.header["BSCALE"], hdu.header["BZERO"] = -32768, 0.5, 1.0
    hdu.writeto(tmp_path / "int.fits", output_verify="ignore")
    eager, cube = gl.read_fits(tmp_path / "int.fits"), gl.read_fits(tmp_path / "int.fits", lazy=True)
    expected = (raw[0] * 0.5 + 1.0).astype(np.float32)
    expected[raw[0] == -32768] = np.nan
    expected[:, 0, :] = np.nan
    assert np.array_equal(cube.data.compute(), expected, equal_nan=True)
    assert np.array_equal(eager.data, expected, equal_nan=True)
    assert "BSCALE" not in cube.header and "BLANK" not in cube.header
    assert _cards(cube.header)[:-3] == _cards(eager.header)[:-3]   # HISTORY: no BLANK count
    assert cube.record["read"]["blanked_voxels"] == 4 * 5   # the zero spaxels (BLANK: not counted)


def test_lazy_needs_an_uncompressed_file(tmp_path, noisy):
    path = noisy.to_fits(tmp_path / "c.fits")
    with open(path, "rb") as src, gzip.open(tmp_path / "c.fits.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    with pytest.raises(ValueError, match="decompress it first"):
        gl.read_fits(tmp_path / "c.fits.gz", lazy=True)
    with pytest.raises(TypeError, match="lazy"):
        gl.read_fits(path, lazy="yes")


def test_zarr_round_trip_in_memory_and_lazy(tmp_path, noisy):
    cube = noisy.replace(uncertainty=np.full(noisy.shape, 0.5, np.float32))
    store = cube.to_zarr(tmp_path / "c.zarr")
    back = gl.read_zarr(store)
    assert back.lazy
    _same(back.compute(), cube)
    # lazy -> zarr -> fits, chunk by chunk, and back
    again = gl.read_zarr(back.to_zarr(tmp_path / "d.zarr"))
    _same(gl.read_fits(again.to_fits(tmp_path / "d.fits")), cube)
    with pytest.raises(FileExistsError):
        cube.to_zarr(store, overwrite=False)
    with pytest.raises(FileNotFoundError, match="no zarr store"):
        gl.read_zarr(tmp_path / "none.zarr")


def test_zarr_store_is_replaced_atomically(tmp_path, noisy):
    store = noisy.to_zarr(tmp_path / "c.zarr")
    with pytest.raises(RuntimeError), atomic_folder(store) as tmp:
        (tmp / "half-written").write_text("x")
        raise RuntimeError("killed")
    _same(gl.read_zarr(store).compute(), noisy)                 # the old store, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["c.zarr"]   # no debris
    smaller = noisy.crop(((0, 4), (0, 40), (0, 40)))
    smaller.to_zarr(store)
    assert gl.read_zarr(store).shape == (4, 40, 40)
    assert [p.name for p in tmp_path.iterdir()] == ["c.zarr"]


def test_default_chunks_are_whole_spectra_of_bounded_size():
    assert lazy.default_chunks((240, 758, 1074)) == (240, 256, 256)
    nv, ty, tx = lazy.default_chunks((4000, 2000, 2000))
    assert nv == 4000 and ty == tx == 64 and nv * ty * tx * 4 <= lazy.CHUNK_BYTES
    assert lazy.default_chunks((10, 20, 30)) == (10, 20, 30)
