"""FITS output and input: round trip, WCS, beam, atomic writes, errors naming the file."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import galcube_lib as gl


def _umask():
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture(scope="module")
def noisy():
    obs = gl.Observation(n_pix=48, n_chan=20, channel_kms=25.0, beam_fwhm_px=(5.0, 3.0), beam_pa_deg=30.0)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=1.5)], obs)
    return gl.add_noise(clean, peak_snr=5.0, kind="beam", rng=3)


def test_round_trip_keeps_data_truth_noise_header_and_record(noisy, tmp_path):
    path = noisy.to_fits(tmp_path / "cube.fits")
    back = gl.read_fits(path)
    for name in ("data", "clean", "noise"):
        assert np.array_equal(getattr(back, name), getattr(noisy, name))
    assert back.record == noisy.record
    structural = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND"}
    assert [c.image for c in back.header.cards if c.keyword not in structural] == \
        [c.image for c in noisy.header.cards]
    assert (path.stat().st_mode & 0o777) == 0o666 & ~_umask()
    assert back.record["components"][0]["type"] == "Galaxy"
    assert back.record["galcube_version"] == gl.__version__
    assert back.record["noise"]["rng"] == {"entropy": 3, "spawn_key": []}
    assert back.beam_fwhm_px == pytest.approx((5.0, 3.0))
    assert back.beam_pa_deg == 30.0
    assert np.allclose(back.velocity_kms, (np.arange(20) - 9.5) * 25.0)
    assert list(tmp_path.iterdir()) == [path]   # no temporary file left behind


def test_header_has_a_real_wcs(noisy):
    h = noisy.header
    wcs = WCS(h)
    assert wcs.wcs.ctype[0] == "RA---SIN" and wcs.wcs.ctype[1] == "DEC--SIN" and wcs.wcs.ctype[2] == "VRAD"
    assert h["BUNIT"] == "Jy/beam" and h["SPECSYS"] == "BARYCENT"
    obs = gl.Observation(n_pix=48, n_chan=20, channel_kms=25.0)
    # The field centre pixel sits at the pointing centre.
    ra, dec, v = wcs.pixel_to_world_values(obs.center_px, obs.center_px, 0)
    assert (ra, dec) == pytest.approx((obs.ra_deg, obs.dec_deg))
    assert v == pytest.approx(obs.velocity_kms[0] * 1e3)
    # Pixel scale from the Planck18 angular scale at z = 5.
    from astropy.cosmology import Planck18
    kpc_per_arcsec = Planck18.kpc_proper_per_arcmin(5.0).value / 60
    assert abs(h["CDELT2"]) * 3600 == pytest.approx(0.5 / kpc_per_arcsec)


def test_frequency_axis_is_radio_velocity_consistent(tmp_path):
    obs = gl.Observation(n_pix=32, n_chan=16, channel_kms=40.0, spectral_axis="FREQ", redshift=6.0)
    cube = gl.simulate([gl.Galaxy(r_eff_kpc=1.0)], obs)
    assert cube.header["CTYPE3"] == "FREQ"
    assert cube.header["RESTFRQ"] == pytest.approx(1900.5369e9 / 7.0)
    assert np.allclose(cube.velocity_kms, obs.velocity_kms)


def test_spectral_cube_reads_axes_and_beam(noisy, tmp_path):
    from spectral_cube import SpectralCube
    import astropy.units as u

    path = noisy.to_fits(tmp_path / "cube.fits")
    sc = SpectralCube.read(path, hdu=0)
    assert sc.shape == noisy.shape
    assert sc.beam.major.to_value(u.arcsec) == pytest.approx(noisy.header["BMAJ"] * 3600)
    assert sc.beam.pa.to_value(u.deg) == pytest.approx(30.0)
    assert np.allclose(sc.spectral_axis.to_value(u.km / u.s), noisy.velocity_kms)
    assert np.allclose(sc.unmasked_data[:].value, noisy.data)


def test_plain_fits_cube_with_degenerate_stokes_axis(tmp_path):
    data = np.random.default_rng(0).normal(size=(1, 5, 8, 9)).astype(np.float32)
    h = fits.Header()
    for i, (ctype, cdelt) in enumerate([("RA---SIN", -1e-4), ("DEC--SIN", 1e-4), ("VRAD", 5e3), ("STOKES", 1)], 1):
        h[f"CTYPE{i}"], h[f"CDELT{i}"], h[f"CRPIX{i}"], h[f"CRVAL{i}"] = ctype, cdelt, 1.0, 1.0
    h["BMAJ"], h["BMIN"], h["BPA"], h["BUNIT"] = 3e-4, 2e-4, 10.0, "Jy/beam"
    fits.PrimaryHDU(data, h).writeto(tmp_path / "real.fits")
    cube = gl.read_fits(tmp_path / "real.fits")
    assert cube.shape == (5, 8, 9) and cube.clean is None and "CTYPE4" not in cube.header
    assert np.array_equal(cube.data, data[0])


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.fits"):
        gl.read_fits(tmp_path / "missing.fits")
    (tmp_path / "empty.fits").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.fits.*empty"):
        gl.read_fits(tmp_path / "empty.fits")
    (tmp_path / "junk.fits").write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(ValueError, match="junk.fits.*not a readable FITS"):
        gl.read_fits(tmp_path / "junk.fits")
    fits.PrimaryHDU(np.zeros(8, np.float32)).writeto(tmp_path / "line.fits")
    with pytest.raises(ValueError, match="line.fits.*1-D"):
        gl.read_fits(tmp_path / "line.fits")


def test_truncated_file_is_reported(noisy, tmp_path):
    path = noisy.to_fits(tmp_path / "cube.fits")
    raw = path.read_bytes()
    for fraction in (10, 3, 2):
        (tmp_path / "cut.fits").write_bytes(raw[: len(raw) // fraction])
        with pytest.raises(ValueError, match="cut.fits"):
            gl.read_fits(tmp_path / "cut.fits")


def test_failed_write_leaves_old_file_intact(noisy, tmp_path, monkeypatch):
    path = noisy.to_fits(tmp_path / "cube.fits")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(fits.HDUList, "writeto", boom)
    with pytest.raises(OSError, match="disk full"):
        noisy.to_fits(path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]
