"""gl.metrics: every figure against a value computed by hand or by an independent formula."""
import math

import numpy as np
import pytest
from scipy.special import erf

import galcube_lib as gl
from galcube_lib._util.conventions import FWHM_PER_SIGMA
from galcube_lib import metrics as M

# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def sim():
    obs = gl.Observation(n_pix=64, n_chan=40, channel_kms=30.0, pixel_kpc=0.5, beam_fwhm_px=3.75)
    gal = gl.Galaxy(r_eff_kpc=1.5, offset_kpc=(2.0, -3.0), inclination_deg=60.0)
    clean = gl.simulate([gal], obs)
    noisy = gl.add_noise(clean, peak_snr=4.0, kind="beam", rng=0)
    return clean, noisy


def tiny():
    """truth 1..8 in a (2, 2, 2) cube; diagonal aperture holds truth 1, 4, 5, 8."""
    truth = np.arange(1.0, 9.0).reshape(2, 2, 2)
    ap = np.array([[True, False], [False, True]])
    return truth, ap


# ----------------------------------------------------------------------------- apertures

def test_aperture_counts_pixels_by_hand():
    five = M.aperture((2, 5, 5), (2, 2), 2.0)          # radius 1: centre and 4 neighbours
    assert five.shape == (2, 5, 5) and five.dtype == bool
    assert five[0].sum() == 5 and np.array_equal(five[0], five[1])
    assert M.aperture((1, 5, 5), (2, 2), 3.0).sum() == 9   # radius 1.5 takes the diagonals


def test_published_aperture_diameter():
    # diameter 2 * max(2 R_e, FWHM): R_e 1, FWHM 3 -> radius 3 -> 29 lattice points
    assert M.published_aperture((1, 9, 9), (4, 4), 1.0, 3.0).sum() == 29
    # R_e 2 dominates; a (bmaj, bmin) beam uses bmaj: radius 4 -> 49 points
    assert M.published_aperture((1, 11, 11), (5, 5), 2.0, (3.0, 2.0)).sum() == 49


def test_aperture_from_record():
    obs = gl.Observation(n_pix=33, n_chan=8, pixel_kpc=0.5, beam_fwhm_px=4.0)
    cube = gl.simulate([gl.Galaxy(r_eff_kpc=1.0, offset_kpc=(2.0, -1.0))], obs)
    # centre x = 16 + 2 / 0.5 = 20, y = 16 - 1 / 0.5 = 14; R_e = 2 px; diameter 2 max(4, 4) = 8
    assert np.array_equal(M.aperture_from_record(cube), M.aperture(cube.shape, (14, 20), 8.0))


def test_aperture_errors_name_the_parameter():
    with pytest.raises(ValueError, match="diameter_px"):
        M.aperture((1, 5, 5), (2, 2), 0.0)
    with pytest.raises(ValueError, match="aperture"):
        M.aperture((1, 5, 5), (20, 20), 2.0)
    truth, _ = tiny()
    with pytest.raises(ValueError, match="aperture is empty"):
        M.flux_conservation(truth, truth, np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="aperture has shape"):
        M.flux_conservation(truth, truth, np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="shapes do not match"):
        M.rmse(truth, truth[:1])
    with pytest.raises(ValueError, match="truth"):
        M.rmse(truth, np.ones((2, 2)))
    with pytest.raises(ValueError, match="record"):
        M.aperture_from_record(gl.Cube(truth, gl.simulate([gl.Galaxy()], gl.Observation(
            n_pix=16, n_chan=4)).header))


# ----------------------------------------------------------------------------- flux, RMSE, PSNR

def test_flux_rmse_psnr_by_hand():
    truth, ap = tiny()
    den = np.full_like(truth, 3.0)
    noisy = truth + 1.0
    assert M.flux_conservation(den, truth, ap) == pytest.approx(100 * 12 / 18)
    # aperture diffs 2, -1, -2, -5 -> mean square 34 / 4
    assert M.rmse(den, truth, ap) == pytest.approx(math.sqrt(8.5))
    assert M.normalised_rmse(den, truth, noisy, ap) == pytest.approx(math.sqrt(8.5))
    # whole cube: diffs 2..-5 -> mean square 60 / 8
    assert M.rmse(den, truth) == pytest.approx(math.sqrt(7.5))
    assert M.psnr(den, truth) == pytest.approx(20 * math.log10(8 / math.sqrt(7.5)))
    # flux of an array is a plain sum; with a channel width and beam area it is Jy km/s
    assert M.aperture_flux(truth, ap) == 18.0
    assert M.aperture_flux(truth, ap, channel_kms=10.0, beam_area_px=4.0) == 45.0


