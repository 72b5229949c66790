"""The simulator held to physics: flux, angles, dispersion, line width, thickness, determinism."""
import math

import numpy as np
import pytest

import galcube_lib as gl


def total_flux(cube: gl.Cube) -> float:
    """sum(cube) * channel width / beam area: the line flux in Jy km/s."""
    return float(cube.data.astype(float).sum() * cube.channel_kms / cube.beam_area_px)


def moment0(cube):
    return cube.data.astype(float).sum(axis=0)


def spectral_moments(spectrum, v):
    w = spectrum / spectrum.sum()
    mean = float((w * v).sum())
    return mean, float((w * (v - mean) ** 2).sum())


@pytest.mark.parametrize("gal_kw", [
    dict(),
    dict(sersic_n=0.5, r_eff_kpc=0.3, inclination_deg=30.0),
    dict(sersic_n=1.5, r_eff_kpc=0.25, inclination_deg=80.0, pa_deg=-120.0),
    dict(sersic_n=4.0, r_eff_kpc=1.0, rotation="flat"),
    dict(inclination_deg=90.0, h_z_kpc=1.5, rotation="solid_flat"),
    dict(inclination_deg=0.0, sigma_kms=lambda r: 20.0 + 5.0 * r),
])
def test_total_flux_equals_flux_jy_kms(gal_kw):
    gal = gl.Galaxy(flux_jy_kms=2.5, r_eff_kpc=gal_kw.pop("r_eff_kpc", 2.0), **gal_kw)
    obs = gl.Observation(n_pix=128, n_chan=60, channel_kms=20.0, pixel_kpc=0.5)
    assert total_flux(gl.simulate([gal], obs)) == pytest.approx(2.5, rel=0.01)


@pytest.mark.parametrize("obs_kw", [
    dict(beam_fwhm_px=2.5), dict(beam_fwhm_px=4.0), dict(beam_fwhm_px=(7.0, 3.0), beam_pa_deg=40.0),
    dict(beam_fwhm_px=4.0, hanning=True), dict(beam_fwhm_arcsec=0.3, pixel_arcsec=0.05),
])
def test_beam_and_spectral_response_conserve_flux(obs_kw):
    gal = gl.Galaxy(r_eff_kpc=1.5, flux_jy_kms=1.0)
    obs = gl.Observation(n_pix=96, n_chan=50, channel_kms=25.0, **obs_kw)
    cube = gl.simulate([gal], obs)
    assert total_flux(cube) == pytest.approx(1.0, rel=0.005)


def test_narrow_line_keeps_flux_in_wide_channels():
    # A 3 km/s line in 50 km/s channels: flux integrates over the channel, not point-sampled.
    gal = gl.Galaxy(inclination_deg=0.0, sigma_kms=3.0, v_sys_kms=17.0, r_eff_kpc=1.0)
    cube = gl.simulate([gal], gl.Observation(n_pix=64, n_chan=9, channel_kms=50.0))
    assert total_flux(cube) == pytest.approx(1.0, rel=1e-3)
    spectrum = cube.data.sum(axis=(1, 2))
    assert spectrum.argmax() == 4 and spectrum[4] / spectrum.sum() > 0.99


def test_truth_is_deterministic_bit_for_bit():
    gal = gl.Galaxy(inclination_deg=55.0, pa_deg=70.0)
    obs = gl.Observation(n_pix=64, n_chan=32)
    a = gl.simulate([gal], obs).data
    b = gl.simulate([gl.Galaxy(inclination_deg=55.0, pa_deg=70.0)], gl.Observation(n_pix=64, n_chan=32)).data
    assert a.dtype == np.float32 and a.shape == (32, 64, 64)
    assert np.array_equal(a, b)


def photometric_pa(m0):
    y, x = np.indices(m0.shape)
    w = m0 / m0.sum()
    xc, yc = (w * x).sum(), (w * y).sum()
    ixx, iyy, ixy = (w * (x - xc) ** 2).sum(), (w * (y - yc) ** 2).sum(), (w * (x - xc) * (y - yc)).sum()
    theta = 0.5 * math.degrees(math.atan2(2 * ixy, ixx - iyy))  # major axis from +x
    return (theta - 90.0) % 180.0


