"""What denoising did to a cube without truth: own-noise draws, real-data figures, injection."""
import math

import numpy as np
import pytest
from astropy.io import fits

import galcube_lib as gl
from galcube_lib import metrics
from galcube_lib.metrics import real
from galcube_lib.noise.estimate import sigma_negative


@pytest.fixture(scope="module")
def observed():
    """A simulated observation treated as real (its truth is only used to check)."""
    gal = gl.Galaxy(r_eff_kpc=1.5, flux_jy_kms=1.0, v_max_kms=150.0, inclination_deg=50.0,
                    offset_kpc=(-10.0, 6.0))
    obs = gl.Observation(n_pix=128, n_chan=64, channel_kms=20.0, beam_fwhm_px=4.0)
    return gl.add_noise(gl.simulate([gal], obs), peak_snr=8.0, rng=3)


def as_real(cube):
    return cube.replace(clean=None, noise=None)


def test_own_noise_has_the_cubes_level_correlation_and_blanks(observed):
    data = observed.data.copy()
    data[:, :10] = np.nan
    cube = as_real(observed).replace(data=data)
    draws = real.own_noise(cube, 3, rng=1)
    sigma = np.std(observed.noise)
    for d in draws:
        assert np.isnan(d[:, :10]).all() and np.isfinite(d[:, 10:]).all()
        assert abs(np.std(d[:, 10:]) / sigma - 1) < 0.05
        # beam-correlated noise: correlation at 2 px for a 4 px FWHM beam, exp(-d^2 / (4 s^2))
        s = 4.0 / math.sqrt(8 * math.log(2))
        lag = np.mean(d[:, 10:, 2:] * d[:, 10:, :-2]) / np.var(d[:, 10:])
        assert abs(lag - math.exp(-4 / (4 * s * s))) < 0.08


def test_own_noise_rises_as_one_over_the_gain(observed):
    gain = np.broadcast_to(np.linspace(1.0, 0.4, 128)[None, None, :], observed.shape)
    cube = as_real(observed).replace(data=observed.data / gain, gain=gain)
    (draw,) = real.own_noise(cube, 2, rng=0)[:1]
    ratio = np.std(draw[:, :, -20:]) / np.std(draw[:, :, :20])
    expected = np.mean(1 / gain[0, 0, -20:]) / np.mean(1 / gain[0, 0, :20])
    assert abs(ratio / expected - 1) < 0.1


@pytest.mark.slow
def test_real_figures_against_the_known_truth(observed):
    cube = as_real(observed)
    out = real.evaluate_real(cube, "ist", n_realisations=6, n_null=6, rng=2)
    aperture = real.flux_aperture(cube)
    truth_flux = metrics.aperture_flux(observed.clean, aperture, channel_kms=20.0,
                                       beam_area_px=observed.beam_area_px)
    # the noisy flux is the truth plus noise of the measured spread
    assert abs(out["flux_noisy"] - truth_flux) < 4 * out["flux_noise_reinjection"]
    # the re-injected spread is the flux noise of independent noise of the same kind
    draws = [gl.add_noise(observed.replace(data=observed.clean, noise=None), peak_snr=8.0,
                          rng=100 + k).noise for k in range(12)]
    direct = np.std([metrics.aperture_flux(d, aperture, channel_kms=20.0,
                                           beam_area_px=observed.beam_area_px) for d in draws],
                    ddof=1)
    for way in ("reinjection", "null", "offsource"):
        assert 0.6 < out[f"flux_noise_{way}"] / direct < 1.6
    assert 80 < out["flux_ratio_pct"] < 120
    assert out["noise_reduction_reinjection"] > 1 and out["snr_gain_reinjection"] > 1
    assert out["offsource_placements"] >= real.MIN_PLACEMENTS
    # far from the source IST removes more noise than where the source is
    assert out["noise_reduction_offsource"] > out["noise_reduction_reinjection"]
    assert out["noise_reduction_null"] > out["noise_reduction_reinjection"]
    assert abs(out["null_mean_sigma"]) < 1.5
    assert out["denoised"].shape == cube.shape


def test_spectral_placements_fit_where_the_source_fills_the_sky():
    shape = (40, 20, 20)
    aperture = np.zeros(shape, bool)
    aperture[5:12, 2:18, 2:18] = True                 # most of the sky, 7 channels
    assert pytest.raises(ValueError, metrics.offsource_shifts, shape, aperture, 10)
    exclude = aperture.copy()
    shifts = metrics.offsource_shifts(shape, aperture, 50, 0, exclude=exclude, spectral=True)
    assert shifts.shape[1] == 3 and len(shifts) >= 10
    v, y, x = np.nonzero(aperture)
    for dv, dy, dx in shifts:
        moved = np.zeros(shape, bool)
        moved[v + dv, y + dy, x + dx] = True
        assert not (moved & exclude).any()
    cube = np.arange(np.prod(shape), dtype=float).reshape(shape)
    fluxes = metrics.offsource_fluxes(cube, aperture, shifts[:2])
    dv, dy, dx = shifts[0]
    assert fluxes[0] == cube[v + dv, y + dy, x + dx].sum()


