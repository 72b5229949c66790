"""Scores of property maps against known inputs: exact power laws, known error widths, a
predictor that uses one column only."""
import numpy as np
import pytest

from galcube_lib.inference import models, scores


def test_power_law_recovers_an_exact_relation():
    x = np.linspace(-1, 2, 50)
    fit = models.PowerLaw().fit(x, 1.13 * x - 8.52)
    assert fit.slope == pytest.approx(1.13) and fit.intercept == pytest.approx(-8.52)
    mean, sigma = fit.predict(np.array([0.0, 1.0]))
    np.testing.assert_allclose(mean, [-8.52, 1.13 - 8.52])
    assert np.all(sigma < 1e-9)


def _rows(n_galaxies=40, per=50, seed=0):
    gen = np.random.default_rng(seed)
    galaxy = np.repeat(np.arange(n_galaxies), per)
    return gen, galaxy, gen.normal(size=galaxy.size)


def test_bootstrap_finds_a_real_difference_and_not_a_null_one():
    gen, galaxy, true = _rows()
    wide = true + gen.normal(0, 0.5, true.size)
    narrow = true + gen.normal(0, 0.1, true.size)
    real = scores.bootstrap_difference(wide, narrow, true, galaxy, rng=1)
    assert real["significant"] and real["low"] > 0.3
    assert real["low"] <= real["difference"] <= real["high"]
    assert real["difference"] == pytest.approx(0.4, abs=0.02)
    same = scores.bootstrap_difference(narrow, narrow, true, galaxy, rng=1)
    assert same["difference"] == 0 and not same["significant"]


def test_coverage_of_gaussian_errors_is_68_percent_per_bin():
    gen = np.random.default_rng(2)
    true = gen.normal(size=200_000)
    sigma = gen.uniform(0.1, 1.0, true.size)
    predicted = true + sigma * gen.normal(size=true.size)
    snr = gen.uniform(3, 10, true.size)
    cov = scores.coverage(predicted, sigma, true, snr)
    for key in ("all", "[3, 5)", "[5, 8)", "[8, 10]"):
        assert cov[key] == pytest.approx(0.6827, abs=0.01)
    # intervals half as wide cover erf(0.5 / sqrt 2) = 38.3%
    assert scores.coverage(predicted, sigma / 2, true, snr)["all"] == pytest.approx(0.3829, abs=0.01)


def test_permutation_importance_finds_the_column_used():
    gen, galaxy, _ = _rows()
    X = gen.normal(size=(galaxy.size, 2))
    true = 2.0 * X[:, 0]

    def predict(x):
        return 2.0 * x[:, 0], np.ones(len(x))

    out = scores.permutation_importance(predict, X, true, galaxy, {"used": [0], "unused": [1]}, rng=3)
    assert out["used"]["significant"] and out["used"]["difference"] == pytest.approx(2.0 * np.sqrt(2), rel=0.05)
    assert out["unused"]["difference"] == 0 and not out["unused"]["significant"]


def test_interval_scale_calibrates_each_snr_bin():
    gen = np.random.default_rng(4)
    snr = gen.uniform(3, 10, 40_000)
    true_sigma = 1.0 / snr                           # errors shrink with SNR ...
    residual = true_sigma * gen.normal(size=snr.size)
    claimed = np.full(snr.size, 0.2)                 # ... the model claims one sigma for all
    scale = models.IntervalScale(n_bins=8).fit(residual[:20_000], claimed[:20_000], snr[:20_000])
    calibrated = scale(claimed[20_000:], snr[20_000:])
    cov = scores.coverage(np.zeros(20_000), calibrated, residual[20_000:], snr[20_000:])
    for key, value in cov.items():
        assert value == pytest.approx(0.6827, abs=0.03), key
    before = scores.coverage(np.zeros(20_000), claimed[20_000:], residual[20_000:], snr[20_000:])
    assert before["[3, 5)"] < 0.65 and before["[8, 10]"] > 0.9


def test_coverage_intervals_hold_68_percent_and_widen_with_galaxy_correlation():
    gen, galaxy, true = _rows(n_galaxies=40, per=200)
    snr = np.repeat(gen.uniform(3, 10, 40), 200)
    predicted = true + gen.normal(size=true.size)
    right = scores.coverage_intervals(predicted, np.ones(true.size), true, snr, galaxy, rng=2)
    for fraction, low, high in right.values():
        assert low <= 0.6827 <= high and low <= fraction <= high
    narrow = scores.coverage_intervals(predicted, np.full(true.size, 0.5), true, snr, galaxy, rng=2)
    assert narrow["all"][2] < 0.6827 and narrow["all"][0] == pytest.approx(0.383, abs=0.02)   # 2 Phi(0.5) - 1
    # errors shared by a galaxy's pixels: each galaxy covers all or nothing, and the interval
    # is that of 40 draws, not of 8000
    shared = true + np.repeat(gen.normal(size=40), 200)
    fraction, low, high = scores.coverage_intervals(shared, np.ones(true.size), true, snr, galaxy, rng=2)["all"]
    binomial = 2 * 1.96 * np.sqrt(0.68 * 0.32 / 40)
    assert high - low == pytest.approx(binomial, rel=0.3)
    with pytest.raises(ValueError, match="n_boot"):
        scores.coverage_intervals(predicted, np.ones(true.size), true, snr, galaxy, n_boot=10)