def kinematic_pa(cube):
    """Direction of the receding side from a plane fit to the moment-1 map, north through east."""
    m0 = moment0(cube)
    m1 = np.tensordot(cube.velocity_kms, cube.data.astype(float), axes=1) / np.where(m0 > 0, m0, 1)
    y, x = np.indices(m0.shape)
    sel = m0 > 0.05 * m0.max()
    design = np.stack([np.ones(sel.sum()), x[sel], y[sel]], axis=1)
    _, a, b = np.linalg.lstsq(design, m1[sel], rcond=None)[0]
    return math.degrees(math.atan2(-a, b)) % 360.0


def angle_diff(a, b, period):
    return abs((a - b + period / 2) % period - period / 2)


@pytest.mark.parametrize("pa", [30.0, 120.0, -45.0, 200.0])
@pytest.mark.parametrize("inc", [40.0, 75.0])
def test_kinematic_and_photometric_pa_equal_pa_deg(pa, inc):
    gal = gl.Galaxy(inclination_deg=inc, pa_deg=pa, r_eff_kpc=3.0, sigma_kms=20.0)
    cube = gl.simulate([gal], gl.Observation(n_pix=96, n_chan=48, channel_kms=15.0))
    assert angle_diff(photometric_pa(moment0(cube)), pa, 180.0) < 1.0
    assert angle_diff(kinematic_pa(cube), pa, 360.0) < 1.0


def test_face_on_dispersion_is_sigma():
    sigma, dv = 40.0, 10.0
    gal = gl.Galaxy(inclination_deg=0.0, sigma_kms=sigma, v_max_kms=250.0)
    cube = gl.simulate([gal], gl.Observation(n_pix=64, n_chan=64, channel_kms=dv))
    for y, x in [(32, 32), (40, 25)]:
        mean, var = spectral_moments(cube.data[:, y, x].astype(float), cube.velocity_kms)
        assert abs(mean) < 1e-3
        # Channel integration adds dv^2/12 (Sheppard) to a Gaussian's variance.
        assert math.sqrt(var) == pytest.approx(math.sqrt(sigma ** 2 + dv ** 2 / 12), rel=2e-3)


def test_radial_dispersion_callable():
    gal = gl.Galaxy(inclination_deg=0.0, sigma_kms=lambda r: 15.0 + 10.0 * r, r_eff_kpc=3.0)
    cube = gl.simulate([gal], gl.Observation(n_pix=96, n_chan=64, channel_kms=8.0))
    widths = [math.sqrt(spectral_moments(cube.data[:, 48, 48 + dx].astype(float), cube.velocity_kms)[1])
              for dx in (0, 8, 16)]
    assert widths[0] < widths[1] < widths[2]
    # 8 px = 4 kpc from the centre: beam-averaged sigma within a few km/s of 15 + 10 r.
    assert widths[1] == pytest.approx(math.sqrt(55.0 ** 2 + 8.0 ** 2 / 12), rel=0.05)


@pytest.mark.parametrize("inc", [90.0, 50.0])
def test_line_width_follows_v_max(inc):
    # Flat rotation: each ring's spectrum is the arcsine law on +-v_max sin i, whose variance is
    # (v_max sin i)^2 / 2; the dispersion and the channel width add in quadrature.
    v_max, sigma, dv = 220.0, 15.0, 8.0
    gal = gl.Galaxy(inclination_deg=inc, rotation="flat", v_max_kms=v_max, sigma_kms=sigma)
    cube = gl.simulate([gal], gl.Observation(n_pix=128, n_chan=80, channel_kms=dv))
    _, var = spectral_moments(cube.data.sum(axis=(1, 2)).astype(float), cube.velocity_kms)
    v_proj = math.sqrt(2 * (var - sigma ** 2 - dv ** 2 / 12))
    assert v_proj == pytest.approx(v_max * math.sin(math.radians(inc)), rel=0.01)


def test_thickness_profile_of_edge_on_disk():
    # Edge-on, the minor-axis light profile is the Laplace law of scale h_z convolved with the
    # beam: variance 2 h_z^2 + sigma_beam^2 (in pixels).
    h_px, beam = 3.0, 4.0
    gal = gl.Galaxy(inclination_deg=90.0, pa_deg=0.0, h_z_kpc=h_px * 0.5, r_eff_kpc=6.0)
    cube = gl.simulate([gal], gl.Observation(n_pix=128, n_chan=40, beam_fwhm_px=beam))
    profile = moment0(cube).sum(axis=0)           # PA 0: the major axis is along y
    x = np.arange(profile.size) - 64.0
    var = (profile * x ** 2).sum() / profile.sum()
    assert var == pytest.approx(2 * h_px ** 2 + (beam / 2.3548200450309493) ** 2, rel=0.01)


