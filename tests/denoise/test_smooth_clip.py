"""Smooth-and-clip source mask (SoFiA 2 S+C) and the robust noise helpers."""
import numpy as np
import pytest
from scipy import ndimage

import galcube_lib as gl
from galcube_lib.denoise import denoise
from galcube_lib.denoise.smooth_clip import dilate, smooth_clip, smooth_clip_mask, smooth_clip_sigmas
from galcube_lib.noise.estimate import sigma_mad, sigma_negative

BEAM = 3.75


@pytest.fixture(scope="module")
def clean():
    obs = gl.Observation(n_pix=96, n_chan=40, channel_kms=30.0, beam_fwhm_px=BEAM)
    return gl.simulate([gl.Galaxy(r_eff_kpc=2.0)], obs)


@pytest.fixture(scope="module")
def far_from_source(clean):
    return ~ndimage.binary_dilation(clean.data > 1e-3 * clean.data.max(), iterations=4)


# --- noise helpers -----------------------------------------------------------------------------

def test_noise_helpers_recover_a_known_sigma():
    x = np.random.default_rng(0).normal(0.0, 2.0, 1_000_000)
    assert sigma_negative(x) == pytest.approx(2.0, rel=0.01)
    assert sigma_mad(x) == pytest.approx(2.0, rel=0.01)
    assert sigma_mad(x, center=0.0) == pytest.approx(2.0, rel=0.01)
    x[::7] = np.nan
    assert sigma_negative(x) == pytest.approx(2.0, rel=0.01)
    assert sigma_mad(x) == pytest.approx(2.0, rel=0.01)
    assert np.isnan(sigma_negative(np.ones(5))) and np.isnan(sigma_mad([np.nan]))


def test_noise_helpers_are_robust_to_a_positive_source():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, (20, 100, 100))
    x[:, :5, :] += 30.0 * rng.random((20, 5, 100)) + 5.0       # 5% of voxels hold bright emission
    assert np.std(x) > 2.0                                      # the plain std is ruined
    assert sigma_negative(x) == pytest.approx(1.0, rel=0.02)
    assert sigma_mad(x, center=0.0) == pytest.approx(1.0, rel=0.1)
    assert sigma_mad(x) == pytest.approx(1.0, rel=0.1)


# --- the mask on simulated galaxies -------------------------------------------------------------

def flux_fraction(mask, truth):
    return float(truth[mask].sum() / truth.sum())


@pytest.mark.parametrize("snr, kw, fraction", [(10, {}, 0.88), (10, {"dilate_xy": 2, "dilate_v": 2}, 0.93),
                                               (5, {"dilate_xy": 2, "dilate_v": 2}, 0.80)])
def test_mask_holds_most_of_the_flux(clean, snr, kw, fraction):
    # At peak SNR 5 in beam-correlated noise a third of this disk's flux lies in voxels under
    # 1 sigma, so no threshold mask holds 90% of it; at SNR 10 a 4-sigma mask does.
    got = [flux_fraction(smooth_clip_mask(gl.add_noise(clean, peak_snr=snr, kind="beam", rng=s).data,
                                          beam_fwhm_px=BEAM, n_sigma=4.0, **kw), clean.data)
           for s in (0, 1)]
    assert min(got) > fraction


def test_few_false_voxels_far_from_the_source(clean, far_from_source):
    false = [smooth_clip_mask(gl.add_noise(clean, peak_snr=5, kind="beam", rng=s).data,
                              beam_fwhm_px=BEAM)[far_from_source].mean() for s in range(4)]
    assert np.mean(false) < 1e-3


@pytest.mark.parametrize("n_sigma, limit", [(5.0, 1e-4), (4.0, 1e-3)])
def test_pure_noise_gives_a_nearly_empty_mask(clean, n_sigma, limit):
    # mean over realisations: at 4 sigma an occasional smoothed noise peak is detected
    fractions = [smooth_clip_mask(gl.add_noise(clean, peak_snr=5, kind="beam", rng=s).noise.astype(np.float32),
                                  beam_fwhm_px=BEAM, n_sigma=n_sigma).mean() for s in range(6)]
    assert np.mean(fractions) < limit


def test_negative_detections_are_left_out_of_the_mask():
    rng = np.random.default_rng(2)
    data = rng.normal(0.0, 1.0, (20, 48, 48)).astype(np.float32)
    data[8:12, 20:28, 20:28] -= 20.0
    assert not smooth_clip_mask(data, beam_fwhm_px=2.0, n_sigma=5.0).any()
    data[8:12, 20:28, 20:28] += 40.0
    assert smooth_clip_mask(data, beam_fwhm_px=2.0, n_sigma=5.0)[8:12, 20:28, 20:28].all()


