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
    n_sources = check_count("n_sources", n_sources, min(n_chan, n_spaxels - 1),
                            f"the cube's {n_chan} channels and {n_spaxels} spaxels with data",
                            N_SOURCES)
    n_components = check_count("n_components", n_components, n_sources,
                               f"the n_sources={n_sources} separated components")
    max_iter = check.integer("max_iter", max_iter, 1)
    tol = check.number("tol", tol, 0.0, None, lo_open=True)
    gen, _ = _rng.generator(rng)
    from sklearn.decomposition import FastICA  # slow to import: after the checks

    matrix, mean, scale = to_matrix(data)
    model = FastICA(n_components=n_sources, whiten="unit-variance", max_iter=max_iter, tol=tol,
                    random_state=int(gen.integers(2 ** 31)))
    sources = model.fit_transform(matrix)              # (spaxels, n_sources)
    mixing = model.mixing_                             # (channels, n_sources)
    mask = source_aperture(data, beam_fwhm_px, aperture).ravel()
    power = sources ** 2
    concentration = power[mask].mean(axis=0) / np.maximum(power[~mask].mean(axis=0), 1e-30)
    order = np.argsort(-concentration)

    def reconstruct(k):
        keep = order[:k]
        return to_cube(sources[:, keep] @ mixing[:, keep].T, mean, scale, data.shape)

    if n_components is None:
        energy = (sources ** 2).sum(axis=0) * (mixing ** 2).sum(axis=0)
        explained = energy[order] / energy.sum()
        n_components = choose_count(reconstruct, n_sources, mask.reshape(data.shape[1:]), explained)
    return reconstruct(n_components)
