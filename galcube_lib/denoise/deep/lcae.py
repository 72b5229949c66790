"""LCAE: a locally connected autoencoder trained on the cube itself (Einig et al. 2023,
A&A 677, A158).

The network (:class:`galcube_lib.denoise.deep.networks.lcae.LocallyConnectedAE`) compresses every spectrum
window by window through a narrow code, so it can only reproduce what recurs across the cube's
spectra. It is trained on the cube's own noisy spectra, without any clean target, with the
segmentation-prior loss of Einig et al.: inside a source mask M (SoFiA-style smooth-and-clip,
:func:`galcube_lib.smooth_clip_mask` with its default settings) the output is fitted to the
data, outside it is pulled to zero,

    loss = mean_M ((out - x) / sigma)^2 + lam * mean_notM |out / sigma|^q,

with sigma the cube's noise level (:func:`galcube_lib.denoise.deep.weights.normalise`). The
network works on ``x / sigma`` and its output is multiplied back by sigma, so
``f(a x) = a f(x)`` up to the rounding of the training.
"""
from __future__ import annotations

import numpy as np

from galcube_lib._util import rng as _rng
from galcube_lib._util import checks as check


def lcae(data: np.ndarray, *, beam_fwhm_px, beam_pa_deg: float = 0.0, window: int = 8,
         stride: int = 4, hidden: int = 32, code: int = 2, epochs: int = 30, lr: float = 3e-3,
         batch_size: int = 512, q: float = 1.0, lam: float = 1.0, rng=0,
         progress: bool = False) -> np.ndarray:
    """Denoise a cube with a locally connected autoencoder trained on its own spectra.

    Parameters
    ----------
    data : numpy.ndarray
        Finite (v, y, x) cube with negative noise voxels.
    beam_fwhm_px : float or (float, float)
        Beam FWHM (bmaj, bmin) in pixels, for the source mask.
    beam_pa_deg : float
        Beam position angle (north through east), for the source mask.
    window, stride : int
        Channels per window (>= 1; shortened to the spectrum when longer) and between window
        starts (1 <= stride <= window).
    hidden, code : int
        Widths of every window's hidden layers and of its code (>= 1).
    epochs : int
        Passes over all spectra (>= 1).
    lr : float
        Learning rate of Adam, in (0, 1].
    batch_size : int
        Spectra per optimizer step (>= 1).
    q : float
        Exponent of the penalty outside the mask, in [1, 2].
    lam : float
        Weight of the penalty outside the mask (>= 0).
    rng : int, None or numpy Generator
        Seeds the initial weights and the order of the spectra; the global torch and numpy
        random states are left alone.
    progress : bool
        Show a progress bar over the epochs.

    Notes
    -----
    The training runs on one torch thread (the setting is restored afterwards): its layers are
    too small to gain from more, and on a busy 2-core machine 2 threads made it ~50 times slower.

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape.
    """
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"data must be a 3-D (v, y, x) array, got shape {data.shape}")
    options = checked_options(beam_fwhm_px=beam_fwhm_px, window=window, stride=stride,
                              hidden=hidden, code=code, epochs=epochs, lr=lr,
                              batch_size=batch_size, q=q, lam=lam)
    progress = check.boolean("progress", progress)
    gen, _ = _rng.generator(rng)
    import torch  # slow to import: after the checks

    from galcube_lib.denoise.deep.weights import normalise
    from galcube_lib.denoise.smooth_clip import smooth_clip_mask

    s = normalise(data)
    x = (data / s).astype(np.float32)
    mask = smooth_clip_mask(x, beam_fwhm_px=options.pop("beam_fwhm_px"),
                            beam_pa_deg=beam_pa_deg)
    nv, ny, nx = x.shape
    spectra = torch.from_numpy(np.ascontiguousarray(x.reshape(nv, -1).T))
    inside = torch.from_numpy(np.ascontiguousarray(mask.reshape(nv, -1).T))
    model = train_autoencoder(spectra, inside, seed=int(gen.integers(2 ** 63)),
                              progress=progress, **options)
    out = apply_autoencoder(model, spectra)
    return (out.T.reshape(nv, ny, nx) * s).astype(np.float32)


def checked_options(*, beam_fwhm_px, window, stride, hidden, code, epochs, lr, batch_size, q,
                    lam) -> dict:
    """lcae's options, checked (a ValueError names a bad one).

    Parameters
    ----------
    beam_fwhm_px, window, stride, hidden, code, epochs, lr, batch_size, q, lam
        As for :func:`lcae`.

    Returns
    -------
    dict
        The options by name, the beam as (bmaj, bmin).
    """
    return {"beam_fwhm_px": check.beam_fwhm("beam_fwhm_px", beam_fwhm_px),
            "window": check.integer("window", window, 1),
            "stride": check.integer("stride", stride, 1, window),
            "hidden": check.integer("hidden", hidden, 1),
            "code": check.integer("code", code, 1),
            "epochs": check.integer("epochs", epochs, 1),
            "lr": check.number("lr", lr, 0.0, 1.0, lo_open=True),
            "batch_size": check.integer("batch_size", batch_size, 1),
            "q": check.number("q", q, 1.0, 2.0),
            "lam": check.number("lam", lam, 0.0)}


def train_autoencoder(spectra, inside, *, window, stride, hidden, code, epochs, lr, batch_size,
                      q, lam, seed, progress):
    """The autoencoder trained on ``spectra`` with the source mask ``inside``, on one torch
    thread (restored after).

    Parameters
    ----------
    spectra : torch.Tensor
        float32 (n, n_chan) spectra in noise units.
    inside : torch.Tensor
        bool (n, n_chan): the source mask.
    window, stride, hidden, code, epochs, lr, batch_size, q, lam
        As for :func:`lcae`.
    seed : int
        Seed of the initial weights and of the order of the spectra.
    progress : bool
        Show a progress bar over the epochs.

    Returns
    -------
    LocallyConnectedAE
        The trained network.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(spectra, inside, window, stride, hidden, code, epochs, lr, batch_size, q,
                      lam, seed, progress)
    finally:
        torch.set_num_threads(threads)


def apply_autoencoder(model, spectra) -> np.ndarray:
    """The autoencoder's output for ``spectra``.

    Parameters
    ----------
    model : LocallyConnectedAE
        The trained network.
    spectra : torch.Tensor
        float32 (n, n_chan) spectra in noise units.

    Returns
    -------
    numpy.ndarray
        float32 (n, n_chan).
    """
    import torch

    with torch.inference_mode():
        return torch.cat([model(b) for b in spectra.split(8192)]).numpy()


def _train(spectra, inside, window, stride, hidden, code, epochs, lr, batch_size, q, lam, seed,
           progress):
    import torch

    from galcube_lib.denoise.deep.networks.lcae import LocallyConnectedAE

    outside = ~inside
    n_in, n_out = max(1, int(inside.sum())), max(1, int(outside.sum()))
    torch_gen = torch.Generator().manual_seed(seed)
    model = LocallyConnectedAE(spectra.shape[1], window, stride, hidden, code, generator=torch_gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="lcae", unit="epoch")
    n = len(spectra)
    for _ in steps:
        for idx in torch.randperm(n, generator=torch_gen).split(batch_size):
            xb = spectra[idx]
            out = model(xb)
            fit = (((out - xb) ** 2) * inside[idx]).sum() / n_in
            prior = (out.abs() ** q * outside[idx]).sum() / n_out
            loss = (fit + lam * prior) * (n / len(idx))      # the whole cube's loss, on average
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if progress:
            steps.set_postfix(loss=f"{loss.item():.4g}")
    return model
