"""What the shipped U-Net weights do on the benchmark population (independent held-out cubes):
better than IST at moderate SNR and half the noisy cube's error at low SNR, flux kept at
moderate SNR, no invented flux in pure noise, and an uncertainty cube that covers the truth as
often as a 1-sigma error should. (The population figures are benchmarks/bench_quality.py's.)"""
import numpy as np

import galcube_lib as gl
from galcube_lib import metrics

import pytest

pytestmark = pytest.mark.deep


def cube(snr, r_eff, seed):
    scene = gl.BenchmarkPrior(peak_snr=snr, r_eff_beam_radii=r_eff).draw(rng=90_000 + seed)
    clean = gl.simulate(scene.components, scene.observation)
    return clean, gl.add_noise(clean, peak_snr=scene.peak_snr, kind="beam", rng=seed)


CLASSES = [(1.0, 4.0), (0.25, 1.0)]


def nrmse(method, clean, noisy):
    ap = metrics.aperture_from_record(clean)
    return metrics.normalised_rmse(gl.denoise(noisy, method).data, clean.data, noisy.data, ap)


def test_unet_beats_ist_at_moderate_snr_and_halves_the_error_at_low_snr():
    moderate = [cube((5.0, 10.0), CLASSES[k % 2], k) for k in range(4)]
    assert np.mean([nrmse("unet", *c) for c in moderate]) < np.mean([nrmse("ist", *c) for c in moderate])
    low = [cube((2.5, 3.0), CLASSES[k % 2], 4 + k) for k in range(4)]
    assert np.mean([nrmse("unet", *c) for c in low]) < 0.5


def test_unet_keeps_the_flux_at_snr_above_5():
    flux = []
    for seed in range(6):
        clean, noisy = cube((5.0, 10.0), CLASSES[seed % 2], 10 + seed)
        ap = metrics.aperture_from_record(clean)
        flux.append(metrics.flux_conservation(gl.denoise(noisy, "unet").data, clean.data, ap))
    assert 85 < np.mean(flux) < 115


def test_unet_invents_no_flux_in_pure_noise():
    for seed in range(3):
        clean, noisy = cube((3.0, 6.0), CLASSES[seed % 2], 20 + seed)
        null = noisy.replace(data=noisy.noise)
        ap = metrics.aperture_from_record(clean)
        sigma = metrics.offsource_flux_noise(null.data, ap, rng=0)
        assert abs(metrics.aperture_flux(gl.denoise(null, "unet").data, ap)) < 3 * sigma


def test_uncertainty_covers_the_truth_68_percent_of_the_time():
    """Pooled over cubes spanning the benchmark's SNR range (independent of the calibration)."""
    covered = []
    for seed, snr in enumerate([(2.5, 4.0), (4.0, 6.0), (6.0, 8.0), (8.0, 10.0)]):
        clean, noisy = cube(snr, CLASSES[seed % 2], 40 + seed)
        den = gl.denoise(noisy, "unet", uncertainty=8, rng=seed)
        source = metrics.truth_mask(clean.data)
        covered.append(np.abs(den.data - clean.data)[source] <= den.uncertainty[source])
    assert 0.58 <= np.concatenate(covered).mean() <= 0.78


def test_noise_family_weights_invent_no_flux_in_real_noise():
    """The issue-14 target, less than 1 sigma of flux in pure real noise, on the emission-free
    places of the shipped ALMA cube (its Hanning-like noise taken as it is; sigma: the spread of
    the noisy cube's flux over those places). The unet3d weights fail it there: up to 2.49
    sigma, 0.53 on average."""
    from galcube_lib.bench.real_noise import noise_cube
    from galcube_lib.metrics.apertures import aperture

    real, _, zone = noise_cube("alma_iras07454")
    den = gl.denoise(real, "unet", weights="unet3d_family", null_check=0)
    assert den.record["denoise"]["options"]["weights"] == "unet3d_family"
    diameter = 2 * real.beam_fwhm_px[0]
    noisy, denoised = [], []
    for y in range(8, real.shape[1] - 8, 6):
        for x in range(8, real.shape[2] - 8, 6):
            disk = aperture(real.shape, (y, x), diameter)
            if not (disk & zone).any() and np.isfinite(real.data[disk]).all():
                noisy.append(metrics.aperture_flux(real.data, disk))
                denoised.append(metrics.aperture_flux(den.data, disk))
    assert len(noisy) >= 20
    sigma = np.std(noisy, ddof=1)
    assert np.max(np.abs(denoised)) < 1.0 * sigma
    assert abs(np.mean(denoised)) < 0.2 * sigma