def test_offset_and_systemic_velocity():
    gal = gl.Galaxy(offset_kpc=(3.0, -2.0), v_sys_kms=120.0, r_eff_kpc=1.0, flux_jy_kms=1.0)
    obs = gl.Observation(n_pix=64, n_chan=60, channel_kms=15.0, pixel_kpc=0.5)
    cube = gl.simulate([gal], obs)
    m0 = moment0(cube)
    y, x = np.indices(m0.shape)
    assert (m0 * x).sum() / m0.sum() == pytest.approx(obs.center_px + 6.0, abs=0.02)
    assert (m0 * y).sum() / m0.sum() == pytest.approx(obs.center_px - 4.0, abs=0.02)
    mean, _ = spectral_moments(cube.data.sum(axis=(1, 2)).astype(float), cube.velocity_kms)
    assert mean == pytest.approx(120.0, abs=0.5)


def test_several_galaxies_add_linearly():
    a = gl.Galaxy(r_eff_kpc=2.0)
    b = gl.Galaxy(r_eff_kpc=0.8, offset_kpc=(-8.0, 5.0), v_sys_kms=-150.0, inclination_deg=30.0, pa_deg=200.0)
    obs = gl.Observation(n_pix=96, n_chan=40)
    both = gl.simulate([a, b], obs).data.astype(float)
    apart = gl.simulate([a], obs).data.astype(float) + gl.simulate([b], obs).data.astype(float)
    assert np.allclose(both, apart, rtol=0, atol=1e-5 * both.max())   # single-precision FFT round-off


def test_diffuse_components_flux_and_kinematics():
    a = gl.Galaxy(r_eff_kpc=1.5, offset_kpc=(-6.0, 0.0), v_sys_kms=-100.0, flux_jy_kms=1.0)
    b = gl.Galaxy(r_eff_kpc=1.0, offset_kpc=(6.0, 0.0), v_sys_kms=100.0, flux_jy_kms=0.5)
    obs = gl.Observation(n_pix=128, n_chan=60, channel_kms=15.0)
    halo = gl.Halo(a, flux_jy_kms=0.2, r_eff_kpc=5.0)
    bridge = gl.Bridge(a, b, flux_jy_kms=0.1, width_kpc=1.0)
    tail = gl.Tail(b, flux_jy_kms=0.1, length_kpc=10.0, angle_deg=0.0, dv_kms=80.0, bend_deg=30.0)
    cube = gl.simulate([a, b, halo, bridge, tail], obs)
    assert total_flux(cube) == pytest.approx(1.9, rel=0.01)

    # The bridge alone: its mean velocity runs from a's systemic velocity to b's along x.
    alone = gl.simulate([bridge], obs)
    m0 = moment0(alone)
    m1 = np.tensordot(alone.velocity_kms, alone.data.astype(float), axes=1) / np.where(m0 > 0, m0, 1)
    row = obs.n_pix // 2
    assert m1[row, row - 8] == pytest.approx(-100.0 * 8 / 12, abs=5.0)
    assert m1[row, row + 8] == pytest.approx(100.0 * 8 / 12, abs=5.0)

    # The tail leaves b towards north (+y) and its velocity rises by dv_kms to the tip.
    alone = gl.simulate([tail], obs)
    m0 = moment0(alone)
    y, _ = np.indices(m0.shape)
    assert (m0 * y).sum() / m0.sum() > obs.center_px + 4.0
    mean, _ = spectral_moments(alone.data.sum(axis=(1, 2)).astype(float), alone.velocity_kms)
    assert 100.0 < mean < 180.0   # flux-weighted along a linearly fading tail: v_sys + dv/3

    # The halo rotates with its host: same receding direction.
    assert angle_diff(kinematic_pa(gl.simulate([halo], obs)), a.pa_deg, 360.0) < 2.0


