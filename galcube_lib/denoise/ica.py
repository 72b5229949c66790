"""ICA denoising: FastICA sources ranked by how much of their map lies on the source."""
from __future__ import annotations

import numpy as np

from galcube_lib._util import rng as _rng
from galcube_lib._util import checks as check
from galcube_lib.denoise._selection import (check_count, choose_count, matrix_size, source_aperture, to_cube, to_matrix)

#: independent components separated by default
N_SOURCES = 10


def ica(data: np.ndarray, *, beam_fwhm_px=(4.0, 4.0), n_components: int | None = None,
        n_sources: int | None = None, aperture=None, max_iter: int = 1000, tol: float = 1e-2,
        rng=0) -> np.ndarray:
    """Rebuild the cube from the independent components that trace the source.

    FastICA (scikit-learn) separates ``n_sources`` independent components of the standardised
    spaxel spectra. Rebuilding from all of them would only repeat PCA's projection, so the
    components are ranked by how concentrated their spatial maps are in the source aperture
    (mean squared map inside over outside) and the best ``n_components`` are kept, their
    number chosen by the same rule as PCA's when not given.

    Parameters
    ----------
    data : numpy.ndarray
        Finite (v, y, x) cube with at least 2 channels and 2 spaxels with data (not 0).
    beam_fwhm_px : (float, float)
        Beam FWHM (from the cube), used to place the default aperture.
    n_components : int, optional
        Ranked components to keep, in [1, n_sources]; default chosen by the published rule.
    n_sources : int, optional
        Independent components to separate, in [1, n_chan] and fewer than the spaxels with
        data; default 10, or that limit when lower.
    aperture : (y, x) or (v, y, x) bool array, optional
        Source aperture (default as for PCA).
    max_iter : int
        FastICA's largest number of iterations (>= 1).
    tol : float
        FastICA's convergence tolerance (> 0).
    rng : int, None, SeedSequence or Generator
        Seeds FastICA's initial unmixing matrix.

    Returns
    -------
    numpy.ndarray
        float32 denoised cube.

    Notes
    -----
    Unlike gaussian, pca, ist and smooth_clip, the result depends on the order of the channels
    and spaxels: FastICA has no unique solution for Gaussian noise components (on a 16 x 32 x 32
    test cube it did not converge in 1000 iterations), so reversing the channels or flipping
    the image changes which components it finds, by up to 2.6 noise sigma on that cube.
    """
    n_chan, n_spaxels = matrix_size("ica", data)
    n_sources, n_components, max_iter, tol = checked_options(n_chan, n_spaxels, n_sources,
                                                             n_components, max_iter, tol)
    model = fastica_model(n_sources, max_iter, tol, rng)
    matrix, mean, scale = to_matrix(data)
    sources = model.fit_transform(matrix)              # (spaxels, n_sources)
    mixing = model.mixing_                             # (channels, n_sources)
    mask = source_aperture(data, beam_fwhm_px, aperture).ravel()
    power = sources ** 2
    order, explained = rank_sources(power[mask].mean(axis=0), power[~mask].mean(axis=0),
                                    power.sum(axis=0), mixing)

    def reconstruct(k):
        keep = order[:k]
        return to_cube(sources[:, keep] @ mixing[:, keep].T, mean, scale, data.shape)

    if n_components is None:
        n_components = choose_count(reconstruct, n_sources, mask.reshape(data.shape[1:]), explained)
    return reconstruct(n_components)


def checked_options(n_chan: int, n_spaxels: int, n_sources, n_components, max_iter, tol):
    """ICA's options, checked against the size of the spaxel x channel matrix.

    Parameters
    ----------
    n_chan : int
        Channels of the cube.
    n_spaxels : int
        Spaxels with data.
    n_sources : int or None
        Independent components to separate, in [1, min(n_chan, n_spaxels - 1)]; None:
        ``N_SOURCES`` or that limit.
    n_components : int or None
        Ranked components to keep, in [1, n_sources]; None: chosen by the rule.
    max_iter : int
        FastICA's largest number of iterations (>= 1).
    tol : float
        FastICA's convergence tolerance (> 0).

    Returns
    -------
    (int, int or None, int, float)
        ``n_sources``, ``n_components``, ``max_iter``, ``tol``.
    """
    n_sources = check_count("n_sources", n_sources, min(n_chan, n_spaxels - 1),
                            f"the cube's {n_chan} channels and {n_spaxels} spaxels with data",
                            N_SOURCES)
    n_components = check_count("n_components", n_components, n_sources,
                               f"the n_sources={n_sources} separated components")
    max_iter = check.integer("max_iter", max_iter, 1)
    tol = check.number("tol", tol, 0.0, None, lo_open=True)
    return n_sources, n_components, max_iter, tol


def fastica_model(n_sources: int, max_iter: int, tol: float, rng):
    """The FastICA model (not fitted) that :func:`ica` fits to the standardised spectra.

    Parameters
    ----------
    n_sources : int
        Independent components to separate.
    max_iter : int
        FastICA's largest number of iterations.
    tol : float
        FastICA's convergence tolerance.
    rng : int, None, SeedSequence or Generator
        Seeds FastICA's initial unmixing matrix.

    Returns
    -------
    sklearn.decomposition.FastICA
        The model, with unit-variance whitening.
    """
    gen, _ = _rng.generator(rng)
    from sklearn.decomposition import FastICA  # slow to import: after the checks (rng's too)

    return FastICA(n_components=n_sources, whiten="unit-variance", max_iter=max_iter, tol=tol,
                   random_state=int(gen.integers(2 ** 31)))


def rank_sources(power_inside, power_outside, power_total, mixing):
    """Rank the independent components by how concentrated their maps are in the aperture.

    Parameters
    ----------
    power_inside, power_outside : numpy.ndarray
        Each component's mean squared source value over the spaxels inside and outside the
        aperture, (n_sources,).
    power_total : numpy.ndarray
        Its sum of squared source values over all spaxels, (n_sources,).
    mixing : numpy.ndarray
        The mixing matrix, (channels, n_sources).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The components' order, most concentrated first, and the fraction of the energy each
        holds in that order (for the rule's fallback).
    """
    concentration = power_inside / np.maximum(power_outside, 1e-30)
    order = np.argsort(-concentration)
    energy = power_total * (mixing ** 2).sum(axis=0)
    return order, energy[order] / energy.sum()
