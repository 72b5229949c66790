"""Posterior maps of (log n, log G0): calibration on synthetic pixels with known truth, the
scale's invariance, the flags and bad input. The forward models here are analytic (no pdrtpy)."""
import numpy as np
import pytest

from galcube_lib.pdr.posterior import ParameterGrid, parameter_maps

BOUNDS = [[1.0, 7.0], [-0.5, 6.5]]


def smooth_forward(points):
    """Four lines with distinct, smooth dependences on (log n, log G0), log10 intensities."""
    x, y = (np.asarray(points, dtype=float) - [4.0, 3.0]).T
    return np.stack([-4 + 0.6 * x + 0.3 * y - 0.05 * x * y, -5 + 0.9 * y - 0.1 * x ** 2,
                     -6 + 1.1 * x - 0.4 * y + 0.03 * y ** 2, -3.5 + 0.8 * y], 1)


def draw(n, relative, rng, scale_range=(0.0, 0.0)):
    rng = np.random.default_rng(rng)
    truth = rng.uniform([1.0, -0.5], [7.0, 6.5], (n, 2))
    scale = 10 ** rng.uniform(*scale_range, n)
    model = 10 ** smooth_forward(truth) * scale[:, None]
    sigma = relative * model
    return truth, (model + rng.normal(size=model.shape) * sigma).T, sigma.T


@pytest.mark.parametrize("fit_scale", [True, False])
def test_intervals_cover_the_truth_68_percent(fit_scale):
    """Truth drawn from the prior (flat over the grid), Gaussian noise of 20 %: the 16-84 %
    intervals cover it 0.68 +- 0.05 of the time, and the smallest chi2 averages the degrees of
    freedom (lines - 2 parameters - the scale)."""
    truth, intensity, sigma = draw(1500, 0.2, 1, (-1, 1) if fit_scale else (0, 0))
    maps = parameter_maps(intensity, sigma, ParameterGrid(smooth_forward, BOUNDS), fit_scale=fit_scale,
                          progress=False)
    covered = (maps.lower <= truth.T) & (truth.T <= maps.upper)
    assert np.all(np.abs(covered.mean(1) - 0.68) < 0.05), covered.mean(1)
    assert np.mean(maps.chi2) == pytest.approx(4 - 2 - fit_scale, abs=0.3)
    assert np.all(maps.lower <= maps.median) and np.all(maps.median <= maps.upper)


def test_noise_free_pixels_give_the_truth_and_the_scale():
    truth = np.array([[3.3, 2.1], [5.2, 4.7], [2.4, 0.9]])
    model = 10 ** smooth_forward(truth)
    sigma = 0.01 * model
    grid = ParameterGrid(smooth_forward, BOUNDS)
    maps = parameter_maps(model.T, sigma.T, grid, progress=False)
    assert np.allclose(maps.median.T, truth, atol=0.02)
    scaled = parameter_maps(7 * model.T, 7 * sigma.T, grid, progress=False)
    assert np.allclose(scaled.median, maps.median, atol=1e-6)
    assert np.allclose(scaled.log_scale - maps.log_scale, np.log10(7), atol=1e-3)
    absolute = parameter_maps(model.T, sigma.T, grid, fit_scale=False, progress=False)
    assert np.allclose(absolute.median.T, truth, atol=0.02) and np.all(absolute.log_scale == 0)


def test_a_two_mode_posterior_is_flagged():
    """Lines that see only (log n - 4)^2 cannot tell 4 - d from 4 + d."""
    def symmetric(points):
        x, y = (np.asarray(points) - [4.0, 3.0]).T
        return np.stack([-4 + 0.5 * x ** 2 + 0.5 * y, -5 - 0.3 * x ** 2 + 0.8 * y, -3 + 0.2 * x ** 2 - 0.4 * y], 1)

    truth = np.array([[5.5, 3.0], [4.0, 3.0]])
    model = 10 ** symmetric(truth)
    maps = parameter_maps(model.T, 0.05 * model.T, ParameterGrid(symmetric, BOUNDS), fit_scale=False,
                          progress=False)
    assert maps.multimodal.tolist() == [True, False]
    assert not maps.good[0]


def test_a_posterior_cut_by_the_grid_is_flagged():
    truth = np.array([[1.05, 3.0], [4.0, 3.0]])
    model = 10 ** smooth_forward(truth)
    maps = parameter_maps(model.T, 0.3 * model.T, ParameterGrid(smooth_forward, BOUNDS), progress=False)
    assert maps.at_edge.tolist() == [True, False]


def test_missing_lines_and_bad_input():
    truth, intensity, sigma = draw(3, 0.1, 2)
    intensity[0, 0] = np.nan            # pixel 0: three lines left, enough with the scale
    intensity[:2, 1] = np.nan           # pixel 1: two lines, too few with the scale
    sigma[3, 2] = -1.0                  # pixel 2: an unusable uncertainty drops that line
    maps = parameter_maps(intensity, sigma, ParameterGrid(smooth_forward, BOUNDS), progress=False)
    assert maps.n_lines.tolist() == [3, 2, 3]
    assert np.isfinite(maps.median[:, 0]).all() and np.isnan(maps.median[:, 1]).all()
    grid = ParameterGrid(smooth_forward, BOUNDS)
    with pytest.raises(ValueError, match="one shape"):
        parameter_maps(intensity, sigma[:, :2], grid)
    with pytest.raises(ValueError, match="n_lines=4"):
        parameter_maps(intensity[:3], sigma[:3], grid)
    with pytest.raises(ValueError, match="bounds"):
        ParameterGrid(smooth_forward, [[7, 1], [0, 1]])
    with pytest.raises(ValueError, match="the forward model has none"):
        ParameterGrid(smooth_forward)
    with pytest.raises(ValueError, match="finest"):
        ParameterGrid(smooth_forward, BOUNDS, finest=0.5)


def test_the_fine_grid_is_tabulated_only_where_posteriors_are():
    """A few narrow posteriors need a few tiles of the 0.01-dex grid, not its 420,000 points."""
    calls = []

    def counting(points):
        calls.append(len(points))
        return smooth_forward(points)

    truth, intensity, sigma = draw(5, 0.05, 3)
    grid = ParameterGrid(counting, BOUNDS)
    maps = parameter_maps(intensity, sigma, grid, progress=False)
    whole = np.prod([len(a) for a in grid.axes(grid.finest)])
    assert whole > 400_000 and sum(calls) < 0.1 * whole, (sum(calls), whole)
    again = parameter_maps(intensity, sigma, ParameterGrid(smooth_forward, BOUNDS), progress=False)
    assert np.array_equal(maps.median, again.median)


def test_the_maps_round_trip_through_fits(tmp_path):
    from astropy.io import fits

    truth, intensity, sigma = draw(6, 0.1, 4)
    maps = parameter_maps(intensity.reshape(4, 2, 3), sigma.reshape(4, 2, 3),
                          ParameterGrid(smooth_forward, BOUNDS), progress=False)
    header = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 10.0, "CRVAL2": 5.0})
    path = maps.to_fits(tmp_path / "maps.fits", header)
    with fits.open(path) as hdus:
        assert np.allclose(hdus["LOG_N"].data, maps.median[0], atol=1e-5)
        assert np.allclose(hdus["LOG_G0_P84"].data, maps.upper[1], atol=1e-5)
        assert hdus["MULTIMODAL"].data.dtype == np.uint8 and hdus["LOG_N"].header["CRVAL1"] == 10.0
    assert not list(tmp_path.glob(".*.tmp"))
