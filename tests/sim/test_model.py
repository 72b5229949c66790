"""Parameter validation, the parameter record and the benchmark population prior."""
import math

import numpy as np
import pytest

import galcube_lib as gl


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(sersic_n=0.1), r"sersic_n=0.1 .*\(0.2, 10\]"),
    (dict(sersic_n=10.5), r"sersic_n=10.5"),
    (dict(r_eff_kpc=0.0), r"r_eff_kpc=0.0 .*\(0, inf\)"),
    (dict(r_eff_kpc=-1.0), r"r_eff_kpc=-1.0"),
    (dict(h_z_kpc=0.0), r"h_z_kpc=0.0"),
    (dict(flux_jy_kms=float("inf")), r"flux_jy_kms=inf"),
    (dict(inclination_deg=95.0), r"inclination_deg=95.0 .*\[0, 90\]"),
    (dict(inclination_deg=float("nan")), r"inclination_deg=nan"),
    (dict(pa_deg=400.0), r"pa_deg=400.0"),
    (dict(v_max_kms=-5.0), r"v_max_kms=-5.0"),
    (dict(r_turn_kpc=0.0), r"r_turn_kpc=0.0"),
    (dict(sigma_kms=0.0), r"sigma_kms=0.0"),
    (dict(rotation="keplerian"), r"rotation='keplerian' is not one of 'arctan'"),
    (dict(rotation=([1.0, 0.5], [10.0, 20.0])), r"strictly increasing"),
    (dict(offset_kpc=(1.0,)), r"offset_kpc"),
])
def test_galaxy_rejects_bad_parameters(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        gl.Galaxy(**kwargs)


@pytest.mark.parametrize("offset", [{1.0, 2.0}, "12", 3.0])
def test_galaxy_offset_must_be_an_ordered_pair(offset):
    with pytest.raises(TypeError, match="offset_kpc"):
        gl.Galaxy(offset_kpc=offset)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(n_pix=0), r"n_pix=0 .*\[8, 4096\]"),
    (dict(n_chan=0), r"n_chan=0"),
    (dict(channel_kms=-30.0), r"channel_kms=-30.0"),
    (dict(pixel_kpc=0.0), r"pixel_kpc=0.0"),
    (dict(redshift=0.0), r"redshift=0.0"),
    (dict(beam_fwhm_px=1.0), r"Nyquist"),
    (dict(beam_fwhm_px=(3.0, 4.0)), r"beam_fwhm_px\[1\]=4.0"),
    (dict(spectral_axis="VOPT"), r"spectral_axis='VOPT'"),
    (dict(pixel_kpc=0.5, pixel_arcsec=1.0), r"disagree"),
])
def test_observation_rejects_bad_parameters(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        gl.Observation(**kwargs)


def test_type_errors_and_empty_scene():
    with pytest.raises(TypeError, match="n_pix must be an integer"):
        gl.Observation(n_pix=12.5)
    with pytest.raises(TypeError, match="sersic_n must be a real number"):
        gl.Galaxy(sersic_n="1")
    with pytest.raises(ValueError, match="components is empty"):
        gl.simulate([], gl.Observation())
    with pytest.raises(TypeError, match=r"components\[1\]"):
        gl.simulate([gl.Galaxy(), "galaxy"], gl.Observation())
    with pytest.raises(ValueError, match="sigma_kms"):
        gl.simulate([gl.Galaxy(sigma_kms=lambda r: -r)], gl.Observation(n_pix=16))


def test_pixel_and_beam_units_are_consistent():
    from astropy.cosmology import Planck18
    scale = Planck18.kpc_proper_per_arcmin(6.0).value / 60
    obs = gl.Observation(pixel_arcsec=0.1, redshift=6.0, beam_fwhm_arcsec=(0.5, 0.3))
    assert obs.pixel_kpc == pytest.approx(0.1 * scale)
    assert obs.beam_fwhm_px == pytest.approx((5.0, 3.0))
    assert obs.beam_area_px == pytest.approx(math.pi * 15.0 / (4 * math.log(2)))
    assert obs.line_freq_ghz == pytest.approx(1900.5369 / 7.0)


def test_record_rebuilds_the_scene_bit_for_bit(tmp_path):
    a = gl.Galaxy(offset_kpc=(3.0, 0.0), sersic_n=0.7)
    b = gl.Galaxy(offset_kpc=(-3.0, 1.0), rotation=([0.0, 1.0, 2.0], [0.0, 100.0, 150.0]), v_sys_kms=50.0)
    comps = [a, b, gl.Halo(a, 0.2, 5.0), gl.Bridge(a, b, 0.1, bend_kpc=1.0), gl.Tail(b, 0.1, 5.0)]
    obs = gl.Observation(n_pix=64, n_chan=20, pixel_arcsec=0.08, redshift=4.5, beam_fwhm_px=(4.0, 3.0), hanning=True)
    cube = gl.simulate(comps, obs)
    back = gl.read_fits(cube.to_fits(tmp_path / "c.fits"))
    components, observation = gl.scene_from_record(back.record)
    assert components == comps and observation == obs
    assert np.array_equal(gl.simulate(components, observation).data, cube.data)


def test_record_refuses_callables():
    cube = gl.simulate([gl.Galaxy(sigma_kms=lambda r: 30.0 + r)], gl.Observation(n_pix=16, n_chan=8))
    with pytest.raises(ValueError, match="callable"):
        gl.scene_from_record(cube.record)


def test_benchmark_prior_draws_the_published_population():
    prior = gl.BenchmarkPrior()
    gen = np.random.default_rng(0)
    scenes = [prior.draw(gen) for _ in range(400)]
    assert prior.shape == (40, 96, 96)
    obs = scenes[0].observation
    assert obs.beam_fwhm_px == (3.75, 3.75) and obs.channel_kms == 30.0
    assert obs.velocity_kms[0] - 15 == -600 and obs.velocity_kms[-1] + 15 == 600
    n_gal = [len(s.components) for s in scenes]
    assert set(n_gal) == {1, 2}
    gals = [g for s in scenes for g in s.components]
    beam_radius_kpc = 3.75 / 2 * 0.5
    r_ratio = np.array([g.r_eff_kpc / beam_radius_kpc for g in gals])
    assert r_ratio.min() >= 0.25 and r_ratio.max() <= 4.0
    assert 0.4 < np.mean(r_ratio >= 1.0) < 0.6            # log-uniform: half resolved
    assert all(0.5 <= g.sersic_n <= 1.5 and 30 <= g.sigma_kms <= 50 for g in gals)
    # Every line stays in the band.
    assert all(abs(g.v_sys_kms) + g.v_max_kms * math.sin(math.radians(g.inclination_deg))
               + 3 * g.sigma_kms <= 570 + 1e-9 for g in gals)
    snr = np.array([s.peak_snr for s in scenes])
    assert snr.min() >= 2.5 and snr.max() <= 10
    cos_i = np.cos(np.radians([g.inclination_deg for g in gals]))
    assert abs(cos_i.mean() - 0.5) < 0.05                 # isotropic orientations
    row = scenes[0].params()
    assert set(row) >= {"peak_snr", "resolved", "n_galaxies", "g0_sersic_n", "g1_v_sys_kms"}


def test_prior_is_reproducible_and_serialisable():
    prior = gl.BenchmarkPrior(peak_snr=(3.0, 4.0))
    a = prior.draw(np.random.default_rng(5))
    b = gl.prior_from_dict(prior.to_dict()).draw(np.random.default_rng(5))
    assert a == b and 3.0 <= a.peak_snr <= 4.0
    with pytest.raises(ValueError, match="unknown prior"):
        gl.prior_from_dict({"name": "Nope"})


def test_prior_cubes_keep_their_flux():
    prior = gl.BenchmarkPrior()
    for seed in range(5):
        scene = prior.draw(np.random.default_rng(seed))
        beam_area = scene.observation.beam_area_px
        central = gl.simulate(scene.components[:1], scene.observation)
        assert central.data.astype(float).sum() * 30.0 / beam_area == pytest.approx(1.0, rel=0.01)
        cube = gl.simulate(scene.components, scene.observation)
        flux = cube.data.astype(float).sum() * 30.0 / beam_area
        # A companion's outskirts may leave the field, never add to it.
        assert 0.99 < flux <= sum(g.flux_jy_kms for g in scene.components) * 1.001