def test_nan_voxels_are_ignored_and_inputs_untouched():
    truth, ap = tiny()
    den = np.full_like(truth, 3.0)
    den[0, 0, 0] = np.nan
    before = den.copy()
    assert M.rmse(den, truth, ap) == pytest.approx(math.sqrt((1 + 4 + 25) / 3))
    assert M.flux_conservation(den, truth, ap) == pytest.approx(100 * 9 / 17)
    np.testing.assert_array_equal(den, before)


def test_user_mask_3d_is_accepted():
    truth, _ = tiny()
    mask = np.zeros(truth.shape, bool)
    mask[1, 0, 1] = True                                    # the voxel holding 6
    assert M.flux_conservation(truth * 2, truth, mask) == pytest.approx(200.0)


# ----------------------------------------------------------------------------- SNR gain

def test_snr_gain_simulation_by_hand():
    truth, ap = tiny()
    sign = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0]).reshape(2, 2, 2)
    noisy, den = truth + sign, truth + 0.5 * sign
    assert M.snr_gain(den, truth, noisy, ap) == pytest.approx(2.0)


def test_offsource_shifts_avoid_source_edges_and_nan():
    # a 3x3 square aperture in the middle of a 3x9 field fits only at the two ends
    ap = np.zeros((3, 9), bool)
    ap[:, 3:6] = True
    shifts = M.offsource_shifts((1, 3, 9), ap, 50, rng=0)
    assert sorted(map(tuple, shifts)) == [(0, -3), (0, 3)]
    # a one-pixel aperture in a 3x7 field: 21 pixels - itself - one NaN pixel = 19 places
    one = np.zeros((3, 7), bool)
    one[1, 3] = True
    invalid = np.zeros((2, 3, 7), bool)
    invalid[1, 0, 0] = True
    shifts = M.offsource_shifts((2, 3, 7), one, 100, rng=1, invalid=invalid)
    places = {(1 + dy, 3 + dx) for dy, dx in shifts}
    assert len(shifts) == 19 and (1, 3) not in places and (0, 0) not in places
    with pytest.raises(ValueError, match="n_placements"):
        M.offsource_shifts((1, 3, 7), one, 1)


def test_offsource_fluxes_by_hand():
    data = np.arange(12.0).reshape(1, 3, 4)
    ap = np.zeros((3, 4), bool)
    ap[0, 0] = ap[0, 1] = True                              # holds 0 + 1
    fl = M.offsource_fluxes(data, ap, [(0, 2), (2, 0), (1, 1)])
    np.testing.assert_allclose(fl, [2 + 3, 8 + 9, 5 + 6])


def test_offsource_placements_measure_every_cube_at_the_same_places():
    a = np.arange(36.0).reshape(1, 6, 6)
    b = 2 * a
    b[0, 5, 5] = np.nan                                     # not data in one cube: avoided in both
    one = np.zeros((6, 6), bool)
    one[0, 0] = True
    placed = M.offsource_placements([a, b], one, 100, rng=0)
    places = [(int(dy), int(dx)) for dy, dx in placed.shifts]
    assert len(places) == 34 and (0, 0) not in places and (5, 5) not in places
    np.testing.assert_array_equal(placed.fluxes[0], [6 * dy + dx for dy, dx in places])
    np.testing.assert_array_equal(placed.fluxes[1], 2 * placed.fluxes[0])
    assert placed.flux == (0.0, 0.0)
    assert placed.flux_noise[1] == pytest.approx(2 * np.std(placed.fluxes[0], ddof=1))
    np.testing.assert_allclose(placed.flux_sigma(1, reference=0), 2 * placed.fluxes[0] /
                               np.std(placed.fluxes[0], ddof=1))
    c = a + 100.0 * one                                      # a source of 100 at (0, 0)
    placed = M.offsource_placements([c], one, 100, rng=0)
    assert placed.snr(0) == pytest.approx(100.0 / np.std(placed.fluxes[0], ddof=1))
    # the same rng gives the same places as offsource_shifts
    np.testing.assert_array_equal(placed.shifts, M.offsource_shifts(c.shape, one, 100, rng=0))
    with pytest.raises(ValueError, match="shapes do not match"):
        M.offsource_placements([a, a[:, :3]], one)


