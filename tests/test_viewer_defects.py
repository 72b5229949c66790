"""Defects of the CubeViewer found in a real-browser trial (issue 12), checked on the real bokeh
figures and the model: orientation, the shipped real cubes, colour limits and bars, hover,
frequency axis, regions and contours."""
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
import astropy.units as u

import galcube_lib as gl
from widgets.viewer import CubeViewer

REAL = Path("/work/shared/data/real")
REAL_FILES = sorted(REAL.glob("*.fits"))


def _screen_fraction_of_peak(viewer, name):
    """Where the brightest pixel of the image source of ``name`` lands across the image frame:
    0 at the left edge, 1 at the right, from the array bokeh draws and its x / dw."""
    data = viewer.figures.sources[name].data
    image = np.asarray(data["image"][0])
    _, col = np.unravel_index(np.nanargmax(image), image.shape)
    x_data = data["x"][0] + (col + 0.5) * data["dw"][0] / image.shape[1]
    x_range = viewer.figures.images[0].x_range
    return (x_data - x_range.start) / (x_range.end - x_range.start)


def _east_source_fraction(cube):
    """The fraction of :func:`_screen_fraction_of_peak` of a CubeViewer of ``cube``."""
    viewer = CubeViewer(cube)
    return _screen_fraction_of_peak(viewer, "cube")


def test_a_simulated_source_east_of_centre_is_drawn_left():
    obs = gl.Observation(n_pix=48, n_chan=8, channel_kms=40.0, pixel_kpc=0.5, beam_fwhm_px=3.0)
    cube = gl.simulate([gl.Galaxy(r_eff_kpc=1.0, offset_kpc=(-6.0, 0.0), inclination_deg=0.0)], obs)
    _, x = np.unravel_index(cube.data.sum(0).argmax(), cube.shape[1:])
    ra_peak, _ = cube.wcs.celestial.pixel_to_world_values(x, 24)
    assert ra_peak > cube.header["CRVAL1"]          # the source is east (larger RA) of the centre
    # 12 px east of the centre of a 48 px field: a quarter of the way from the left edge
    assert _east_source_fraction(cube) == pytest.approx(0.5 - 12 / 48, abs=1.5 / 48)


def test_a_source_east_of_centre_in_a_real_ra_sin_cube_is_drawn_left():
    real = gl.read_fits(REAL / "ngc4324_carma_co10.fits")
    assert real.header["CTYPE1"] == "RA---SIN"
    wcs = real.wcs.celestial
    centre = wcs.pixel_to_world(49.5, 49.5)
    east = centre.spherical_offsets_by(20 * u.arcsec, 0 * u.arcsec)   # 20″ toward the east
    x, y = (int(round(float(p))) for p in wcs.world_to_pixel(SkyCoord(east)))
    data = np.zeros(real.shape, np.float32)
    data[:, y, x] = 1.0
    fraction = _east_source_fraction(real.replace(data=data))
    assert fraction < 0.5
    assert fraction == pytest.approx(0.5 - 20 / 100, abs=1.5 / 100)   # 1″ pixels, 100 px field


@pytest.mark.parametrize("path", REAL_FILES, ids=[p.name for p in REAL_FILES])
def test_every_shipped_real_cube_opens_or_says_why(path):
    try:
        cube = gl.read_fits(path)
    except ValueError as err:          # a map without a beam: the reader names the file and the fix
        assert path.name in str(err) and "beam=" in str(err)
        cube = gl.read_fits(path, beam=(0.28, 0.2, -60.0))
    viewer = CubeViewer(cube)
    vel = cube.velocity_kms
    assert viewer.velocity_range.min <= viewer.velocity_range.max
    assert (viewer.velocity_range.min, viewer.velocity_range.max) == (vel.min(), vel.max())
    assert viewer.velocity.min <= viewer.model.channel_velocity_kms <= viewer.velocity.max
    assert viewer.slider.max == cube.shape[0] - 1


def test_set_cubes_moves_the_velocity_bounds_either_way():
    real = gl.read_fits(REAL / "ngc4324_carma_co10.fits")          # 1450-1850 km/s
    obs = gl.Observation(n_pix=100, n_chan=21, channel_kms=20.0, pixel_kpc=0.5, beam_fwhm_px=3.0)
    sim = gl.simulate([gl.Galaxy()], obs)                             # -200..200 km/s
    viewer = CubeViewer(real)
    viewer.set_cubes(sim)
    assert viewer.velocity_range.max == pytest.approx(sim.velocity_kms.max())
    viewer.set_cubes(real)
    assert viewer.velocity_range.min == pytest.approx(real.velocity_kms.min())
