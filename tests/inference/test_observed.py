"""A user's property maps brought to a cube's grid: a map simulated on a finer grid with a
sharper beam, convolved and reprojected, equals the map simulated on the cube's own grid."""
import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.inference import observed

pytest.importorskip("reproject")

GAL = gl.Galaxy(r_eff_kpc=2.5, inclination_deg=50.0, pa_deg=20.0)
CUBE_OBS = gl.Observation(n_pix=48, n_chan=24, channel_kms=40.0, pixel_kpc=0.5, beam_fwhm_px=4.0)
# twice finer pixels and a beam of 2 kpc -> 1 kpc FWHM, on the same sky centre
FINE_OBS = gl.Observation(n_pix=96, n_chan=24, channel_kms=40.0, pixel_kpc=0.25, beam_fwhm_px=4.0)


def _write_map(path, values, obs, beam=True):
    from astropy.io import fits
    from astropy.wcs import WCS
    header = WCS(obs.header).celestial.to_header()
    if beam:
        for key in ("BMAJ", "BMIN", "BPA"):
            header[key] = obs.header[key]
    fits.PrimaryHDU(values, header).writeto(path)
    return path


@pytest.fixture(scope="module")
def cube():
    return gl.add_noise(gl.simulate(GAL, CUBE_OBS), peak_snr=8.0, rng=0)


def test_a_finer_map_lands_on_the_cube_map(cube, tmp_path):
    fine = gl.property_maps(GAL, FINE_OBS, scatter=False).sigma_line
    coarse = gl.property_maps(GAL, CUBE_OBS, scatter=False).sigma_line
    on_grid = observed.reproject_map(_write_map(tmp_path / "line.fits", fine, FINE_OBS), cube)
    bright = coarse > 0.1 * coarse.max()
    ratio = on_grid[bright] / coarse[bright]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)
    assert np.percentile(np.abs(ratio - 1), 95) < 0.06


def test_observed_pair_scores_only_covered_spaxels(cube, tmp_path):
    sfr = gl.property_maps(GAL, CUBE_OBS, scatter=False).sigma_sfr
    half = sfr.copy()
    half[:, :24] = np.nan      # the map covers the east half of the field only
    path = _write_map(tmp_path / "sfr.fits", half, CUBE_OBS)
    pair = observed.observed_pair(cube, {"sigma_sfr": path}, galaxy=3)
    assert pair.galaxy == 3 and pair.peak_snr == pytest.approx(8.0, rel=0.25)
    np.testing.assert_allclose(pair.maps.sigma_sfr[:, 30:], sfr[:, 30:], rtol=1e-6, atol=1e-12 * sfr.max())
    assert np.all(pair.maps.sigma_line[:, :22] == 0)


def test_bad_maps_are_refused(cube, tmp_path):
    coarse_beam = gl.Observation(n_pix=48, n_chan=24, channel_kms=40.0, pixel_kpc=0.5, beam_fwhm_px=8.0)
    big = _write_map(tmp_path / "big.fits", np.ones((48, 48)), coarse_beam)
    with pytest.raises(ValueError, match="cannot be sharpened"):
        observed.reproject_map(big, cube, "sigma_sfr")
    with pytest.raises(ValueError, match="sigma_sfr"):
        observed.observed_pair(cube, {"sigma_gas": big})
    from astropy.io import fits
    fits.PrimaryHDU(np.ones((4, 4, 4))).writeto(tmp_path / "cube.fits")
    with pytest.raises(ValueError, match="2-D image"):
        observed.reproject_map(tmp_path / "cube.fits", cube)
