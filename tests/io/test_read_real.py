"""gl.read_fits on real observations: each trap on a small synthetic FITS file, then every shipped
real cube in data/real/."""
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import FK4, SkyCoord
from astropy.io import fits

import galcube_lib as gl

C_KMS = 299792.458
REAL = Path(__file__).parents[2] / "data" / "real"


def _header(shape, spectral=("VRAD", 1.0e5, 1.0e4), beam=(3e-4, 2e-4, 10.0), bunit="Jy/beam", **cards):
    """A plain (v, y, x) header; ``cards`` set more keywords (None removes one)."""
    h = fits.Header()
    ctype3, crval3, cdelt3 = spectral
    axes = [("RA---SIN", 150.0, -1e-4, 3.0), ("DEC--SIN", 2.0, 1e-4, 3.0), (ctype3, crval3, cdelt3, 1.0)]
    for i, (ctype, crval, cdelt, crpix) in enumerate(axes[: len(shape)], 1):
        h[f"CTYPE{i}"], h[f"CRVAL{i}"], h[f"CDELT{i}"], h[f"CRPIX{i}"] = ctype, crval, cdelt, crpix
    if beam:
        h["BMAJ"], h["BMIN"], h["BPA"] = beam
    h["BUNIT"] = bunit
    for key, value in cards.items():
        if value is None:
            h.remove(key, ignore_missing=True)
        else:
            h[key] = value
    return h


def _write(path, data, header, *more_hdus):
    fits.HDUList([fits.PrimaryHDU(data, header), *more_hdus]).writeto(path)
    return path


def _cube(shape=(4, 6, 5), seed=0):
    return np.random.default_rng(seed).normal(1.0, 0.1, size=shape).astype(np.float32)


