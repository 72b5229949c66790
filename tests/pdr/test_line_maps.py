"""Line maps for the PDR fits: units to erg s^-1 cm^-2 sr^-1, uncertainties, masks, grids and
beams, and the errors that name what is wrong."""
import warnings

import numpy as np
import pytest
from astropy import constants as const
from astropy import units as u
from astropy.io import fits

from galcube_lib.pdr.line_maps import common_grid, read_line_map

CII_HZ = 1900.537e9


def header(bunit="K km/s", shift=0.0, beam=None, restfreq=CII_HZ):
    h = fits.Header()
    h.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=85.0, CRVAL2=-2.0, CRPIX1=8.0 + shift,
             CRPIX2=8.0, CDELT1=-1e-3, CDELT2=1e-3, CUNIT1="deg", CUNIT2="deg")
    if bunit is not None:
        h["BUNIT"] = bunit
    if restfreq is not None:
        h["RESTFREQ"] = restfreq
    if beam is not None:
        h.update(BMAJ=beam, BMIN=beam, BPA=0.0)
    return h


def write(tmp_path, name, data, hdr, uncertainty=None, mask=None):
    hdus = [fits.PrimaryHDU(data, hdr)]
    if uncertainty is not None:
        hdus.append(fits.ImageHDU(uncertainty, name="UNCERT"))
    if mask is not None:
        hdus.append(fits.ImageHDU(mask.astype(np.uint8), name="MASK"))
    path = tmp_path / name
    fits.HDUList(hdus).writeto(path)
    return path


def test_kelvin_km_s_is_converted_by_rayleigh_jeans(tmp_path):
    """I = 2 k nu^3 / c^3 x W: 7.035e-6 erg s^-1 cm^-2 sr^-1 per K km/s at 1900.537 GHz."""
    data = np.full((16, 16), 10.0)
    m = read_line_map(write(tmp_path, "cii.fits", data, header(), 0.1 * data), "CII_158")
    per_k_km_s = (2 * const.k_B * (CII_HZ * u.Hz) ** 3 / const.c ** 3 * u.K * u.km / u.s).cgs.value
    assert per_k_km_s == pytest.approx(7.035e-6, rel=1e-3)
    assert np.allclose(m.intensity, 10 * per_k_km_s) and np.allclose(m.uncertainty, per_k_km_s)


def test_jansky_per_beam_and_si_units(tmp_path):
    data = np.ones((16, 16))
    beam_deg = 2e-3
    m = read_line_map(write(tmp_path, "a.fits", data, header("Jy/beam km/s", beam=beam_deg)), "CII_158",
                      uncertainty=0.2)
    omega = np.pi * np.radians(beam_deg) ** 2 / (4 * np.log(2))          # Gaussian beam, sr
    expected = 1e-23 / omega * CII_HZ * 1e5 / const.c.cgs.value            # Jy -> cgs, dnu = nu dv / c
    assert np.allclose(m.intensity, expected, rtol=1e-6) and np.allclose(m.uncertainty, 0.2 * expected)
    si = read_line_map(write(tmp_path, "b.fits", data, header("W / (m2 sr)")), "FIR", uncertainty=0.1)
    assert np.allclose(si.intensity, 1e3)                                  # 1 W m^-2 = 1e3 erg s^-1 cm^-2


def test_uncertainties_masks_and_their_handling(tmp_path):
    data = np.full((16, 16), 5.0)
    data[0, 0] = -1.0
    sigma = 0.1 * data                 # a relative error: negative at the negative pixel
    mask = np.zeros(data.shape, bool)
    mask[3, 3] = True
    with pytest.warns(UserWarning, match="1 pixels with an uncertainty <= 0"):
        m = read_line_map(write(tmp_path, "c.fits", data, header(), sigma, mask), "CII_158")
    assert np.isnan(m.uncertainty[0, 0]) and m.intensity[0, 0] < 0        # kept, but left out of the fit
    assert np.isnan(m.intensity[3, 3])
    with pytest.raises(ValueError, match="no uncertainties"):
        read_line_map(write(tmp_path, "d.fits", data, header()), "CII_158")
    with pytest.raises(ValueError, match="fraction"):
        read_line_map(write(tmp_path, "e.fits", data, header()), "CII_158", uncertainty=-0.1)


def test_units_that_cannot_be_used_are_named(tmp_path):
    data, sigma = np.ones((16, 16)), 0.1 * np.ones((16, 16))
    with pytest.raises(ValueError, match="no BUNIT"):
        read_line_map(write(tmp_path, "f.fits", data, header(None), sigma), "CII_158")
    with pytest.raises(ValueError, match="BUNIT 'Jy'"):
        read_line_map(write(tmp_path, "g.fits", data, header("Jy"), sigma), "CII_158")
    with pytest.raises(ValueError, match="rest_frequency"):
        read_line_map(write(tmp_path, "h.fits", data, header(restfreq=None), sigma), "CII_158")
    ok = read_line_map(write(tmp_path, "i.fits", data, header(restfreq=None), sigma), "CII_158",
                       rest_frequency=CII_HZ * u.Hz)
    assert np.allclose(ok.intensity, 7.035e-6, rtol=1e-3)


def test_maps_on_other_grids_are_reprojected(tmp_path):
    yy, xx = np.mgrid[:16, :16]
    data = 1.0 + xx + 0.5 * yy                     # linear: interpolation reproduces it exactly
    first = read_line_map(write(tmp_path, "j.fits", data, header(), 0.1 * data), "CII_158")
    shifted = read_line_map(write(tmp_path, "k.fits", data, header(shift=2.0), 0.1 * data), "CO_10")
    intensity, sigma, _ = common_grid([first, shifted])
    # the second map's pixel x is the first's x - 2: its value there is data at x + 2
    expected = np.where(xx < 14, 1.0 + (xx + 2) + 0.5 * yy, np.nan)
    scale = first.intensity / data
    assert np.allclose(intensity[1][:, :13] / scale[:, :13], expected[:, :13], rtol=1e-6)
    assert np.isnan(intensity[1][:, 15]).all()     # not covered
    far = read_line_map(write(tmp_path, "l.fits", data, header(shift=500.0), 0.1 * data), "CO_10")
    with pytest.raises(ValueError, match="does not overlap"):
        common_grid([first, far])


def test_mismatched_beams_are_refused(tmp_path):
    data = np.ones((16, 16))
    a = read_line_map(write(tmp_path, "m.fits", data, header(beam=2e-3), 0.1 * data), "CII_158")
    b = read_line_map(write(tmp_path, "n.fits", data, header(beam=3e-3), 0.1 * data), "CO_10")
    with pytest.raises(ValueError, match="different beams"):
        common_grid([a, b])
    c = read_line_map(write(tmp_path, "o.fits", data, header(), 0.1 * data), "13CO_10")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert common_grid([a, c])[0].shape == (2, 16, 16)   # no beam: taken as the others'
    with pytest.raises(ValueError, match="each line once"):
        common_grid([a, a])