def test_rotation_curves():
    from galcube_lib.sim.profiles import sersic_b
    from galcube_lib.sim.rotation import curve

    kw = dict(v_max_kms=200.0, r_turn_kpc=1.0, r_eff_kpc=4.0, sersic_n=1.0)
    r = np.array([0.5, 1.0, 4.0])
    assert curve("arctan", **kw)(np.array([1.0]))[0] == pytest.approx(100.0)
    assert np.allclose(curve("flat", **kw)(r), 200.0)
    assert np.allclose(curve("solid_flat", **kw)(r), [100.0, 200.0, 200.0])
    r0 = 2 * 4.0 / sersic_b(1.0)
    assert curve("galcubecraft", **kw)(np.array([r0]))[0] == pytest.approx(200.0 * 1.022)
    table = curve(((1.0, 2.0), (100.0, 150.0)), **kw)
    assert np.allclose(table(np.array([0.5, 1.5, 9.0])), [50.0, 125.0, 150.0])
    assert np.allclose(curve(lambda x: 10 * x, **kw)(r), 10 * r)


def test_tabulated_and_callable_curves_match_named_ones():
    obs = gl.Observation(n_pix=64, n_chan=40)
    flat = gl.simulate([gl.Galaxy(rotation="flat", r_eff_kpc=2.0)], obs).data
    table = gl.simulate([gl.Galaxy(rotation=([0.0, 100.0], [200.0, 200.0]), r_eff_kpc=2.0)], obs).data
    func = gl.simulate([gl.Galaxy(rotation=lambda r: np.full_like(r, 200.0), r_eff_kpc=2.0)], obs).data
    assert np.array_equal(flat, func)
    assert np.allclose(flat, table, atol=1e-6 * flat.max())


def test_disk_larger_than_field_is_sampled_only_where_visible(monkeypatch):
    import sys
    render = sys.modules["galcube_lib.sim.render"]
    obs = gl.Observation(n_pix=48, n_chan=30, pixel_kpc=0.1)
    for inc in (0.0, 70.0, 90.0):
        gal = gl.Galaxy(r_eff_kpc=4.0, inclination_deg=inc)   # R_e = 40 px, disk ~ 300 px across
        clipped = gl.simulate([gal], obs).data
        original = render._visible_cos2
        with monkeypatch.context() as m:
            every = lambda radius, far, cos_i, sin_i: original(radius, 1e30, cos_i, sin_i)
            m.setattr(render, "_visible_cos2", every)
            full = gl.simulate([gal], obs).data
        assert np.allclose(clipped, full, rtol=0, atol=1e-6 * full.max())


def test_disk_far_too_large_for_the_field_is_refused():
    with pytest.raises(ValueError, match="r_eff_kpc=5000.0 .* quadrature points"):
        gl.simulate([gl.Galaxy(r_eff_kpc=5000.0, inclination_deg=90.0)], gl.Observation(n_pix=32, pixel_kpc=0.05))


def test_bent_bridge_runs_from_a_to_b_through_its_sagitta():
    a = gl.Galaxy(offset_kpc=(-6.0, 0.0), v_sys_kms=-90.0)
    b = gl.Galaxy(offset_kpc=(6.0, 0.0), v_sys_kms=90.0)
    obs = gl.Observation(n_pix=96, n_chan=40, channel_kms=15.0, pixel_kpc=0.5)
    bridge = gl.Bridge(a, b, flux_jy_kms=1.0, width_kpc=0.5, bend_kpc=2.0)
    cube = gl.simulate([bridge], obs)
    assert total_flux(cube) == pytest.approx(1.0, rel=0.01)
    m0 = moment0(cube)
    y, x = np.indices(m0.shape)
    xc = (m0 * x).sum() / m0.sum() - obs.center_px
    yc = (m0 * y).sum() / m0.sum() - obs.center_px
    # A uniform circular arc of half-angle alpha and radius R (chord 12 kpc, sagitta 2 kpc) has
    # its centroid R (sin(alpha) / alpha - cos(alpha)) off the chord.
    alpha = 2 * math.atan(2 * 2.0 / 12.0)
    radius = 6.0 / math.sin(alpha)
    assert xc == pytest.approx(0.0, abs=0.05)
    assert abs(yc) * 0.5 == pytest.approx(radius * (math.sin(alpha) / alpha - math.cos(alpha)), rel=0.01)
    # Its ends sit on the two galaxies: emission reaches x = +-12 px along the chord.
    row = m0[int(obs.center_px)]
    assert row[int(obs.center_px) - 12] > 0.2 * row.max() and row[int(obs.center_px) + 12] > 0.2 * row.max()