def test_offsource_noise_of_white_noise():
    sigma, n_chan = 2.0, 8
    gen = np.random.default_rng(5)
    data = sigma * gen.standard_normal((n_chan, 160, 160))
    ap = M.aperture(data.shape, (80, 80), 7.0)
    n_pix = ap[0].sum()
    noise = M.offsource_flux_noise(data, ap, n_placements=400, rng=3)
    assert noise == pytest.approx(math.sqrt(n_pix * n_chan) * sigma, rel=0.1)


def test_snr_gain_offsource_by_hand():
    gen = np.random.default_rng(0)
    noisy = gen.standard_normal((4, 40, 40))
    ap = M.aperture(noisy.shape, (20, 20), 6.0)
    noisy[ap] += 1.0
    # scaling the cube changes neither SNR
    assert M.snr_gain_offsource(0.5 * noisy, noisy, ap, rng=2) == pytest.approx(1.0)
    # adding flux c per aperture voxel leaves the off-source noise alone
    f = noisy[ap].sum()
    boosted = noisy + 0.5 * ap
    expected = (f + 0.5 * ap.sum()) / f
    assert M.snr_gain_offsource(boosted, noisy, ap, rng=2) == pytest.approx(expected)
    snr = M.snr_offsource(noisy, ap, rng=2)
    assert snr == pytest.approx(f / M.offsource_flux_noise(noisy, ap, rng=2))


def test_reinjection_by_hand():
    noisy = np.zeros((1, 1, 2))
    ap = np.ones((1, 2), bool)
    extra = [np.ones((1, 1, 2)), 3 * np.ones((1, 1, 2))]    # fluxes 2 and 6 -> std 2 sqrt 2
    out = M.reinjection_flux_noise(lambda c: 0.5 * c, noisy, ap, extra)
    np.testing.assert_allclose(out["fluxes"], [1.0, 3.0])
    assert out["flux_noise"] == pytest.approx(math.sqrt(2)) and out["flux"] == 0.0
    # a linear rescaling gains nothing, whatever form rng takes (the draws are shared)
    cube = np.random.default_rng(1).standard_normal((4, 16, 16)) + 1.0
    apc = M.aperture(cube.shape, (8, 8), 6.0)
    for rng in (0, np.random.SeedSequence(0), np.random.default_rng(0)):
        assert M.snr_gain_reinjection(lambda c: 3 * c, cube, apc, n_realisations=4, rng=rng,
                                      sigma=0.5) == pytest.approx(1.0)
    # a noise level given as noise (its old meaning) still works, with a DeprecationWarning
    with pytest.warns(DeprecationWarning, match="sigma="):
        old = M.reinjection_flux_noise(lambda c: c, cube, apc, 0.5, 4, rng=0)
    new = M.reinjection_flux_noise(lambda c: c, cube, apc, n_realisations=4, rng=0, sigma=0.5)
    np.testing.assert_array_equal(old["fluxes"], new["fluxes"])
    with pytest.raises(TypeError, match="n_realisations"):     # was truncated to 2 silently
        M.reinjection_flux_noise(lambda c: c, cube, apc, n_realisations=2.5, sigma=0.5)


