"""Locally connected autoencoder of spectra (after Einig et al. 2023, A&A 677, A158).

The spectrum is cut into overlapping windows of channels; every window has its own small dense
autoencoder (window -> hidden -> code -> hidden -> window, no weights shared between windows),
and the windows' outputs are added back with a triangular taper, normalised so that the weights
of the windows covering each channel sum to 1. A channel therefore only influences the output
of the windows that contain it.
"""
from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F


def window_starts(n_chan: int, window: int, stride: int) -> list[int]:
    """First channel of every window of a spectrum.

    Parameters
    ----------
    n_chan : int
        Spectrum length in channels, >= 1.
    window : int
        Channels per window, >= 1.
    stride : int
        Channels between window starts, in [1, window].

    Returns
    -------
    list of int
        A start every ``stride`` channels, plus one window flush with the end when the stride
        does not land there; ``[0]`` for a spectrum no longer than ``window``.
    """
    if n_chan <= window:
        return [0]
    starts = list(range(0, n_chan - window + 1, stride))
    if starts[-1] != n_chan - window:
        starts.append(n_chan - window)
    return starts


class LocallyConnectedAE(nn.Module):
    """Maps spectra (batch, n_chan) to spectra of the same shape.

    Parameters
    ----------
    n_chan : int
        Spectrum length.
    window, stride : int
        Channels per window and between window starts (a window longer than the spectrum is
        shortened to it).
    hidden, code : int
        Widths of the hidden layers and of the code of every window's autoencoder.
    generator : torch.Generator, optional
        Source of the initial weights (uniform in +-1/sqrt(fan_in), as ``nn.Linear``); the
        global torch generator is not used when one is given.
    """

    def __init__(self, n_chan: int, window: int = 8, stride: int = 4, hidden: int = 16,
                 code: int = 4, generator: torch.Generator | None = None):
        super().__init__()
        if not 1 <= stride <= window:
            raise ValueError(f"stride={stride} must be in [1, window={window}] for the windows "
                             "to cover every channel")
        self.n_chan, self.stride, self.hidden, self.code = n_chan, stride, hidden, code
        self.window = min(window, n_chan)
        starts = window_starts(n_chan, self.window, stride)
        index = torch.tensor(starts)[:, None] + torch.arange(self.window)
        self.register_buffer("index", index, persistent=False)           # (n_windows, window)
        taper = torch.minimum(torch.arange(1, self.window + 1),
                              torch.arange(self.window, 0, -1)).float()
        norm = torch.zeros(n_chan).index_add_(0, index.flatten(), taper.repeat(len(starts)))
        self.register_buffer("taper", taper / norm[index], persistent=False)
        sizes = [self.window, hidden, code, hidden, self.window]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)
            w = torch.rand(len(starts), fan_in, fan_out, generator=generator) * 2 - 1
            b = torch.rand(len(starts), fan_out, generator=generator) * 2 - 1
            self.weights.append(nn.Parameter(w * bound))
            self.biases.append(nn.Parameter(b * bound))

    @property
    def n_windows(self) -> int:
        """Number of windows (each with its own autoencoder)."""
        return len(self.index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a batch of spectra.

        Parameters
        ----------
        x : torch.Tensor
            (batch, n_chan) spectra, normalised as in training.

        Returns
        -------
        torch.Tensor
            (batch, n_chan): the windows' outputs added with the normalised taper.
        """
        h = x[:, self.index]                                              # (batch, windows, window)
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.einsum("bwi,wio->bwo", h, w) + b
            if k != last and k != 1:                                      # the code is linear
                h = F.elu(h)
        out = x.new_zeros(x.shape)
        return out.index_add_(1, self.index.flatten(), (h * self.taper).flatten(1))