# --- replacement ---------------------------------------------------------------------------------

def test_replacement_keeps_bright_sources_from_flooding_the_mask():
    obs = gl.Observation(n_pix=96, n_chan=40, channel_kms=30.0, beam_fwhm_px=4.0)
    bright = gl.simulate([gl.Galaxy(r_eff_kpc=0.3, sigma_kms=20.0, inclination_deg=30.0)], obs)
    noisy = gl.add_noise(bright, peak_snr=2000, kind="beam", rng=0)
    noise = noisy.noise
    faint = bright.data < 0.5 * noise.std()        # voxels whose true emission is below the noise
    mask = smooth_clip_mask(noisy.data, beam_fwhm_px=4.0, dilate_xy=0, dilate_v=0)
    sigmas = smooth_clip_sigmas(noisy.data, beam_fwhm_px=4.0)
    flooded = smooth_clip_mask(noisy.data, beam_fwhm_px=4.0, dilate_xy=0, dilate_v=0, replace=None)
    assert (flooded & faint).sum() > 5 * (mask & faint).sum()
    assert flooded.sum() > 2 * mask.sum()
    # every smoothed cube's noise estimate stays within 10% of its true noise
    s = 4.0 / (2 * np.sqrt(2 * np.log(2)))
    assert len(sigmas) == 9
    for (f_xy, width), sigma in sigmas.items():
        true = noise
        if f_xy:
            true = ndimage.gaussian_filter(true, (0, f_xy * s, f_xy * s), mode="constant", truncate=4.0)
        if width:
            true = ndimage.uniform_filter1d(true, width, axis=0, mode="constant")
        assert sigma == pytest.approx(true.std(), rel=0.1), (f_xy, width)


# --- dilation, size filter, output ---------------------------------------------------------------

@pytest.mark.parametrize("dxy, dv", [(0, 0), (1, 0), (2, 1), (3, 2)])
def test_dilation_grows_the_mask_by_the_requested_amounts(dxy, dv):
    data = np.zeros((21, 31, 31), dtype=np.float32)
    data[::2, ::2, ::2] = -1e-3                       # a little "noise" to measure
    data[10, 15, 15] = 1.0
    mask = smooth_clip_mask(data, beam_fwhm_px=1.0, spatial_kernels_beams=(0,), spectral_kernels_channels=(0,),
                            dilate_xy=dxy, dilate_v=dv, min_size=0)
    v, y, x = np.nonzero(mask)
    assert set(v) == set(range(10 - dv, 10 + dv + 1))
    expected = sum(1 for j in range(-dxy, dxy + 1) for i in range(-dxy, dxy + 1) if i * i + j * j <= dxy * dxy)
    assert mask.sum() == expected * (2 * dv + 1)
    assert np.hypot(y - 15, x - 15).max() == pytest.approx(dxy)
    assert np.array_equal(mask, dilate(data > 0.5, dilate_xy=dxy, dilate_v=dv))


def test_min_size_drops_small_groups():
    data = np.full((20, 40, 40), -1e-3, dtype=np.float32)
    data[::2] = 1e-3
    data[5, 5, 5] = 1.0                               # 1 voxel
    data[10:13, 20:24, 20:24] = 1.0                   # 48 voxels
    kw = {"beam_fwhm_px": 1.0, "spatial_kernels_beams": (0,), "spectral_kernels_channels": (0,), "dilate_xy": 0, "dilate_v": 0}
    assert smooth_clip_mask(data, min_size=0, **kw).sum() == 49
    kept = smooth_clip_mask(data, min_size=10, **kw)
    assert kept.sum() == 48 and not kept[5, 5, 5]


def test_output_is_data_times_mask(clean):
    noisy = gl.add_noise(clean, peak_snr=6, kind="beam", rng=4)
    mask = smooth_clip_mask(noisy.data, beam_fwhm_px=noisy.beam_fwhm_px, n_sigma=4.5)
    out = smooth_clip(noisy.data, beam_fwhm_px=noisy.beam_fwhm_px, n_sigma=4.5)
    assert out.dtype == np.float32 and mask.dtype == bool and mask.any()
    assert np.array_equal(out, noisy.data * mask)
    den = denoise(noisy, method="smooth_clip", n_sigma=4.5)
    assert np.array_equal(den.data, out)


