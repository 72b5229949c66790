"""Gaussian smoothing baseline: flux, analytic noise reduction, matched filter, beam orientation."""
import math

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.denoise import denoise
from galcube_lib.denoise.gaussian import beam_kernel, gaussian

FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


def point_source(shape=(9, 65, 65)):
    data = np.zeros(shape, dtype=np.float32)
    data[shape[0] // 2, shape[1] // 2, shape[2] // 2] = 1.0
    return data


def second_moments(image):
    y, x = np.mgrid[:image.shape[0], :image.shape[1]].astype(float)
    w = image / image.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    return ((w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum(), (w * (x - mx) * (y - my)).sum())


def major_axis_angle(image):
    """Angle of the major axis from +x, counter-clockwise (towards +y), in [0, 180)."""
    vxx, vyy, vxy = second_moments(image)
    return math.degrees(0.5 * math.atan2(2 * vxy, vxx - vyy)) % 180.0


def test_flux_is_conserved_for_a_source_inside_the_field():
    obs = gl.Observation(n_pix=96, n_chan=40, channel_kms=30.0, beam_fwhm_px=(5.0, 3.0), beam_pa_deg=40.0)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=1.5)], obs)
    out = gaussian(clean.data, beam_fwhm_px=clean.beam_fwhm_px, beam_pa_deg=clean.beam_pa_deg)
    assert out.dtype == np.float32 and out.shape == clean.data.shape
    assert out.sum(dtype=np.float64) == pytest.approx(clean.data.sum(dtype=np.float64), rel=1e-4)
    assert out.max() < clean.data.max()      # smoothing lowers the peak


@pytest.mark.parametrize("beam, spatial, spectral", [((6.0, 6.0), 1.0, 0.0), ((8.0, 4.0), 1.0, 0.0),
                                                     ((4.0, 4.0), 0.0, 4.0), ((4.0, 4.0), 1.5, 3.0)])
def test_white_noise_std_drops_by_the_analytic_factor(beam, spatial, spectral):
    # A unit-sum 2-D Gaussian of sigmas (s1, s2) scales white noise by 1/(2 sqrt(pi s1 s2));
    # a 1-D one of sigma s by 1/sqrt(2 sqrt(pi) s).
    noise = np.random.default_rng(0).standard_normal((48, 128, 128)).astype(np.float32)
    out = gaussian(noise, beam_fwhm_px=beam, beam_pa_deg=30.0, spatial_fwhm_beams=spatial,
                   spectral_fwhm_channels=spectral)
    expected = 1.0
    if spatial:
        s1, s2 = (spatial * b / FWHM for b in beam)
        expected /= 2.0 * math.sqrt(math.pi * s1 * s2)
    if spectral:
        expected /= math.sqrt(2.0 * math.sqrt(math.pi) * spectral / FWHM)
    # away from the edges, where the zero padding lowers the noise
    pad = 20
    inner = out[(pad if spectral else 0):(-pad if spectral else None), pad:-pad, pad:-pad]
    assert inner.std() / noise.std() == pytest.approx(expected, rel=0.03)


def test_matched_filter_raises_peak_snr_and_is_best_at_the_beam():
    obs = gl.Observation(n_pix=64, n_chan=24, channel_kms=30.0, beam_fwhm_px=4.0)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=0.05, sigma_kms=60.0, inclination_deg=0.0)], obs)
    noise = gl.add_noise(clean, rms_jy=1.0, kind="white", rng=3).noise.astype(np.float32)
    snr_in = clean.data.max() / noise.std()

    def gain(spatial):
        kw = {"beam_fwhm_px": 4.0, "spatial_fwhm_beams": spatial, "spectral_fwhm_channels": 0.0}
        return (gaussian(clean.data, **kw).max() / gaussian(noise, **kw)[:, 16:-16, 16:-16].std()) / snr_in

    gains = {f: gain(f) for f in (0.5, 1.0, 2.0)}
    # beam sigma s: peak halves and noise drops by 2 sqrt(pi) s, so the gain is sqrt(pi) s
    assert gains[1.0] == pytest.approx(math.sqrt(math.pi) * 4.0 / FWHM, rel=0.06)
    assert gains[1.0] > max(gains[0.5], gains[2.0])


