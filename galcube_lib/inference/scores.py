"""Scores of property maps: scatter in dex, paired bootstrap over galaxies, coverage, and
permutation importance with bootstrap intervals."""
from __future__ import annotations

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib._util import rng as _rng


def scatter_dex(predicted, true) -> float:
    """Root-mean-square difference of log10 maps, in dex.

    Parameters
    ----------
    predicted, true : numpy.ndarray
        log10 values per row.

    Returns
    -------
    float
        sqrt(mean((predicted - true)^2)).
    """
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(true)) ** 2)))


def _per_galaxy(sq_errors, galaxy):
    ids, index = np.unique(galaxy, return_inverse=True)
    sums = np.stack([np.bincount(index, weights=e, minlength=len(ids)) for e in sq_errors])
    return sums, np.bincount(index, minlength=len(ids))


def _resampled_galaxies(gen, n_galaxies: int, n_boot: int) -> np.ndarray:
    """(n_boot, n_galaxies) counts: how often each galaxy is drawn in each bootstrap sample."""
    return gen.multinomial(n_galaxies, np.full(n_galaxies, 1.0 / n_galaxies), size=n_boot)


def bootstrap_difference(pred_a, pred_b, true, galaxy, n_boot: int = 2000, rng=0) -> dict:
    """Scatter of A minus scatter of B, with a bootstrap over galaxies (both on the same draws).

    Parameters
    ----------
    pred_a, pred_b : numpy.ndarray
        Two methods' log10 predictions per row.
    true : numpy.ndarray
        The true log10 values.
    galaxy : numpy.ndarray
        The galaxy of each row: whole galaxies are resampled with replacement.
    n_boot : int
        Bootstrap draws (default 2000).
    rng : int, None, SeedSequence or Generator
        Randomness.

    Returns
    -------
    dict
        ``difference`` (scatter_dex(A) - scatter_dex(B)), ``low`` and ``high`` (its 2.5 and
        97.5 percentiles), ``significant`` (the interval excludes 0).
    """
    gen, _ = _rng.generator(rng)
    sums, counts = _per_galaxy([(pred_a - true) ** 2, (pred_b - true) ** 2], galaxy)
    weights = _resampled_galaxies(gen, len(counts), n_boot)
    n = weights @ counts
    draws = np.sqrt(weights @ sums[0] / n) - np.sqrt(weights @ sums[1] / n)
    low, high = np.percentile(draws, [2.5, 97.5])
    diff = scatter_dex(pred_a, true) - scatter_dex(pred_b, true)
    return {"difference": diff, "low": float(low), "high": float(high),
            "significant": bool(low > 0 or high < 0)}


def coverage(predicted, sigma, true, peak_snr, bins=(3, 5, 8, 10)) -> dict:
    """Fraction of rows whose true value lies within predicted +- sigma, per peak-SNR bin.

    Parameters
    ----------
    predicted, sigma, true : numpy.ndarray
        Per row.
    peak_snr : numpy.ndarray
        Peak SNR of each row's cube.
    bins : sequence of float
        Bin edges (a row at an edge falls in the bin above it; the last edge is included).

    Returns
    -------
    dict
        ``"all"`` and ``"(lo, hi]"``-style keys -> fraction covered (NaN for an empty bin).
    """
    inside = np.abs(np.asarray(predicted) - true) <= sigma
    return {key: float(inside[sel].mean()) if sel.any() else float("nan") for key, sel in _bins(peak_snr, bins)}


def _bins(peak_snr, bins):
    """("all", every row), then ("[lo, hi)", rows in the bin) per bin; the last bin is closed."""
    peak_snr = np.asarray(peak_snr)
    yield "all", np.ones(peak_snr.shape, bool)
    for lo, hi in zip(bins[:-1], bins[1:]):
        last = hi == bins[-1]
        yield f"[{lo}, {hi}{']' if last else ')'}", (peak_snr >= lo) & ((peak_snr < hi) | last & (peak_snr <= hi))


def coverage_intervals(predicted, sigma, true, peak_snr, galaxy, bins=(3, 5, 8, 10), n_boot: int = 2000,
                       rng=0) -> dict:
    """:func:`coverage` with a bootstrap interval over galaxies: whether a miss of 0.68 is more
    than the sampling spread of a few dozen test galaxies (whose pixels are correlated).

    Parameters
    ----------
    predicted, sigma, true, peak_snr
        As for :func:`coverage`.
    galaxy : numpy.ndarray
        The galaxy of each row: whole galaxies are resampled with replacement, in each bin.
    bins : sequence of float
        As for :func:`coverage`.
    n_boot : int
        Bootstrap draws, >= 100 (default 2000).
    rng : int, None, SeedSequence or Generator
        Randomness.

    Returns
    -------
    dict
        The keys of :func:`coverage` -> (fraction covered, 2.5th, 97.5th percentile); NaNs
        for an empty bin.
    """
    n_boot = check.integer("n_boot", n_boot, 100, None)
    gen, _ = _rng.generator(rng)
    inside = (np.abs(np.asarray(predicted) - true) <= sigma).astype(np.float64)
    galaxy = np.asarray(galaxy)
    out = {}
    for key, sel in _bins(peak_snr, bins):
        if not sel.any():
            out[key] = (float("nan"),) * 3
            continue
        sums, counts = _per_galaxy([inside[sel]], galaxy[sel])
        weights = _resampled_galaxies(gen, len(counts), n_boot)
        low, high = np.percentile(weights @ sums[0] / (weights @ counts), [2.5, 97.5])
        out[key] = (float(inside[sel].mean()), float(low), float(high))
    return out


def permutation_importance(predict, X, true, galaxy, groups: dict, n_boot: int = 1000, rng=0) -> dict:
    """Increase of the scatter when a group of feature columns is shuffled across rows.

    Parameters
    ----------
    predict : callable
        ``predict(X) -> (mean, sigma)``.
    X : numpy.ndarray
        (rows, features) of the test set.
    true : numpy.ndarray
        True log10 values.
    galaxy : numpy.ndarray
        Galaxy per row, for the bootstrap.
    groups : dict
        Name -> column indices shuffled together (one permutation of the rows).
    n_boot : int
        Bootstrap draws over galaxies.
    rng : int, None, SeedSequence or Generator
        Randomness.

    Returns
    -------
    dict
        Group name -> :func:`bootstrap_difference` of the shuffled against the intact model
        (a positive ``difference`` means the group carries information).
    """
    gen, _ = _rng.generator(rng)
    base = predict(X)[0]
    out = {}
    for name, columns in groups.items():
        shuffled = X.copy()
        shuffled[:, columns] = X[gen.permutation(len(X))][:, columns]
        out[name] = bootstrap_difference(predict(shuffled)[0], base, true, galaxy, n_boot=n_boot, rng=gen)
    return out