def test_injection_adds_the_galaxy_at_an_empty_place(observed):
    cube = as_real(observed)
    injected, aperture = real.inject(cube, peak_snr=5.0, rng=4)
    np.testing.assert_allclose(injected.data - cube.data, injected.clean, atol=1e-7)
    sigma = sigma_negative(cube.data)
    assert injected.clean.max() == pytest.approx(5.0 * sigma, rel=1e-5)
    assert injected.clean[aperture].sum() > 0.8 * injected.clean.sum()
    assert not (aperture.any(0) & (observed.clean.max(0) > 0.05 * observed.clean.max())).any()


def test_the_injected_galaxy_keeps_its_flux_on_a_beam_under_two_pixels():
    gal = gl.Galaxy(r_eff_kpc=3.0, flux_jy_kms=2.0, v_max_kms=100.0, sigma_kms=30.0)
    obs = gl.Observation(n_pix=64, n_chan=32, channel_kms=20.0, beam_fwhm_px=4.0)
    cube = gl.simulate([gal], obs)
    header = cube.header.copy()
    scale = abs(header["CDELT2"])
    header["BMAJ"], header["BMIN"] = 2.2 * scale, 1.6 * scale      # 2.2 x 1.6 px
    small = cube.replace(header=header)
    stamp = real._stamp(small, gal, 40)
    flux = stamp.sum() * small.channel_kms / small.beam_area_px
    assert flux == pytest.approx(2.0, rel=0.02)


@pytest.mark.slow
def test_injection_recovery_rows(observed):
    rows = real.injection_recovery(as_real(observed), ["gaussian", "ist"], peak_snr=6.0, rng=1)
    assert [r["method"] for r in rows] == ["gaussian", "ist"]
    for r in rows:
        assert 60 < r["flux_pct"] < 130 and 0 < r["nrmse"] < 1 and r["snr_gain"] > 1
        assert r["spectrum_r"] > 0.8


def test_moment_maps_are_written_with_sky_axes_and_beam(observed, tmp_path):
    cube = as_real(observed)
    mask = observed.clean > 0.05 * observed.clean.max()
    paths = real.write_moments(cube, tmp_path / "obs.fits", mask)
    assert [p.name for p in paths] == ["obs.mom0.fits", "obs.mom1.fits", "obs.mom2.fits"]
    mom0, header = fits.getdata(paths[0]), fits.getheader(paths[0])
    assert mom0.shape == cube.shape[1:] and header["CTYPE1"].startswith("RA")
    assert header["BMAJ"] == cube.header["BMAJ"] and header["BUNIT"] == "Jy/beam km/s"
    expected = np.where(mask, cube.data, 0).sum(axis=0) * cube.channel_kms
    np.testing.assert_allclose(mom0, expected, rtol=1e-5, atol=1e-7)
    assert fits.getheader(paths[1])["BUNIT"] == "km/s"


def test_the_ideal_mask_bound_is_the_root_of_aperture_over_source_voxels(observed):
    cube = as_real(observed)
    mask = np.zeros(cube.shape, bool)
    mask[10:14, 30:34, 30:34] = True                   # 64 source voxels
    aperture = np.zeros(cube.shape, bool)
    aperture[8:16, 28:36, 28:36] = True                # 512 voxels: 8x fewer kept
    out = real.evaluate_real(cube, "gaussian", mask=mask, aperture=aperture, n_null=0,
                             n_realisations=0, n_placements=0)
    assert out["noise_reduction_ideal_mask"] == pytest.approx(math.sqrt(512 / 64))


def test_noise_checks_can_be_skipped(observed):
    out = real.evaluate_real(as_real(observed), "gaussian", n_null=0, n_realisations=0)
    assert math.isfinite(out["flux_ratio_pct"]) and math.isfinite(out["noise_reduction_offsource"])
    for key in ("noise_reduction_null", "noise_reduction_reinjection", "null_mean_sigma",
                "null_detection_fraction", "snr_noisy"):
        assert math.isnan(out[key]), key


@pytest.mark.slow
def test_null_detections_count_above_n_sigma(observed):
    # the null test by hand: own-noise cubes (the same draws: rng=1, nothing drawn before them
    # when no placement is asked for), their flux before and after gaussian smoothing, z-scores
    cube = as_real(observed)
    aperture = real.flux_aperture(cube)
    draws = [cube.replace(data=d) for d in real.own_noise(cube, 6, rng=1)]
    before = [metrics.aperture_flux(d, aperture) for d in draws]
    after = [metrics.aperture_flux(gl.denoise(d, "gaussian"), aperture) for d in draws]
    z = np.sort(np.array(after) / np.std(before, ddof=1))
    n_sigma = float(z[2] + z[3]) / 2                        # three of the six cubes lie above
    out = real.evaluate_real(cube, "gaussian", n_null=6, n_realisations=0, n_placements=0,
                             rng=1, n_sigma=n_sigma)
    assert out["null_detection_fraction"] == 0.5
    assert out["null_mean_sigma"] == pytest.approx(z.mean(), rel=1e-6)
    assert out["null_worst_sigma"] == pytest.approx(np.abs(z).max(), rel=1e-6)
    with pytest.raises(ValueError, match="n_sigma"):
        real.evaluate_real(cube, "gaussian", n_null=2, n_realisations=0, n_sigma=0.0)


def test_bad_arguments_are_named(observed):
    with pytest.raises(ValueError, match="n_null"):
        real.evaluate_real(as_real(observed), "gaussian", n_null=1)
    with pytest.raises(ValueError, match="peak_snr"):
        real.inject(as_real(observed), peak_snr=-1.0)
