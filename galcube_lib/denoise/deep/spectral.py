"""Spaxel-by-spaxel denoising with a 1D CNN-Transformer (after EUT, arXiv 2605.04434).

Every spectrum of the cube goes through :class:`galcube_lib.denoise.deep.networks.spectral.SpectralTransformer`
on its own, so the method knows nothing of the beam or of neighbouring spaxels. As for the U-Net,
the cube is divided by its noise level ``s`` (from the negative voxels of the whole cube), the
network returns clean spectra in those units and the output is multiplied back by ``s``: the
method is scale-equivariant, ``f(a x) = a f(x)``. The shipped weights ``data/models/spectral.pt``
are trained by :mod:`galcube_lib.training.spectral`; its model card holds the figures measured on
held-out cubes.

The network is not exactly symmetric under a reversal of the spectrum: half of its training
spectra are reversed, so neither direction is preferred on average, but reversing the channels
of a 16 x 32 x 32 test cube changed the result by up to 1.8 noise sigma (flips of the image
change nothing: each spectrum is denoised on its own).
"""
from __future__ import annotations

import os

import numpy as np

from galcube_lib.denoise.deep import weights as _models
from galcube_lib._util import checks as check


def load_model(weights="spectral"):
    """The spectral network, in evaluation mode on the CPU.

    Parameters
    ----------
    weights : str or os.PathLike
        A shipped model name or a ``.pt`` file (weights or training checkpoint).

    Returns
    -------
    SpectralTransformer
        The network with the weights loaded (``load_network``), in evaluation mode.
    """
    from galcube_lib.denoise.deep.networks.spectral import SpectralTransformer

    return _models.load_network(SpectralTransformer, weights)[0].eval()


def denoise_spectra(model, spectra: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Run ``model`` on spectra already in noise units.

    Parameters
    ----------
    model : SpectralTransformer
        The network, as :func:`load_model` gives it.
    spectra : numpy.ndarray
        (n_spectra, n_chan) array, divided by the cube's noise level.
    batch_size : int
        Spectra per forward pass.

    Returns
    -------
    numpy.ndarray
        float32 (n_spectra, n_chan), in the same units.
    """
    import torch

    spectra = np.asarray(spectra, dtype=np.float32)
    out = np.empty_like(spectra)
    with torch.inference_mode():
        for start in range(0, len(spectra), batch_size):
            x = torch.from_numpy(spectra[start:start + batch_size])[:, None]
            out[start:start + batch_size] = model(x)[:, 0].numpy()
    return out


def spectral(data: np.ndarray, *, weights: str | os.PathLike = "spectral",
             batch_size: int = 4096) -> np.ndarray:
    """Denoise every spectrum of a cube with the pretrained 1D CNN-Transformer.

    Parameters
    ----------
    data : numpy.ndarray
        Finite (v, y, x) cube with negative noise voxels (its noise level is measured from them).
    weights : str or os.PathLike
        A shipped model name ("spectral") or the path of a ``.pt`` file.
    batch_size : int
        Spectra per forward pass (>= 1); only memory and speed depend on it.

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape.
    """
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"data must be a 3-D (v, y, x) array, got shape {data.shape}")
    batch_size = check.integer("batch_size", batch_size, 1)
    weights = _models.weights_path(weights)
    s = _models.normalise(data)
    nv, ny, nx = data.shape
    spectra = (data.reshape(nv, -1).T / s).astype(np.float32)
    out = denoise_spectra(load_model(weights), spectra, batch_size)
    return (out.T.reshape(nv, ny, nx) * s).astype(np.float32)
