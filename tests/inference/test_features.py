"""Spaxel features against what the simulated galaxy is: its line width, its axis ratio, its
rotation."""
import math

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.inference import features as F

OBS = gl.Observation(n_pix=64, n_chan=48, channel_kms=20.0, pixel_kpc=0.5, beam_fwhm_px=3.0)


def _features(seed=0, snr=30.0, **galaxy):
    clean = gl.simulate(gl.Galaxy(**{"r_eff_kpc": 3.0, **galaxy}), OBS)
    return F.feature_maps(gl.add_noise(clean, peak_snr=snr, rng=seed))


def test_line_width_of_a_face_on_disk_is_its_dispersion():
    feats = _features(inclination_deg=0.0, sigma_kms=50.0)
    width = 10 ** feats["log_line_width"][0, 0] - OBS.channel_kms
    # FWHM of a Gaussian of sigma 50 km/s, widened by 20 km/s channels (sigma 20/sqrt 12)
    assert width == pytest.approx(2.3548 * math.hypot(50.0, 20.0 / math.sqrt(12)), rel=0.1)


def test_axis_ratio_follows_the_inclination():
    face_on = _features(inclination_deg=0.0, h_z_kpc=0.1)["axis_ratio"][0, 0]
    inclined = _features(inclination_deg=70.0, h_z_kpc=0.1)["axis_ratio"][0, 0]
    assert face_on > 0.85    # 1 without noise
    # exponential disk, h = R_e / 1.678 = 3.58 px: <x^2> = 3 h^2 = 38.4 px^2 per axis; cos^2 70 of
    # it on the minor axis, plus the beam's 1.27^2 on both: ratio 0.39 (truncation raises it)
    assert 0.3 < inclined < 0.55


def test_faster_rotation_steepens_the_velocity_gradient():
    slow, fast = (_features(snr=300.0, inclination_deg=60.0, v_max_kms=v, rotation="solid_flat", r_turn_kpc=6.0)
                  for v in (80.0, 240.0))
    centre = (slice(28, 36), slice(28, 36))
    slow, fast = ((10 ** f["log_gradient"][centre] - 1).mean() for f in (slow, fast))
    # solid body: |grad v_los| = Omega sin i = 80/6 km/s/kpc x 0.866 = 17.3 km/s per 1.5-kpc beam,
    # lowered a little by beam smearing
    assert slow == pytest.approx(17.3, rel=0.25)
    assert fast / slow == pytest.approx(3.0, rel=0.1)


def test_spaxel_table_rows_and_columns():
    from galcube_lib.inference.pairs import draw_pairs
    pairs = draw_pairs(2, views=1, rng=0, progress=False)
    table = F.spaxel_table(pairs, "spectrum")
    n = sum(int(F.evaluated_spaxels(p.maps.sigma_line).sum()) for p in pairs)
    assert table["X"].shape == (n, len(F.GROUPS["spatial"]) + pairs[0].noisy.shape[0])
    n_spatial = len(F.GROUPS["spatial"])
    assert table["names"][:n_spatial] == list(F.GROUPS["spatial"]) and table["names"][-1] == "ch39"
    on = F.evaluated_spaxels(pairs[0].maps.sigma_line)
    np.testing.assert_array_equal(table["y"][:on.sum()], np.log10(pairs[0].maps.sigma_sfr[on]))
    with pytest.raises(ValueError, match="feature_set"):
        F.spaxel_table(pairs, "cube")


def test_a_given_noise_level_sets_the_units_of_the_spectrum_and_snrs():
    from galcube_lib.noise.level import sigma_mad
    cube = gl.add_noise(gl.simulate(gl.Galaxy(r_eff_kpc=3.0), OBS), peak_snr=8.0, rng=1)
    measured = sigma_mad(cube.data)
    default, same = F.feature_maps(cube), F.feature_maps(cube, measured)
    for name in default:
        np.testing.assert_allclose(same[name], default[name], rtol=1e-6)
    doubled = F.feature_maps(cube, 2 * measured)
    np.testing.assert_allclose(doubled["spectrum"], default["spectrum"] / 2, rtol=1e-6)
    np.testing.assert_allclose(doubled["cube_snr"], default["cube_snr"] / 2, rtol=1e-6)
    np.testing.assert_allclose(doubled["m0_snr"], default["m0_snr"] / 2, rtol=1e-6)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="noise_sigma"):
            F.feature_maps(cube, bad)
