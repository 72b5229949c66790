"""1D CNN-Transformer for single spectra (after the EUT denoiser, arXiv 2605.04434).

A convolutional encoder (1 -> c -> 2c -> 4c channels, kernel 3, GELU, average pooling by 2
between stages) extracts local line shapes; transformer encoder blocks with a sinusoidal
positional encoding at the 4c-channel bottleneck (a quarter of the spectral resolution) relate
distant channels; a decoder upsamples back, concatenating the encoder features of each stage
(U-Net skips), to one output channel. Spectra are padded (replicate) to a multiple of 4 and
cropped back, so any length goes through.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

#: spectra are padded to a multiple of this (two poolings by 2)
MULTIPLE = 4


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, 3, padding=1, padding_mode="replicate"), nn.GELU())


def sinusoidal_encoding(length: int, dim: int) -> torch.Tensor:
    """The sinusoidal positional encoding of Vaswani et al. (2017).

    Parameters
    ----------
    length : int
        Number of positions (tokens).
    dim : int
        Encoding width, even.

    Returns
    -------
    torch.Tensor
        float32 (length, dim): sin in the even columns, cos in the odd ones, wavelengths
        from 2 pi to 2 pi 10^4.
    """
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(1e4) / dim))
    enc = torch.zeros(length, dim)
    enc[:, 0::2] = torch.sin(pos * freq)
    enc[:, 1::2] = torch.cos(pos * freq)
    return enc


class SpectralTransformer(nn.Module):
    """Maps a batch of spectra (batch, 1, n_chan) to denoised spectra of the same shape.

    Parameters
    ----------
    width : int
        Channels c of the first stage; the stages have c, 2c and 4c (the transformer width).
    depth : int
        Transformer encoder blocks at the bottleneck.
    heads : int
        Attention heads (must divide 4c).
    ff : int
        Hidden width of the transformer's feed-forward layers.
    """

    def __init__(self, width: int = 96, depth: int = 2, heads: int = 8, ff: int = 768):
        super().__init__()
        if 4 * width % heads:
            raise ValueError(f"heads={heads} must divide the bottleneck width 4 * {width}")
        self.width, self.depth, self.heads, self.ff = width, depth, heads, ff
        c1, c2, c3 = width, 2 * width, 4 * width
        self.enc1 = nn.Sequential(_conv(1, c1), _conv(c1, c1))
        self.enc2 = nn.Sequential(_conv(c1, c2), _conv(c2, c2))
        self.enc3 = _conv(c2, c3)
        layer = nn.TransformerEncoderLayer(c3, heads, ff, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.up2 = _conv(c3, c2)
        self.dec2 = _conv(2 * c2, c2)
        self.up1 = _conv(c2, c1)
        self.dec1 = _conv(2 * c1, c1)
        self.head = nn.Conv1d(c1, 1, 1)

    def config(self) -> dict:
        """The constructor arguments (stored with checkpoints and model cards).

        Returns
        -------
        dict
            ``width``, ``depth``, ``heads`` and ``ff``: ``SpectralTransformer(**config)``
            rebuilds the network.
        """
        return {"width": self.width, "depth": self.depth, "heads": self.heads, "ff": self.ff}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a batch of spectra.

        Parameters
        ----------
        x : torch.Tensor
            (batch, 1, n_chan) spectra, any length, normalised as in training.

        Returns
        -------
        torch.Tensor
            (batch, 1, n_chan) denoised spectra.
        """
        n = x.shape[-1]
        x = F.pad(x, (0, -n % MULTIPLE), mode="replicate")
        s1 = self.enc1(x)
        s2 = self.enc2(F.avg_pool1d(s1, 2))
        h = self.enc3(F.avg_pool1d(s2, 2)).transpose(1, 2)          # (batch, tokens, 4c)
        h = h + sinusoidal_encoding(h.shape[1], h.shape[2]).to(h)
        h = self.transformer(h).transpose(1, 2)
        h = self.dec2(torch.cat([self.up2(F.interpolate(h, scale_factor=2.0)), s2], dim=1))
        h = self.dec1(torch.cat([self.up1(F.interpolate(h, scale_factor=2.0)), s1], dim=1))
        return self.head(h)[..., :n]
