"""The simulator under bad input (issue 12): impossible sizes are refused before anything is
allocated, user callables are checked, nothing non-finite is returned, and a component that
leaves the cube is reported. Each error is a ValueError or TypeError that names the parameter."""
from __future__ import annotations

import time
import tracemalloc
import warnings
from collections import namedtuple

import numpy as np
import psutil
import pytest

import galcube_lib as gl
from galcube_lib.sim.observation import C_KMS

OBS = dict(n_pix=48, n_chan=32)
GIB = 2 ** 30


@pytest.fixture
def machine_16gib(monkeypatch):
    """The memory checks see a machine with 16 GiB available, whatever this one has."""
    memory = namedtuple("svmem", "total available")(32 * GIB, 16 * GIB)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory)


def refused(call, error=ValueError):
    """Run ``call``, which must raise ``error`` within 1 s allocating less than 1 GiB; its message."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error) as info:
            call()
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert seconds < 1.0, f"refused only after {seconds:.2f} s"
    assert peak < GIB, f"{peak / GIB:.1f} GiB allocated before the error"
    return str(info.value)


# ----------------------------------------------------------------------------- sizes

@pytest.mark.parametrize("components, obs_kw, names", [
    # issue 12: this grew to 22.5 GB and was killed; the line-of-sight velocity sets the points
    ([gl.Galaxy(v_max_kms=1e8)], {}, ("v_max_kms=100000000.0", "sigma_kms=40.0")),
    ([gl.Galaxy(sigma_kms=1e-9)], {}, ("sigma_kms=1e-09",)),
    ([gl.Galaxy(r_eff_kpc=5000.0, inclination_deg=90.0)], dict(pixel_kpc=0.05), ("r_eff_kpc=5000.0", "pixel_kpc")),
    ([gl.Galaxy(r_eff_kpc=1e6, inclination_deg=90.0)], {}, ("r_eff_kpc=1000000.0",)),
    ([gl.Tail(gl.Galaxy(), 1.0, length_kpc=1e12)], {}, ("length_kpc", "1e+12 kpc long")),
    ([gl.Tail(gl.Galaxy(), 1.0, length_kpc=10.0, width_kpc=1e9)], {}, ("width_kpc=1000000000.0",)),
    ([gl.Bridge(gl.Galaxy(), gl.Galaxy(offset_kpc=(1e12, 0.0)), 1.0)], {}, ("Bridge", "offset_kpc")),
], ids=["v_max", "sigma", "r_eff_edge_on", "r_eff", "tail_length", "tail_width", "bridge_length"])
def test_too_many_quadrature_points_is_refused_before_building_them(components, obs_kw, names):
    obs = gl.Observation(**{**OBS, **obs_kw})
    message = refused(lambda: gl.simulate(components, obs))
    assert "quadrature points" in message and "iB of memory" in message and "limit" in message
    for name in names:
        assert name in message


@pytest.mark.parametrize("components, obs_kw, names", [
    ([gl.Galaxy()], dict(n_pix=4096, n_chan=4096), ("n_chan=4096", "n_pix=4096", "257 GiB")),
    ([gl.Galaxy()], dict(pixel_kpc=1e-5), ("h_z_kpc=0.5", "pixel_kpc=1e-05", "TiB")),
    ([gl.Galaxy(), gl.Galaxy(h_z_kpc=1e5)], {}, ("components[1]", "h_z_kpc=100000.0", "TiB")),
    ([gl.Galaxy()], dict(n_pix=4096, beam_fwhm_px=4096.0), ("beam_fwhm_px=4096",)),
], ids=["cube", "pixel_kpc", "h_z_kpc", "beam"])
def test_cube_or_work_grid_larger_than_memory_is_refused(machine_16gib, components, obs_kw, names):
    obs = gl.Observation(**{**OBS, **obs_kw})
    message = refused(lambda: gl.simulate(components, obs))
    assert "of memory, more than the 16 GiB available" in message
    for name in names:
        assert name in message


def test_channels_a_line_reaches_are_checked_against_memory(machine_16gib):
    # A line far wider than the band reaches all 4096 channels of a large padded grid.
    obs = gl.Observation(n_pix=512, n_chan=4096, channel_kms=1.0)
    message = refused(lambda: gl.simulate([gl.Galaxy(sigma_kms=3000.0)], obs))
    assert "components[0] (Galaxy) reaches 4096 channels" in message and "n_chan" in message


def test_a_line_much_wider_than_the_band_is_rendered_only_over_the_band():
    # sigma 1e4 km/s over 8 channels of 30 km/s: the flux in the band is the Gaussian's share.
    obs = gl.Observation(n_pix=32, n_chan=8)
    cube = gl.simulate([gl.Galaxy(sigma_kms=1e4, v_max_kms=0.0, r_eff_kpc=1.0)], obs)
    flux = cube.data.sum(dtype=float) * obs.channel_kms / obs.beam_area_px
    assert flux == pytest.approx(8 * 30.0 / (np.sqrt(2 * np.pi) * 1e4), rel=0.01)


# ----------------------------------------------------------------------------- callables

@pytest.mark.parametrize("rotation, shown", [
    (lambda r: np.full_like(r, np.nan), "returned nan at r_kpc="),
    (lambda r: np.full_like(r, np.inf), "returned inf"),
    (lambda r: -r, "returned -"),
    (lambda r: r[:3], "returned shape (3,) for an array of 127 radii"),
])
def test_rotation_callable_returning_bad_speeds_is_named(rotation, shown):
    # Before: "repeats may not contain negative values" from deep inside numpy.
    obs = gl.Observation(**OBS)
    message = refused(lambda: gl.simulate([gl.Galaxy(rotation=rotation)], obs))
    assert message.startswith("rotation(r_kpc)") and shown in message


@pytest.mark.parametrize("name", ["rotation", "sigma_kms"])
def test_callable_returning_no_numbers_is_a_type_error(name):
    gal = gl.Galaxy(**{name: lambda r: "fast"})
    message = refused(lambda: gl.simulate([gal], gl.Observation(**OBS)), TypeError)
    assert message.startswith(f"{name}(r_kpc) must return numbers") and "'fast'" in message


def test_sigma_callable_of_wrong_shape_is_named():
    gal = gl.Galaxy(sigma_kms=lambda r: np.ones(2))
    assert "sigma_kms(r_kpc) returned shape (2,)" in refused(lambda: gl.simulate([gal], gl.Observation(**OBS)))


def test_callables_returning_one_value_for_all_radii_are_a_constant():
    obs = gl.Observation(**OBS)
    constant = gl.simulate([gl.Galaxy(rotation=lambda r: 200.0, sigma_kms=lambda r: 40.0)], obs).data
    assert np.array_equal(constant, gl.simulate([gl.Galaxy(rotation="flat")], obs).data)


def test_rotation_table_with_negative_speed_is_refused():
    with pytest.raises(ValueError, match=r"rotation table .* >= 0 km/s"):
        gl.Galaxy(rotation=([0.0, 1.0], [0.0, -100.0]))


# ----------------------------------------------------------------------------- float32 range

def test_flux_that_overflows_single_precision_is_an_error_not_inf():
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # no numpy overflow warning either
        message = refused(lambda: gl.simulate([gl.Galaxy(flux_jy_kms=1e40)], gl.Observation(**OBS)))
    assert "flux_jy_kms=1e+40" in message and "single precision" in message


def test_flux_that_underflows_single_precision_is_an_error_not_zero():
    message = refused(lambda: gl.simulate([gl.Galaxy(flux_jy_kms=1e-45)], gl.Observation(**OBS)))
    assert "flux_jy_kms=1e-45" in message and "smallest normal" in message


@pytest.mark.parametrize("flux", [1e-25, 1e25])
def test_extreme_but_representable_fluxes_are_exact(flux):
    obs = gl.Observation(**OBS)
    cube = gl.simulate([gl.Galaxy(flux_jy_kms=flux, r_eff_kpc=2.0)], obs)
    assert np.isfinite(cube.data).all()
    assert cube.data.sum(dtype=float) * obs.channel_kms / obs.beam_area_px == pytest.approx(flux, rel=0.01)


# ----------------------------------------------------------------------------- outside the cube

def test_galaxy_outside_the_field_is_warned_about():
    obs = gl.Observation(**OBS)
    with pytest.warns(UserWarning, match=r"components\[1\] \(Galaxy\) leaves less than 0.1% .* outside "
                                         r"the field: its light is centred at \(1000, 0\) kpc"):
        cube = gl.simulate([gl.Galaxy(), gl.Galaxy(offset_kpc=(1000.0, 0.0))], obs)
    assert np.array_equal(cube.data, gl.simulate([gl.Galaxy()], obs).data)


def test_galaxy_outside_the_band_is_warned_about():
    obs = gl.Observation(**OBS)   # channels -480 .. 480 km/s
    with pytest.warns(UserWarning, match=r"components\[0\] \(Galaxy\) .* outside the band: its line "
                                         r"spans .* and the channels -480 to 480 km/s"):
        cube = gl.simulate([gl.Galaxy(v_sys_kms=5000.0)], obs)
    assert not cube.data.any()


def test_tail_outside_the_field_is_warned_about():
    host = gl.Galaxy(offset_kpc=(200.0, 0.0))
    with pytest.warns(UserWarning, match=r"components\[0\] \(Tail\) .* outside the field"):
        gl.simulate([gl.Tail(host, 0.1, length_kpc=5.0)], gl.Observation(**OBS))


def test_galaxy_partly_outside_is_rendered_without_warning():
    obs = gl.Observation(**OBS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cube = gl.simulate([gl.Galaxy(offset_kpc=(12.0, 0.0), v_sys_kms=450.0)], obs)
    assert cube.data.any()


# ----------------------------------------------------------------------------- observation, prior

@pytest.mark.parametrize("kwargs, pattern", [
    (dict(beam_fwhm_px=100.0), r"beam_fwhm_px=100.0 gives a major-axis FWHM of 100 px, .*\[2, n_pix=48\] px"),
    # a beam given in degrees, or milliarcseconds, instead of arcsec
    (dict(beam_fwhm_arcsec=1.3e-3), r"beam_fwhm_arcsec=0.0013 gives a minor-axis FWHM of 0.0167 px.*\[2, inf\)"),
    (dict(beam_fwhm_arcsec=300.0), r"beam_fwhm_arcsec=300.0 gives a major-axis FWHM of 3.85e\+03 px"),
    (dict(v_center_kms=1e20), r"v_center_kms=1e\+20 .*speed of light"),
    (dict(n_chan=4096, channel_kms=200.0), r"n_chan=4096 x channel_kms=200.0 .* 4.096e\+05 km/s"),
])
def test_observation_refuses_a_beam_larger_than_the_field_or_a_band_beyond_c(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        gl.Observation(**{**OBS, **kwargs})


def test_band_up_to_the_speed_of_light_is_accepted():
    obs = gl.Observation(n_pix=16, n_chan=2, channel_kms=C_KMS * 0.999)
    assert obs.velocity_kms[-1] < C_KMS


def test_hanning_must_be_a_bool():
    with pytest.raises(TypeError, match="hanning must be True or False, got 'no'"):
        gl.Observation(hanning="no")


@pytest.mark.parametrize("kwargs, error, pattern", [
    (dict(r_eff_beam_radii=(float("nan"), 1.0)), ValueError, r"r_eff_beam_radii\[0\]=nan"),
    (dict(sigma_kms=[30.0, 50.0]), TypeError, r"sigma_kms must be a \(low, high\) tuple"),
    (dict(peak_snr=(10.0, 2.5)), ValueError, r"peak_snr=\(10.0, 2.5\) has low > high"),
    (dict(n_galaxies=(0, 2)), ValueError, r"n_galaxies\[0\]=0"),
    (dict(n_galaxies=(1.5, 2)), TypeError, r"n_galaxies\[0\] must be an integer"),
    (dict(sersic_n=(0.5, 20.0)), ValueError, r"sersic_n\[1\]=20.0"),
    (dict(companion_dv_kms=float("inf")), ValueError, r"companion_dv_kms=inf"),
    (dict(n_pix=4), ValueError, r"n_pix=4"),
])
def test_benchmark_prior_names_its_bad_parameter(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        gl.BenchmarkPrior(**kwargs)


def test_benchmark_prior_draw_checks_rng():
    with pytest.raises(TypeError, match="rng must be an int"):
        gl.BenchmarkPrior().draw("seed")
    with pytest.raises(TypeError, match="got True"):
        gl.BenchmarkPrior().draw(True)


def test_scene_params_refuses_to_drop_galaxies():
    scene = gl.BenchmarkPrior(n_galaxies=(3, 3)).draw(0)
    with pytest.raises(ValueError, match="3 galaxies but max_galaxies=2"):
        scene.params()
    assert scene.params(max_galaxies=3)["n_galaxies"] == 3


def test_benchmark_prior_refuses_a_scene_of_a_billion_galaxies():
    with pytest.raises(ValueError, match=r"n_galaxies\[1\]=1000000000 is outside the valid range \[1, 100\]"):
        gl.BenchmarkPrior(n_galaxies=(1, 10 ** 9))


def test_rest_frequency_beyond_the_ultraviolet_is_refused():
    # 1e300 GHz made CDELT3 -inf, refused by astropy only when the header was written
    with pytest.raises(ValueError, match=r"rest_freq_ghz=1e\+300 is outside the valid range \(0, 1e\+07\]"):
        gl.Observation(rest_freq_ghz=1e300, spectral_axis="FREQ")


def test_benchmark_prior_keeps_lines_inside_a_narrower_band():
    # The room for v_sys was fixed at 570 km/s, the default band's: in a +-200 km/s band the
    # companions' lines left it. Now it is the half-band less a channel, 190 km/s.
    prior = gl.BenchmarkPrior(channel_kms=10.0, n_galaxies=(2, 2), v_max_kms=(50.0, 100.0),
                              sigma_kms=(10.0, 20.0))
    for seed in range(20):
        for gal in prior.draw(seed).components:
            width = gal.v_max_kms * np.sin(np.radians(gal.inclination_deg)) + 3 * gal.sigma_kms
            assert abs(gal.v_sys_kms) + width <= 190.0


def test_field_wider_than_the_sky_is_refused():
    # At redshift 1e-9 a 0.5 kpc pixel is 6500 degrees: the WCS would wrap around the sky.
    with pytest.raises(ValueError, match=r"n_pix=125 x pixel_arcsec=.*redshift=1e-09\), spans .* deg, more than the 180"):
        gl.Observation(redshift=1e-9)
    assert gl.Observation(redshift=1e-3).pixel_arcsec == pytest.approx(23.3, rel=0.01)   # a local galaxy


def test_channels_too_narrow_for_double_precision_are_refused():
    # 1e-12 km/s channels at 2e5 km/s had identical edges: an OverflowError deep in the renderer
    with pytest.raises(ValueError, match=r"channel_kms=1e-12 is too narrow to resolve at v_center_kms=200000.0"):
        gl.Observation(v_center_kms=2e5, channel_kms=1e-12)


def test_too_fast_rotation_curve_is_named_as_the_rotation():
    obs = gl.Observation(**OBS)
    message = refused(lambda: gl.simulate([gl.Galaxy(rotation=([0.0, 1.0], [0.0, 1e9]))], obs))
    assert "a disk with this rotation and sigma_kms=40.0 needs" in message and "rotation table" in message