def test_reinjection_flux_noise_of_white_noise_is_sqrt_n_sigma():
    # identity: the flux spread is that of a sum of n_vox independent voxels, sigma sqrt(n_vox);
    # with n realisations the std (ddof=1) has a relative standard error 1 / sqrt(2 (n - 1))
    n, sigma = 400, 0.5
    cube = np.random.default_rng(1).standard_normal((4, 16, 16)) + 1.0
    apc = M.aperture(cube.shape, (8, 8), 6.0)
    tolerance = 4 / math.sqrt(2 * (n - 1))
    drawn = M.reinjection_flux_noise(lambda c: c, cube, apc, n_realisations=n, rng=0, sigma=sigma)
    assert drawn["flux_noise"] == pytest.approx(sigma * math.sqrt(apc.sum()), rel=tolerance)
    # from a noise cube: each draw has the cube's spread, so one voxel's spread is its std
    one = np.zeros(cube.shape, bool)
    one[2, 8, 8] = True
    drawn = M.reinjection_flux_noise(lambda c: c, cube, one, cube - 1.0, n, rng=0)
    assert drawn["flux_noise"] == pytest.approx(np.std(cube), rel=tolerance)


def test_reinjection_passes_cubes_to_the_denoiser(sim):
    _, noisy = sim
    ap = M.aperture_from_record(noisy)
    seen = []

    def identity(c):
        seen.append(type(c))
        return c
    out = M.reinjection_flux_noise(identity, noisy, ap, n_realisations=3, rng=0,
                                   sigma=float(noisy.noise.std()))
    assert set(seen) == {gl.Cube} and out["flux_noise"] > 0


# ----------------------------------------------------------------------------- moments

def test_moments_by_hand():
    data = np.array([1.0, 2.0, 1.0]).reshape(3, 1, 1)
    m0, m1, m2 = M.moments(data, [-10.0, 0.0, 10.0])
    assert m0[0, 0] == 40.0 and m1[0, 0] == 0.0
    assert m2[0, 0] == pytest.approx(math.sqrt(200 / 4))
    # a mask that keeps the two last channels: m1 = (0*2 + 10*1) / 3
    mask = np.array([False, True, True]).reshape(3, 1, 1)
    m0, m1, _ = M.moments(data, [-10.0, 0.0, 10.0], mask)
    assert m0[0, 0] == 30.0 and m1[0, 0] == pytest.approx(10 / 3)
    # nothing positive: moments 1 and 2 undefined
    _, m1, m2 = M.moments(-data, [-10.0, 0.0, 10.0])
    assert np.isnan(m1[0, 0]) and np.isnan(m2[0, 0])


def test_moments_are_nan_on_blank_spaxels_and_zero_where_masked_out():
    data = np.ones((3, 1, 3))
    data[:, 0, 0] = np.nan                                  # a blank spaxel
    m0, m1, m2 = M.moments(data, [-10.0, 0.0, 10.0])
    assert np.isnan(m0[0, 0]) and np.isnan(m1[0, 0]) and np.isnan(m2[0, 0])
    assert m0[0, 1] == 30.0
    m0, _, _ = M.moments(data, [-10.0, 0.0, 10.0], np.array([[True, False, True]]))
    assert np.isnan(m0[0, 0]) and m0[0, 1] == 0.0           # finite but masked out: no emission
    m0, _, _ = M.moments(np.full((4, 3, 3), np.nan), np.arange(4.0))
    assert np.isnan(m0).all()


def test_moments_of_a_gaussian_line_with_sheppard_correction():
    dv, sigma, centre = 20.0, 40.0, 13.0
    edges = np.arange(-400.0, 400.0 + dv, dv)
    vel = 0.5 * (edges[1:] + edges[:-1])
    cdf = 0.5 * (1 + erf((edges - centre) / (sigma * math.sqrt(2))))
    line = np.diff(cdf) / dv                               # channel-averaged Gaussian
    data = np.broadcast_to(line[:, None, None], (vel.size, 2, 3))
    m0, m1, m2 = M.moments(data, vel)
    np.testing.assert_allclose(m0, 1.0, rtol=1e-6)
    np.testing.assert_allclose(m1, centre, atol=1e-3)
    np.testing.assert_allclose(np.sqrt(m2 ** 2 - dv ** 2 / 12), sigma, rtol=2e-3)


def test_moment_masks_by_hand():
    data = np.array([0.0, 1.0, 5.0, np.nan]).reshape(4, 1, 1)
    assert M.moment_mask(data, 3.0, sigma=1.0).ravel().tolist() == [False, False, True, False]
    assert M.truth_mask(data, 0.1).ravel().tolist() == [False, True, True, False]