def _read_quietly(path, **kwargs):
    """read_fits, failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return gl.read_fits(path, **kwargs)


# ----------------------------------------------------------------------------- axes

@pytest.mark.parametrize("order", ["RA DEC FREQ STOKES", "RA DEC STOKES FREQ"])
def test_degenerate_stokes_axis_is_dropped_wherever_it_sits(tmp_path, order):
    n = 5
    axes = {"RA": ("RA---SIN", 150.0, -1e-4, 3.0, 6), "DEC": ("DEC--SIN", 2.0, 1e-4, 3.0, 7),
            "FREQ": ("FREQ", 100e9, -1e6, 1.0, n), "STOKES": ("STOKES", 1.0, 1.0, 1.0, 1)}
    h = fits.Header()
    names = order.split()
    for i, name in enumerate(names, 1):
        h[f"CTYPE{i}"], h[f"CRVAL{i}"], h[f"CDELT{i}"], h[f"CRPIX{i}"], _ = axes[name]
        for j in range(1, 5):   # CASA writes the whole PC matrix
            h[f"PC{i}_{j}"] = float(i == j)
    h["RESTFRQ"], h["BMAJ"], h["BMIN"], h["BPA"], h["BUNIT"] = 100e9, 3e-4, 2e-4, 0.0, "Jy/beam"
    shape = tuple(axes[name][4] for name in reversed(names))
    data = _cube(shape)
    cube = _read_quietly(_write(tmp_path / "s.fits", data, h))
    assert cube.shape == (n, 7, 6) and cube.data.dtype == np.float32
    assert np.array_equal(cube.data, data.reshape(n, 7, 6))
    assert cube.header["CTYPE3"] == "FREQ" and cube.header["NAXIS"] == 3
    assert not [k for k in cube.header if k.endswith("4") or "_4" in k]
    assert cube.wcs.naxis == 3
    assert np.allclose(cube.velocity_kms, C_KMS * (1 - (100e9 - 1e6 * np.arange(n)) / 100e9))
    assert cube.record["read"]["original_shape"] == list(shape)
    assert "dropped Stokes axis" in cube.record["read"]["notes"]


def test_several_stokes_planes_are_refused(tmp_path):
    h = _header((2, 4, 6, 5), CTYPE4="STOKES", CRVAL4=1.0, CDELT4=1.0, CRPIX4=1.0)
    with pytest.raises(ValueError, match=r"many\.fits.*2 Stokes planes"):
        gl.read_fits(_write(tmp_path / "many.fits", _cube((2, 4, 6, 5)), h))


def test_map_and_single_channel_read_as_one_channel_cubes(tmp_path):
    image = _cube((6, 5))
    cube = _read_quietly(_write(tmp_path / "map.fits", image, _header((6, 5))))
    assert cube.shape == (1, 6, 5) and np.array_equal(cube.data[0], image)
    assert "2-D map read as a one-channel cube" in cube.record["read"]["notes"]
    with pytest.raises(ValueError, match="no spectral axis"):
        _ = cube.velocity_kms
    # One 338 MHz channel at 222.5 GHz, CRPIX3 = 0 as in the Pisco maps; rest frequency 222.5 GHz.
    h = _header((1, 6, 5), spectral=("FREQ", 222.1734e9, 338.0e6), CRPIX3=0.0, RESTFRQ=222.5114e9)
    cube = _read_quietly(_write(tmp_path / "one.fits", _cube((1, 6, 5)), h))
    assert cube.shape == (1, 6, 5)
    assert cube.velocity_kms == pytest.approx([0.0], abs=1e-6)
    assert cube.channel_kms == pytest.approx(C_KMS * 338.0e6 / 222.5114e9)


def test_descending_velocity_axis_keeps_its_order(tmp_path):
    data = _cube()
    h = _header(data.shape, spectral=("VRAD", 305.0, -1462.8), CUNIT3="m/s")
    cube = _read_quietly(_write(tmp_path / "d.fits", data, h))
    assert np.array_equal(cube.data, data)
    assert np.allclose(cube.velocity_kms, (305.0 - 1462.8 * np.arange(4)) / 1e3)
    assert cube.channel_kms == pytest.approx(1.4628)


@pytest.mark.parametrize("ctype, cunit, scale", [("VOPT", None, 1e3), ("VOPT", "km/s", 1.0),
                                                 ("VELO-HEL", None, 1e3)])
def test_optical_velocity_becomes_radio(tmp_path, ctype, cunit, scale):
    v_opt = 5000.0 + 50.0 * np.arange(4)                       # km/s
    h = _header((4, 6, 5), spectral=(ctype, v_opt[0] * scale, 50.0 * scale), CUNIT3=cunit)
    cube = _read_quietly(_write(tmp_path / "o.fits", _cube(), h))
    assert np.allclose(cube.velocity_kms, C_KMS * v_opt / (C_KMS + v_opt), rtol=1e-10)
    # dv_radio / dv_opt = c^2 / (c + v_opt)^2, at the middle of the axis
    assert cube.channel_kms == pytest.approx(50.0 * (C_KMS / (C_KMS + v_opt[1:3].mean())) ** 2, rel=1e-6)
    if ctype.startswith("VELO"):
        assert "VELO-HEL without VELREF read as optical velocity (AIPS convention)" in \
            cube.record["read"]["notes"]


def test_miriad_velo_axis_is_radio(tmp_path):
    h = _header((4, 6, 5), spectral=("VELO-LSR", 9.0e5, 1.0e4), ORIGIN="Miriad fits: version 1.1")
    cube = _read_quietly(_write(tmp_path / "m.fits", _cube(), h))
    assert cube.header["VELREF"] == 257
    assert np.array_equal(cube.velocity_kms, 900.0 + 10.0 * np.arange(4))
    assert cube.channel_kms == pytest.approx(10.0)


@pytest.mark.parametrize("rest_key", ["RESTFRQ", "RESTFREQ"])
def test_frequency_axis_gives_radio_velocity(tmp_path, rest_key):
    rest, nu0, dnu = 115.2712e9, 115.0e9, -2.0e6
    h = _header((4, 6, 5), spectral=("FREQ", nu0, dnu), **{rest_key: rest})   # no CUNIT3: Hz
    cube = _read_quietly(_write(tmp_path / "f.fits", _cube(), h))
    nu = nu0 + dnu * np.arange(4)
    assert np.allclose(cube.velocity_kms, C_KMS * (rest - nu) / rest, rtol=1e-12)
    assert cube.channel_kms == pytest.approx(C_KMS * 2.0e6 / rest)


def test_frequency_axis_without_rest_frequency_says_restfrq(tmp_path):
    h = _header((4, 6, 5), spectral=("FREQ", 115.0e9, 2.0e6))
    cube = _read_quietly(_write(tmp_path / "f.fits", _cube(), h))
    with pytest.raises(ValueError, match="RESTFRQ"):
        _ = cube.velocity_kms
    with pytest.raises(ValueError, match="RESTFRQ"):
        _ = cube.channel_kms


def test_high_redshift_rest_frequency_warns(tmp_path):
    h = _header((1, 6, 5), spectral=("FREQ", 222.5e9, 338e6), RESTFRQ=1900.537e9)
    with pytest.warns(UserWarning, match=r"z ~ 7\.54.*RESTFRQ"):
        gl.read_fits(_write(tmp_path / "z.fits", _cube((1, 6, 5)), h))


# ----------------------------------------------------------------------------- old headers

def test_b1950_ncp_header_gives_correct_sky_coordinates(tmp_path):
    ra0, dec0, step = 142.3329, 21.72194, 5.55469e-3
    h = _header((4, 9, 8), beam=(1.6e-2, 1.3e-2, 0.0), EPOCH=1950.0, CTYPE1="RA---NCP",
                CTYPE2="DEC--NCP", CRVAL1=ra0, CRVAL2=dec0, CDELT1=-step, CDELT2=step, CRPIX1=4.0,
                CRPIX2=5.0)
    cube = _read_quietly(_write(tmp_path / "b.fits", _cube((4, 9, 8)), h))
    assert cube.header["EQUINOX"] == 1950.0 and cube.header["RADESYS"] == "FK4"
    assert any("B1950 -> FK4" in str(card) for card in cube.header["HISTORY"])
    b1950 = FK4(equinox="B1950")
    centre = cube.wcs.celestial.pixel_to_world(3, 4)        # 0-based CRPIX
    expected = SkyCoord(ra0 * u.deg, dec0 * u.deg, frame=b1950)
    assert centre.icrs.separation(expected.icrs).to_value(u.arcsec) < 1e-6
    # An off-centre pixel against the NCP formulae (AIPS memo 27) inverted by hand:
    # x = cos(d) sin(a - a0), y = (cos(d0) - cos(d) cos(a - a0)) / sin(d0).
    x, y = np.radians(-step * (7 - 3)), np.radians(step * (0 - 4))
    d0 = np.radians(dec0)
    dra = np.degrees(np.arctan2(x, np.cos(d0) - y * np.sin(d0)))
    dec = np.degrees(np.arccos(np.hypot(x, np.cos(d0) - y * np.sin(d0))))
    corner = cube.wcs.celestial.pixel_to_world(7, 0)
    by_hand = SkyCoord((ra0 + dra) * u.deg, dec * u.deg, frame=b1950)
    assert corner.icrs.separation(by_hand.icrs).to_value(u.arcsec) < 1e-3


def test_aips_clean_history_beam(tmp_path):
    h = _header((4, 6, 5), beam=None)
    h.add_history("AIPS   CLEAN BMAJ=  1.7599E-03 BMIN=  1.5740E-03 BPA=   2.61")
    cube = _read_quietly(_write(tmp_path / "a.fits", _cube(), h))
    assert (cube.header["BMAJ"], cube.header["BMIN"], cube.header["BPA"]) == (1.7599e-3, 1.5740e-3, 2.61)
    assert "beam from AIPS CLEAN HISTORY" in cube.record["read"]["notes"]


# ----------------------------------------------------------------------------- beams

def _beams_table(bmaj, bmin, bpa, unit="arcsec"):
    n = len(bmaj)
    cols = [fits.Column(name="BMAJ", format="1E", unit=unit, array=bmaj),
            fits.Column(name="BMIN", format="1E", unit=unit, array=bmin),
            fits.Column(name="BPA", format="1E", unit="deg", array=bpa),
            fits.Column(name="CHAN", format="1J", array=np.arange(n)),
            fits.Column(name="POL", format="1J", array=np.zeros(n))]
    return fits.BinTableHDU.from_columns(cols, name="BEAMS")


@pytest.mark.parametrize("unit, scale", [("arcsec", 1.0), ("deg", 1 / 3600.0)])
def test_beams_table_gives_the_common_beam_and_warns_on_spread(tmp_path, unit, scale):
    # Nested beams with one position angle: the largest is the common beam; 0 marks a flagged channel.
    bmaj, bmin = np.array([1.0, 1.2, 1.1, 0.0, 1.05]), np.array([0.8, 0.9, 0.85, 0.0, 0.8])
    table = _beams_table(bmaj * scale, bmin * scale, np.full(5, 30.0), unit)
    h = _header((5, 6, 5), beam=(1.0 / 3600, 0.8 / 3600, 0.0), CASAMBM=True)
    with pytest.warns(UserWarning, match=r"b\.fits: per-channel beams differ by 35\.0% in area"):
        cube = gl.read_fits(_write(tmp_path / "b.fits", _cube((5, 6, 5)), h, table))
    assert cube.header["BMAJ"] * 3600 == pytest.approx(1.2, rel=1e-5)
    assert cube.header["BMIN"] * 3600 == pytest.approx(0.9, rel=1e-5)
    assert cube.header["BPA"] == pytest.approx(30.0)
    assert "CASAMBM" not in cube.header
    assert "representative beam from BEAMS table (common beam; replaces the header's BMAJ/BMIN)" in \
        cube.record["read"]["notes"]


def test_beams_table_in_the_wrong_unit_is_refused(tmp_path):
    table = _beams_table(np.array([1.2, 1.2]), np.array([0.9, 0.9]), np.zeros(2), unit="deg")
    path = _write(tmp_path / "b.fits", _cube((2, 6, 5)), _header((2, 6, 5), beam=None), table)
    with pytest.raises(ValueError, match=r"b\.fits: .*far larger than the 6 px field.*BEAMS table's units"):
        gl.read_fits(path)


def test_nearly_equal_beams_give_no_warning(tmp_path):
    table = _beams_table(np.array([1.349, 1.3489, 1.3491]), np.array([0.9458, 0.9457, 0.9458]),
                         np.full(3, -14.9))
    cube = _read_quietly(_write(tmp_path / "b.fits", _cube((3, 6, 5)), _header((3, 6, 5), beam=None), table))
    assert cube.header["BMAJ"] * 3600 == pytest.approx(1.3491, rel=2e-3)


def test_no_beam_says_how_to_give_one(tmp_path):
    path = _write(tmp_path / "nobeam.fits", _cube(), _header((4, 6, 5), beam=None))
    how = r"read_fits\(path, beam=\(bmaj_arcsec, bmin_arcsec, pa_deg\)\)"
    with pytest.raises(ValueError, match=r"nobeam\.fits.*" + how):
        gl.read_fits(path)
    cube = _read_quietly(path, beam=(2.0, 1.5, 30.0))
    assert (cube.header["BMAJ"], cube.header["BMIN"], cube.header["BPA"]) == (2.0 / 3600, 1.5 / 3600, 30.0)
    assert cube.beam_fwhm_px == pytest.approx((2.0 / 0.36, 1.5 / 0.36))


def test_beam_argument_overrides_and_is_checked(tmp_path):
    path = _write(tmp_path / "c.fits", _cube(), _header((4, 6, 5)))
    cube = _read_quietly(path, beam=(4.0, 3.0, -10.0))
    assert cube.header["BMAJ"] == 4.0 / 3600
    assert "beam from the beam= argument" in cube.record["read"]["notes"]
    for bad in [(1.0, 2.0, 0.0), (0.0, 0.0, 0.0), (-1.0, -2.0, 0.0), (2.0, 1.0, float("nan"))]:
        with pytest.raises(ValueError, match="beam="):
            gl.read_fits(path, beam=bad)
    for bad in ["2 1 0", (2.0, 1.0), 3.0, ("a", "b", "c")]:
        with pytest.raises(TypeError, match="beam="):
            gl.read_fits(path, beam=bad)


# ----------------------------------------------------------------------------- blanks

def test_zero_filled_spaxels_become_nan(tmp_path):
    data = _cube()
    data[:, :2, :] = 0.0          # outside the footprint: 2 x 5 spaxels
    data[1, 4, 4] = 0.0           # a single zero in a live spaxel stays
    data[2, 5, 0] = np.nan        # NaN stays NaN
    data[:, 5, 1] = 0.0
    data[3, 5, 1] = np.nan        # zero or NaN in every channel: a blank too
    cube = _read_quietly(_write(tmp_path / "z.fits", data, _header(data.shape)))
    expected = np.isnan(data)
    expected[:, :2, :] = expected[:, 5, 1] = True
    assert np.array_equal(~cube.valid, expected)
    assert cube.data[1, 4, 4] == 0.0
    assert np.array_equal(cube.data[cube.valid], data[cube.valid])
    assert cube.record["read"]["blanked_voxels"] == 4 * 10 + 3
    assert "zero-filled blanks -> NaN (11 spaxels)" in cube.record["read"]["notes"]


def test_blank_keyword_on_float_data_is_quiet_and_ignored(tmp_path):
    data = _cube()
    data[0, 0, 0] = -1.0
    h = _header(data.shape, BLANK=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # astropy's own complaint while writing the test file
        path = _write(tmp_path / "fb.fits", data, h)
    cube = _read_quietly(path)
    assert cube.data[0, 0, 0] == -1.0 and "BLANK" not in cube.header
    assert "BLANK keyword on float data ignored (NaN marks blanks)" in cube.record["read"]["notes"]


def test_integer_blank_values_become_nan(tmp_path):
    raw = np.arange(120, dtype=np.int16).reshape(4, 6, 5)
    raw[1, 2, 3] = raw[2, 0, 0] = -32768
    hdu = fits.PrimaryHDU(raw, _header(raw.shape))
    hdu.header["BLANK"], hdu.header["BSCALE"], hdu.header["BZERO"] = -32768, 0.5, 1.0
    hdu.writeto(tmp_path / "int.fits", output_verify="ignore")
    cube = _read_quietly(tmp_path / "int.fits")
    expected = raw * 0.5 + 1.0
    expected[raw == -32768] = np.nan
    assert cube.data.dtype == np.float32
    assert np.array_equal(cube.data, expected.astype(np.float32), equal_nan=True)
    assert cube.record["read"]["blanked_voxels"] == 2
    assert "BLANK" not in cube.header and "BSCALE" not in cube.header


# ----------------------------------------------------------------------------- gain

def test_gain_is_attached_masks_data_and_round_trips(tmp_path):
    data = _cube()
    path = _write(tmp_path / "pb.fits", data, _header(data.shape))
    gain = np.full(data.shape, 0.8)
    gain[0, 0, 0], gain[1, 1, 1], gain[2, 2, 2] = np.nan, 0.0, 1.005
    before = gain.copy()
    cube = _read_quietly(path, gain=gain)
    assert np.array_equal(gain, before, equal_nan=True)               # not modified in place
    assert cube.gain.dtype == np.float32 and np.isnan(cube.gain[[0, 1], [0, 1], [0, 1]]).all()
    assert np.isnan(cube.data[[0, 1], [0, 1], [0, 1]]).all() and cube.valid.sum() == data.size - 2
    assert cube.record["read"]["blanked_voxels"] == 2
    # From a FITS file with its own Stokes axis and beam (both irrelevant), and back through to_fits.
    h = _header((1,) + data.shape, bunit="GAIN", CTYPE4="STOKES", CRVAL4=1.0, CDELT4=1.0, CRPIX4=1.0)
    gain_path = _write(tmp_path / "gain.fits", np.full((1,) + data.shape, 0.5, np.float32), h)
    cube = _read_quietly(path, gain=gain_path)
    assert np.all(cube.gain == 0.5)
    back = gl.read_fits(cube.to_fits(tmp_path / "out.fits"))
    assert np.array_equal(back.gain, cube.gain) and back.record == cube.record


def test_gain_is_checked(tmp_path):
    data = _cube()
    path = _write(tmp_path / "pb.fits", data, _header(data.shape))
    with pytest.raises(ValueError, match=r"gain array has shape \(4, 6\)"):
        gl.read_fits(path, gain=np.ones((4, 6)))
    for bad in (1.2, -0.1):
        with pytest.raises(ValueError, match=r"gain array must lie in \(0, 1\]"):
            gl.read_fits(path, gain=np.full(data.shape, bad))
    with pytest.raises(TypeError, match="gain must be a FITS path or an array"):
        gl.read_fits(path, gain={"a": 1})
    with pytest.raises(FileNotFoundError, match="nogain.fits"):
        gl.read_fits(path, gain=tmp_path / "nogain.fits")
    with pytest.raises(ValueError, match="gain has shape"):
        gl.Cube(data, fits.Header()).replace(gain=np.ones((4, 6, 4)))


# ----------------------------------------------------------------------------- units

def _rayleigh_jeans_jy_per_beam(t_k, nu_hz, bmaj_deg, bmin_deg):
    """S = 2 k nu^2 T Omega / c^2 with Omega = pi bmaj bmin / (4 ln 2), in Jy."""
    k, c = 1.380649e-23, 299792458.0
    omega = math.pi * math.radians(bmaj_deg) * math.radians(bmin_deg) / (4 * math.log(2))
    return 2 * k * nu_hz**2 * t_k * omega / c**2 / 1e-26


@pytest.mark.parametrize("bunit, per_k", [("K", 1.0), ("mK", 1e-3)])
def test_kelvin_on_a_frequency_axis_becomes_jy_per_beam(tmp_path, bunit, per_k):
    data = np.full((3, 6, 5), 2.0, np.float32)
    h = _header(data.shape, spectral=("FREQ", 230e9, 50e6), beam=(1e-3, 5e-4, 0.0), bunit=bunit)
    cube = _read_quietly(_write(tmp_path / "k.fits", data, h))
    nu = 230e9 + 50e6 * np.arange(3)
    expected = [_rayleigh_jeans_jy_per_beam(2.0 * per_k, f, 1e-3, 5e-4) for f in nu]
    assert np.allclose(cube.data[:, 2, 2], expected, rtol=1e-5)
    assert cube.header["BUNIT"] == "Jy/beam"
    assert any(f"{bunit} -> Jy/beam" in str(card) for card in cube.header["HISTORY"])


def test_kelvin_on_a_velocity_axis_uses_the_rest_frequency(tmp_path):
    rest = 115.2712e9
    data = np.full((3, 6, 5), 1.5, np.float32)
    h = _header(data.shape, spectral=("VRAD", 1.0e6, 2.0e4), beam=(2e-3, 1e-3, 0.0), bunit="K", RESTFREQ=rest)
    cube = _read_quietly(_write(tmp_path / "k.fits", data, h))
    nu = rest * (1 - (1000.0 + 20.0 * np.arange(3)) / C_KMS)
    expected = [_rayleigh_jeans_jy_per_beam(1.5, f, 2e-3, 1e-3) for f in nu]
    assert np.allclose(cube.data[:, 0, 0], expected, rtol=1e-5)


def test_kelvin_without_frequency_is_kept_with_a_warning(tmp_path):
    data = _cube()
    with pytest.warns(UserWarning, match="'K' kept: converting to Jy/beam needs the frequency"):
        cube = gl.read_fits(_write(tmp_path / "k.fits", data, _header(data.shape, bunit="K")))
    assert cube.header["BUNIT"] == "K" and np.array_equal(cube.data, data)


@pytest.mark.parametrize("bunit", ["JY/BEAM", "Jy/beam", "Jy beam-1", "Jy/Beam", "Jy.beam^-1"])
def test_jy_per_beam_spellings_are_accepted(tmp_path, bunit):
    data = _cube()
    cube = _read_quietly(_write(tmp_path / "j.fits", data, _header(data.shape, bunit=bunit)))
    assert cube.header["BUNIT"] == "Jy/beam" and np.array_equal(cube.data, data)


@pytest.mark.parametrize("bunit, message", [("", "BUNIT is blank"), ("Jy/pixel", "'Jy/pixel' is not Jy/beam"),
                                            ("GAIN", "'GAIN' is not Jy/beam")])
def test_blank_and_other_units_are_kept_with_a_warning(tmp_path, bunit, message):
    data = _cube()
    with pytest.warns(UserWarning, match=message):
        cube = gl.read_fits(_write(tmp_path / "u.fits", data, _header(data.shape, bunit=bunit)))
    assert cube.header["BUNIT"] == bunit and np.array_equal(cube.data, data)


# ----------------------------------------------------------------------------- galcube's own files

def test_galcube_files_are_not_normalised(tmp_path):
    obs = gl.Observation(n_pix=16, n_chan=6, channel_kms=30.0)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=0.5)], obs)
    data = clean.data.copy()
    data[:, :3, :3] = 0.0          # exact zeros in a galcube file are data, not blanks
    cube = gl.Cube(data, clean.header, record={"made": "here"})
    back = _read_quietly(cube.to_fits(tmp_path / "own.fits"))
    assert np.array_equal(back.data, data) and back.record == {"made": "here"}


# ----------------------------------------------------------------------------- the shipped real cubes

# name: (channels, channel_kms, relative tolerance, descending, warnings expected)
EXPECTED = {
    "iras07454_alma_hc3n_agb": (53, 1.4628, 1e-3, True, []),
    "ngc2903_wsrt_hi_whisp": (113, 4.13, 1e-2, False, []),            # optical -> radio: 4.115
    "ngc4047_carma_co10_edge_smo7": (44, 20.0, 1e-6, False, []),
    "ngc4047_carma_co10_edge_smo7_gain": (44, 20.0, 1e-6, False, ["'GAIN' is not Jy/beam"]),
    "ngc4324_carma_co10": (21, 20.0, 1e-6, False, []),
    "ngc4710_carma_co10": (44, 10.0, 1e-6, False, []),
    # One 338 MHz channel: 455 km/s in the source's frame, 53.3 km/s against the rest-frame RESTFRQ.
    "pisco_j1342_cii_alma_2d_image": (1, C_KMS * 338.0109e6 / 1900.975e9, 1e-4, False, ["z ~ 7.54"]),
    "pisco_j1342_cii_alma_2d_psf": (1, C_KMS * 338.0109e6 / 1900.975e9, 1e-4, False,
                                    ["BUNIT is blank", "z ~ 7.54"]),
    "pisco_j1342_cii_alma_2d_residual": (1, C_KMS * 338.0109e6 / 1900.975e9, 1e-4, False,
                                         ["BUNIT is blank", "z ~ 7.54"]),
}
NEEDS_BEAM = {"pisco_j1342_cii_alma_2d_residual": (0.2817, 0.1974, -61.74)}   # the image's beam


def test_every_shipped_real_file_is_expected():
    assert sorted(p.name.removesuffix(".fits.gz") for p in REAL.glob("*.fits.gz")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_cube_reads(name):
    path = REAL / f"{name}.fits.gz"
    n_chan, width, rtol, descending, expected_warnings = EXPECTED[name]
    if name in NEEDS_BEAM:
        with pytest.raises(ValueError, match="beam="):
            gl.read_fits(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cube = gl.read_fits(path, beam=NEEDS_BEAM.get(name))
        velocity, channel = cube.velocity_kms, cube.channel_kms
        sky = cube.wcs.celestial.pixel_to_world(cube.shape[2] / 2, cube.shape[1] / 2).icrs
    messages = [str(w.message) for w in caught
                if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    assert len(messages) == len(expected_warnings), messages
    for text in expected_warnings:
        assert any(m.startswith(path.name) and text in m for m in messages), messages

    assert cube.data.ndim == 3 and cube.data.dtype == np.float32 and cube.shape[0] == n_chan
    assert np.isfinite(velocity).all() and velocity.shape == (n_chan,)
    steps = np.diff(velocity)
    assert (steps < 0).all() if descending else (steps > 0).all()
    assert channel == pytest.approx(width, rel=rtol)
    assert cube.header["BMAJ"] > 0 and cube.header["BMIN"] > 0
    assert np.isfinite([sky.ra.deg, sky.dec.deg]).all()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # astropy on ngc4047's BLANK keyword
        raw = fits.getdata(path).astype(np.float32).reshape(cube.shape)
    zero_filled = np.all((raw == 0) | np.isnan(raw), axis=0) & np.any(raw == 0, axis=0)
    assert np.array_equal(~cube.valid, ~np.isfinite(raw) | zero_filled[None])
    assert np.array_equal(cube.data[cube.valid], raw[cube.valid])
    assert cube.record["read"]["blanked_voxels"] == int((raw[:, zero_filled] == 0).sum())


def test_real_zero_filled_mosaic_edge_is_masked():
    cube = gl.read_fits(REAL / "ngc4710_carma_co10.fits.gz")
    assert (~cube.valid).mean() == pytest.approx(0.49, abs=0.01)
    assert cube.record["read"]["blanked_voxels"] == 358336


def test_real_primary_beam_gain():
    path = REAL / "ngc4047_carma_co10_edge_smo7.fits.gz"
    plain = gl.read_fits(path)
    cube = gl.read_fits(path, gain=REAL / "ngc4047_carma_co10_edge_smo7_gain.fits.gz")
    assert cube.gain.shape == cube.shape and cube.header["BMAJ"] * 3600 == pytest.approx(7.0)
    assert 0.1 < np.nanmin(cube.gain) and np.nanmax(cube.gain) < 1.01
    assert np.array_equal(cube.valid, plain.valid)   # the file is already blanked where gain < 0.4
    assert np.nanmin(cube.gain[cube.valid]) >= 0.39


def test_real_per_channel_beams_and_b1950():
    alma = gl.read_fits(REAL / "iras07454_alma_hc3n_agb.fits.gz")
    assert alma.header["BMAJ"] * 3600 == pytest.approx(1.349, rel=2e-3)
    assert alma.header["BMIN"] * 3600 == pytest.approx(0.9458, rel=2e-3)
    wsrt = gl.read_fits(REAL / "ngc2903_wsrt_hi_whisp.fits.gz")
    assert wsrt.header["RADESYS"] == "FK4" and wsrt.header["EQUINOX"] == 1950.0
    centre = wsrt.wcs.celestial.pixel_to_world(35, 47)        # CRPIX (36, 48), 0-based
    expected = SkyCoord(142.3329 * u.deg, 21.72194 * u.deg, frame=FK4(equinox="B1950"))
    assert centre.icrs.separation(expected.icrs).to_value(u.arcsec) < 1e-6
    # NGC 2903 is at ICRS 09h32m10.1s +21d30m03s.
    assert centre.icrs.separation(SkyCoord("09h32m10.1s +21d30m03s")).to_value(u.arcmin) < 2
