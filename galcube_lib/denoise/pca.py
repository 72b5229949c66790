"""PCA denoising: keep the leading principal components of the spaxel spectra."""
from __future__ import annotations

import numpy as np

from galcube_lib.denoise._selection import (check_count, choose_count, matrix_size, source_aperture, to_cube, to_matrix)

#: largest component count the rule considers by default
MAX_COMPONENTS = 15


def pca(data: np.ndarray, *, beam_fwhm_px=(4.0, 4.0), n_components: int | None = None,
        max_components: int | None = None, aperture=None) -> np.ndarray:
    """Project every spaxel's spectrum onto the leading principal components.

    The cube is reshaped to spaxels x channels with every channel standardised (zero mean, and
    in units of its own noise, 1.4826 x MAD, so that a bright line does not down-weight the
    channels it lies in), decomposed by SVD, and rebuilt from ``n_components`` components.

    Parameters
    ----------
    data : numpy.ndarray
        Finite (v, y, x) cube with at least 2 channels and 2 spaxels with data (not 0).
    beam_fwhm_px : (float, float)
        Beam FWHM (from the cube), used to place the default aperture.
    n_components : int, optional
        Components to keep, in [1, n_chan]. By default the published rule chooses: the count
        where the aperture flux has levelled off with the lowest scatter outside the aperture,
        else enough components for 70% of the variance.
    max_components : int, optional
        Largest count the rule considers, in [1, n_chan]; default 15, or n_chan when fewer.
    aperture : (y, x) or (v, y, x) bool array, optional
        Source aperture for the rule; default a disk of 3 beam FWHM around the brightest
        point of the beam-smoothed moment-0 map.

    Returns
    -------
    numpy.ndarray
        float32 denoised cube.
    """
    n_chan, _ = matrix_size("pca", data)
    n_components, max_components = checked_counts(n_chan, n_components, max_components)
    matrix, mean, scale = to_matrix(data)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)

    def reconstruct(k):
        return to_cube((u[:, :k] * s[:k]) @ vt[:k], mean, scale, data.shape)

    if n_components is None:
        explained = s ** 2 / np.sum(s ** 2)
        mask = source_aperture(data, beam_fwhm_px, aperture)
        n_components = choose_count(reconstruct, max_components, mask, explained)
    return reconstruct(n_components)


def checked_counts(n_chan: int, n_components, max_components):
    """PCA's component counts, checked against the channels.

    Parameters
    ----------
    n_chan : int
        Channels of the cube.
    n_components : int or None
        Components to keep, in [1, n_chan]; None: chosen by the rule.
    max_components : int or None
        Largest count the rule considers, in [1, n_chan]; None: ``MAX_COMPONENTS`` or n_chan.

    Returns
    -------
    (int or None, int)
        ``n_components`` and ``max_components``.
    """
    limit = f"the cube's {n_chan} channels"
    n_components = check_count("n_components", n_components, n_chan, limit)
    max_components = check_count("max_components", max_components, n_chan, limit, MAX_COMPONENTS)
    return n_components, max_components