def test_map_rmse_by_hand():
    assert M.map_rmse([[1.0, np.nan], [3.0, 0.0]], [[0.0, 5.0], [1.0, 0.0]]) == pytest.approx(
        math.sqrt(5 / 3))


def _ssim_brute_force(x, y, data_range, sigma=1.5):
    """Wang et al. (2004) with explicit Gaussian weights, numpy 'symmetric' padding (=scipy
    'reflect'), K1 0.01, K2 0.03, population moments, border of the window half-width cropped."""
    r = int(3.5 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    w = np.outer(k, k) / k.sum() ** 2
    px, py = np.pad(x, r, mode="symmetric"), np.pad(y, r, mode="symmetric")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for i in range(r, x.shape[0] - r):
        for j in range(r, x.shape[1] - r):
            a, b = px[i:i + 2 * r + 1, j:j + 2 * r + 1], py[i:i + 2 * r + 1, j:j + 2 * r + 1]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
            cab = (w * (a - ma) * (b - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cab + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_identity_constants_and_brute_force():
    gen = np.random.default_rng(0)
    ref = gen.random((16, 16))
    assert M.ssim(ref, ref) == pytest.approx(1.0)
    # constant maps: no structure term, SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    a, b, c1 = np.ones((16, 16)), 2 * np.ones((16, 16)), 1e-4
    assert M.ssim(a, b, data_range=1.0) == pytest.approx((4 + c1) / (5 + c1))
    noisy = ref + 0.3 * gen.standard_normal(ref.shape)
    value = M.ssim(noisy, ref)
    assert value == pytest.approx(_ssim_brute_force(noisy, ref, np.ptp(ref)), rel=1e-10)
    assert 0.0 < value < 0.9
    with pytest.raises(ValueError, match="finite"):
        M.ssim(np.full((4, 4), np.nan), ref[:4, :4])


def test_ssim_window_width_is_window_sigma_and_sigma_is_deprecated():
    gen = np.random.default_rng(0)
    ref = gen.random((24, 24))
    noisy = ref + 0.3 * gen.standard_normal(ref.shape)
    narrow = M.ssim(noisy, ref, window_sigma=1.0)
    assert narrow == pytest.approx(_ssim_brute_force(noisy, ref, np.ptp(ref), sigma=1.0), rel=1e-10)
    assert narrow != M.ssim(noisy, ref)
    with pytest.warns(DeprecationWarning, match="window_sigma"):
        assert M.ssim(noisy, ref, sigma=1.0) == narrow


def test_kinematic_pa_of_planes():
    y, x = np.indices((9, 9), dtype=float)
    assert M.kinematic_pa(2 * x + 5) == pytest.approx(270.0)   # receding to +x (west)
    assert M.kinematic_pa(y) == pytest.approx(0.0)              # receding north
    assert M.kinematic_pa(-x) == pytest.approx(90.0)            # receding east
    assert M.kinematic_pa(x - y) == pytest.approx(225.0)


def test_kinematic_pa_of_simulated_galaxy():
    gal = gl.Galaxy(inclination_deg=60.0, pa_deg=120.0, r_eff_kpc=3.0, sigma_kms=20.0)
    cube = gl.simulate([gal], gl.Observation(n_pix=96, n_chan=48, channel_kms=15.0))
    _, m1, _ = M.moments(cube, cube.velocity_kms, M.truth_mask(cube))
    assert abs((M.kinematic_pa(m1) - 120.0 + 180) % 360 - 180) < 1.0


# ----------------------------------------------------------------------------- spectra

def test_aperture_spectrum_by_hand(sim):
    data = np.ones((2, 2, 2))
    ap = np.array([[True, True], [True, False]])
    np.testing.assert_allclose(M.aperture_spectrum(data, ap, beam_area_px=2.0), [1.5, 1.5])
    clean, _ = sim
    full = np.ones(clean.shape[1:], bool)
    flux = M.aperture_spectrum(clean, full).sum() * clean.channel_kms
    assert flux == pytest.approx(clean.data.sum() * clean.channel_kms / clean.beam_area_px, rel=1e-5)


def test_pearson_by_hand():
    assert M.pearson_r([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(2 * 114 / 9))
    assert M.pearson_r([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_line_width_by_hand():
    v = np.arange(5.0)
    assert M.line_width([0, 1, 2, 1, 0], v) == pytest.approx(2.0)
    # half peak 2: left crossing at v=1 exactly, right at 2 + 2/3
    assert M.line_width([0, 2, 4, 1, 0], v) == pytest.approx(5 / 3)
    assert np.isnan(M.line_width([3, 2.5, 4, 1, 0], v))           # never below half on the left
    # quarter peak 1: left between v=1 (2) and v=0 (0) at 0.5; right at v=3 exactly
    assert M.line_width([0, 2, 4, 1, 0], 10 * v, level=0.25) == pytest.approx(25.0)


def test_gaussian_fwhm_and_centroid():
    v = np.arange(-300.0, 301.0, 15.0)
    line = 2.0 * np.exp(-0.5 * ((v - 20.0) / 35.0) ** 2)
    assert M.gaussian_fwhm(line, v) == pytest.approx(2 * math.sqrt(2 * math.log(2)) * 35.0, rel=1e-5)
    assert M.line_width(line, v) == pytest.approx(2.3548 * 35.0, rel=0.02)
    assert M.centroid([1, 2, 1], [0, 10, 20]) == pytest.approx(10.0)
    assert M.centroid([1, 3, 100], [0, 10, 20], channels=[True, True, False]) == pytest.approx(7.5)


# ----------------------------------------------------------------------------- hallucination

def test_null_test_by_hand():
    cubes = [k * np.ones((1, 1, 2)) for k in (1.0, 2.0, 3.0)]  # fluxes 2, 4, 6: std 2
    ap = np.ones((1, 2), bool)
    out = M.null_test(lambda c: 2 * c, cubes, ap)               # fluxes 4, 8, 12 -> 2, 4, 6 sigma
    assert out["flux_noise"] == pytest.approx(2.0)
    np.testing.assert_allclose(out["flux_sigma"], [2.0, 4.0, 6.0])
    assert out["mean_flux_sigma"] == pytest.approx(4.0)
    assert out["detection_fraction"] == pytest.approx(2 / 3)
    silent = M.null_test(lambda c: 0 * c, cubes, ap, flux_noise=1.0)
    assert silent["mean_flux_sigma"] == 0.0 and silent["detection_fraction"] == 0.0
    with pytest.raises(ValueError, match="noise_cubes"):
        M.null_test(lambda c: c, cubes[:1], ap)


def beam_flux_sigma(ap2d, fwhm_px, n_chan, rms):
    """Aperture-flux noise of beam noise, analytically: white noise convolved with a Gaussian of
    std s has correlation exp(-d^2 / (4 s^2)) at a distance d across the sky, none between
    channels, so var = rms^2 n_chan sum_{a, b in A} exp(-|a - b|^2 / (4 s^2))."""
    s = fwhm_px / FWHM_PER_SIGMA
    y, x = np.nonzero(ap2d)
    d2 = (y[:, None] - y[None, :]) ** 2 + (x[:, None] - x[None, :]) ** 2
    return rms * math.sqrt(n_chan * np.exp(-d2 / (4 * s * s)).sum())


def test_null_test_on_simulated_noise():
    obs = gl.Observation(n_pix=32, n_chan=4, pixel_kpc=0.5, beam_fwhm_px=3.75)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=1.0)], obs)
    blank = clean.replace(data=np.zeros(clean.shape), clean=np.zeros(clean.shape))
    n = 400
    nulls = [gl.add_noise(blank, rms_jy=1.0, kind="beam", rng=s).data for s in range(n)]
    ap = M.aperture_from_record(clean)
    expected = beam_flux_sigma(ap[0], 3.75, 4, 1.0)
    # identity, in units of the analytic flux noise: z ~ N(0, 1), mean within 4 / sqrt(n)
    out = M.null_test(lambda c: c, nulls, ap, flux_noise=expected)
    z = out["flux_sigma"]
    assert len(z) == n and abs(out["mean_flux_sigma"]) < 4 / math.sqrt(n)
    assert np.std(z, ddof=1) == pytest.approx(1.0, abs=4 / math.sqrt(2 * (n - 1)))
    assert out["detection_fraction"] < 0.01                     # P(z > 3) = 0.00135
    # the default flux noise, measured on the cubes themselves, is that analytic value
    measured = M.null_test(lambda c: c, nulls, ap)["flux_noise"]
    assert measured == pytest.approx(expected, rel=4 / math.sqrt(2 * (n - 1)))
    # a denoiser that adds one flux noise of flux to every cube detects it in about half of them
    shifted = M.null_test(lambda c: c + expected / ap.sum(), nulls, ap, flux_noise=expected,
                          n_sigma=1.0)
    assert shifted["mean_flux_sigma"] == pytest.approx(out["mean_flux_sigma"] + 1.0)
    assert shifted["detection_fraction"] == pytest.approx(0.5, abs=4 * 0.5 / math.sqrt(n))


def test_offsource_hallucination():
    gen = np.random.default_rng(4)
    noisy = gen.standard_normal((4, 48, 48))
    ap = M.aperture(noisy.shape, (24, 24), 8.0)
    zero = M.offsource_hallucination(np.zeros_like(noisy), noisy, ap, rng=0)
    assert zero == {"mean_flux_sigma": 0.0, "detection_fraction": 0.0}
    fake = M.offsource_hallucination(noisy + 1.0, noisy, ap, rng=0)  # invents flux everywhere
    assert fake["detection_fraction"] == 1.0


# ----------------------------------------------------------------------------- evaluate

def test_evaluate_on_a_simulated_cube(sim):
    clean, noisy = sim
    out = M.evaluate(noisy, truth=clean, noisy=noisy)
    assert all(math.isfinite(v) for v in out.values()), out
    for name in ("flux_conservation", "rmse_aperture", "rmse_cube", "psnr", "snr_gain",
                 "snr_gain_offsource", "mom0_ssim", "mom1_nrmse", "mom2_ssim", "kinematic_pa_deg",
                 "spectrum_pearson", "w50_error_kms", "centroid_error_kms",
                 "offsource_detection_fraction"):
        assert name in out
    assert out["nrmse"] == pytest.approx(1.0) and out["snr_gain"] == pytest.approx(1.0)
    assert out["mom0_nrmse"] == pytest.approx(1.0)
    ap = M.aperture_from_record(clean)
    assert out["flux_conservation"] == pytest.approx(M.flux_conservation(noisy, clean, ap))
    # truth defaults to the cube's clean; the truth against itself is perfect
    perfect = M.evaluate(noisy.replace(data=clean.data), noisy=noisy)
    assert perfect["nrmse"] == 0.0 and perfect["flux_conservation"] == pytest.approx(100.0)
    assert perfect["mom0_ssim"] == pytest.approx(1.0) and perfect["spectrum_pearson"] == pytest.approx(1.0)
    assert perfect["kinematic_pa_error_deg"] == 0.0 and perfect["w50_error_kms"] == 0.0


def test_evaluate_real_data_style_arrays_with_nan(sim):
    clean, noisy = sim
    data = noisy.data.copy()
    data[:, :, :3] = np.nan                                  # blanked edge, as real cubes have
    before = data.copy()
    ap = M.aperture_from_record(clean)
    out = M.evaluate(data * 0.5, noisy=data, aperture=ap[0])
    np.testing.assert_array_equal(data, before)
    assert out["snr_gain_offsource"] == pytest.approx(1.0)
    assert "flux_conservation" not in out and "spectrum_pearson" not in out
    assert all(math.isfinite(v) for v in out.values())
    # moments use the voxels of the denoised cube above 3 sigma of the noisy one
    itself = M.evaluate(data, noisy=data, aperture=ap[0], velocity_kms=noisy.velocity_kms)
    assert abs((itself["kinematic_pa_deg"] - 30.0 + 180) % 360 - 180) < 45.0  # R_e < beam, SNR 4
    # without an aperture only the whole-cube figures are there
    bare = M.evaluate(clean.data * 0.9, truth=clean.data)
    assert "flux_conservation" not in bare and bare["rmse_cube"] > 0