@pytest.mark.parametrize("pa, angle", [(0.0, 90.0), (90.0, 0.0), (45.0, 135.0), (-30.0, 60.0)])
def test_kernel_orientation_follows_the_beam_pa(pa, angle):
    # PA from north (+y) through east (-x): PA 0 -> along y, PA 90 -> along x, PA 45 -> (-x, +y)
    out = gaussian(point_source(), beam_fwhm_px=(8.0, 3.0), beam_pa_deg=pa, spectral_fwhm_channels=0.0)
    got = major_axis_angle(out[4])
    assert min(abs(got - angle), 180 - abs(got - angle)) < 1.0
    vxx, vyy, vxy = second_moments(out[4])
    tr, det = vxx + vyy, vxx * vyy - vxy ** 2
    lam = sorted([tr / 2 + math.sqrt(tr ** 2 / 4 - det), tr / 2 - math.sqrt(tr ** 2 / 4 - det)])
    assert math.sqrt(lam[1]) * FWHM == pytest.approx(8.0, rel=0.02)
    assert math.sqrt(lam[0]) * FWHM == pytest.approx(3.0, rel=0.03)


def test_kernel_matches_the_simulated_beam_orientation():
    obs = gl.Observation(n_pix=64, n_chan=12, channel_kms=30.0, beam_fwhm_px=(7.0, 3.0), beam_pa_deg=25.0)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=0.02, inclination_deg=0.0)], obs)
    beam_image = clean.data.sum(axis=0)
    kernel = beam_kernel(7.0, 3.0, 25.0)
    assert abs(major_axis_angle(beam_image) - major_axis_angle(kernel)) < 2.0


def test_denoise_dispatch_keeps_nan_and_checks_options():
    obs = gl.Observation(n_pix=48, n_chan=16, channel_kms=30.0, beam_fwhm_px=4.0)
    noisy = gl.add_noise(gl.simulate([gl.Galaxy(r_eff_kpc=1.0)], obs), peak_snr=5, rng=0)
    noisy.data[:, :3, :] = np.nan
    den = denoise(noisy, method="gaussian", spectral_fwhm_channels=3.0)
    assert np.isnan(den.data[:, :3, :]).all() and np.isfinite(den.data[:, 3:, :]).all()
    direct = gaussian(np.nan_to_num(noisy.data), beam_fwhm_px=noisy.beam_fwhm_px,
                      beam_pa_deg=noisy.beam_pa_deg, spectral_fwhm_channels=3.0)
    assert np.array_equal(den.data[:, 3:], direct[:, 3:])
    with pytest.raises(ValueError, match="spatial_fwhm_beams"):
        denoise(noisy, method="gaussian", spatial_fwhm_beams=-1.0)


@pytest.mark.parametrize("kw, name", [({"spatial_fwhm_beams": -0.5}, "spatial_fwhm_beams"),
                                      ({"spectral_fwhm_channels": float("nan")}, "spectral_fwhm_channels"),
                                      ({"beam_fwhm_px": 0.0}, "beam_fwhm_px"),
                                      ({"beam_fwhm_px": (4.0, 3.0, 2.0)}, "beam_fwhm_px")])
def test_bad_options_raise_value_error_naming_them(kw, name):
    kw = {"beam_fwhm_px": 4.0, **kw}
    with pytest.raises(ValueError, match=name):
        gaussian(point_source(), **kw)
    with pytest.raises(ValueError, match="3-D"):
        gaussian(np.zeros((4, 4)), beam_fwhm_px=4.0)


def test_input_is_not_modified():
    data = point_source()
    before = data.copy()
    gaussian(data, beam_fwhm_px=4.0)
    assert np.array_equal(data, before)