def test_old_option_names_still_work_with_a_deprecation_warning(clean):
    noisy = gl.add_noise(clean, peak_snr=6, kind="beam", rng=4)
    new = {"n_sigma": 4.5, "noise_statistic": "mad"}
    old = {"threshold": 4.5, "noise": "mad"}
    mask = smooth_clip_mask(noisy.data, beam_fwhm_px=BEAM, **new)
    assert mask.any()
    for func, expected in [(smooth_clip_mask, mask), (smooth_clip, noisy.data * mask),
                           (smooth_clip_sigmas, smooth_clip_sigmas(noisy.data, beam_fwhm_px=BEAM, **new))]:
        with pytest.warns(DeprecationWarning) as warned:
            got = func(noisy.data, beam_fwhm_px=BEAM, **old)
        assert [str(w.message) for w in warned] == [
            f"{func.__name__}(): threshold= is deprecated, use n_sigma=",
            f"{func.__name__}(): noise= is deprecated, use noise_statistic="]
        assert (got == expected) if isinstance(got, dict) else np.array_equal(got, expected)
    with pytest.warns(DeprecationWarning) as warned:
        den = denoise(noisy, method="smooth_clip", **old)
    assert [str(w.message) for w in warned] == ["denoise(): threshold= is deprecated, use n_sigma=",
                                                "denoise(): noise= is deprecated, use noise_statistic="]
    assert np.array_equal(den.data, noisy.data * mask)
    assert den.record["denoise"]["options"] == new          # recorded under the new names
    with pytest.raises(TypeError, match="both n_sigma= and its deprecated old name threshold="):
        smooth_clip_mask(noisy.data, beam_fwhm_px=BEAM, n_sigma=4.0, threshold=4.0)


def test_sigmas_have_one_return_type():
    sigmas = smooth_clip_sigmas(np.zeros((4, 8, 8), np.float32), beam_fwhm_px=2.0)
    assert sigmas == {}                                # nothing measured: still a dict
    data = np.random.default_rng(1).normal(0.0, 3.0, (16, 32, 32)).astype(np.float32)
    sigmas = smooth_clip_sigmas(data, beam_fwhm_px=2.0, spatial_kernels_beams=(0,),
                                spectral_kernels_channels=(0, 3))
    assert sorted(sigmas) == [(0.0, 0), (0.0, 3)]
    assert sigmas[(0.0, 0)] == pytest.approx(3.0, rel=0.03)
    # a 3-channel boxcar of white noise has sigma / sqrt(3) (the two edge channels aside)
    assert sigmas[(0.0, 3)] == pytest.approx(3.0 / np.sqrt(3.0), rel=0.05)


def test_blank_voxels_stay_out_of_the_noise(clean):
    noisy = gl.add_noise(clean, peak_snr=6, kind="beam", rng=5)
    sig = smooth_clip_sigmas(noisy.data, beam_fwhm_px=BEAM, noise_statistic="mad")
    blanked = noisy.data.copy()
    blanked[:, :, :30] = 0.0                          # zero-filled edge, as denoise passes NaN
    sig_blank = smooth_clip_sigmas(blanked, beam_fwhm_px=BEAM, noise_statistic="mad")
    assert sig_blank[(0.0, 0)] == pytest.approx(sig[(0.0, 0)], rel=0.05)


@pytest.mark.parametrize("kw, name", [
    ({"n_sigma": 0.0}, "n_sigma"), ({"n_sigma": np.inf}, "n_sigma"),
    ({"noise_statistic": "std"}, "noise_statistic"), ({"replace": -1.0}, "replace"),
    ({"dilate_xy": -1}, "dilate_xy"), ({"dilate_v": -2}, "dilate_v"), ({"min_size": -3}, "min_size"),
    ({"spatial_kernels_beams": (0, -1)}, "spatial_kernels_beams"),
    ({"spatial_kernels_beams": ()}, "spatial_kernels_beams"),
    ({"spectral_kernels_channels": (0, 4)}, "spectral_kernels_channels"),
    ({"spectral_kernels_channels": (0, -3)}, "spectral_kernels_channels"),
    ({"beam_fwhm_px": -2.0}, "beam_fwhm_px")])
def test_bad_options_raise_value_error_naming_them(kw, name):
    data = np.random.default_rng(0).normal(size=(8, 16, 16)).astype(np.float32)
    kw = {"beam_fwhm_px": 2.0, **kw}
    with pytest.raises(ValueError, match=name):
        smooth_clip_mask(data, **kw)
    with pytest.raises(ValueError, match=name):
        smooth_clip(data, **kw)


def test_input_is_not_modified(clean):
    noisy = gl.add_noise(clean, peak_snr=5, kind="beam", rng=0).data
    before = noisy.copy()
    smooth_clip(noisy, beam_fwhm_px=BEAM)
    assert np.array_equal(noisy, before)
