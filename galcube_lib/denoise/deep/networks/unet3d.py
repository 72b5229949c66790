"""The 3D U-Net of the published benchmark (Lahiry et al. 2026).

Four levels down and four up: at each level two 3x3x3 convolutions with reflect padding, each
followed by LeakyReLU; average pooling on the way down, transposed convolutions on the way up,
skips concatenated. Each axis of the input is padded (reflect) to a multiple of 16, and to at
least 32 so that the bottleneck keeps two voxels to reflect; the output is cropped back, so any
cube size goes through.

:class:`UNet3DBlend` is the weighted mean of several such networks (a blend card,
:mod:`galcube_lib.denoise.deep.weights`).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LEVELS = 4
#: every axis is padded to a multiple of this (2 ** LEVELS) and to at least 2 * MULTIPLE
MULTIPLE = 2 ** LEVELS


def _block(c_in: int, c_out: int, dropout: float) -> nn.Sequential:
    layers = [nn.Conv3d(c_in, c_out, 3, padding=1, padding_mode="reflect"), nn.LeakyReLU(0.1),
              nn.Conv3d(c_out, c_out, 3, padding=1, padding_mode="reflect"), nn.LeakyReLU(0.1)]
    if dropout:
        layers.append(nn.Dropout3d(dropout))
    return nn.Sequential(*layers)


class UNet3D(nn.Module):
    """3D U-Net mapping a (batch, in_channels, v, y, x) input to a (batch, 1, v, y, x) cube.

    Parameters
    ----------
    width : int
        Base width f: the levels have f, 2f, 4f, 8f channels and the bottleneck 16f.
    dropout : float
        Channel dropout after each block of the decoder and bottleneck (0 disables it); kept
        active at inference for Monte-Carlo dropout uncertainty.
    in_channels : int
        Input channels: 1 (the noisy cube) or 2 (the noisy cube and its noise level map,
        broadcast along the spectrum; :func:`galcube_lib.denoise.deep.unet.network_input`).
    """

    def __init__(self, width: int = 16, dropout: float = 0.0, in_channels: int = 1):
        super().__init__()
        if not (isinstance(width, int) and width >= 1):
            raise ValueError(f"width must be an integer >= 1, got {width!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if in_channels not in (1, 2):
            raise ValueError(f"in_channels must be 1 or 2, got {in_channels!r}")
        self.width, self.dropout, self.in_channels = width, dropout, in_channels
        widths = [width * 2 ** k for k in range(LEVELS + 1)]
        self.down = nn.ModuleList(_block(c_in, c_out, 0.0)
                                  for c_in, c_out in zip([in_channels] + widths[:-2], widths[:-1]))
        self.bottom = _block(widths[-2], widths[-1], dropout)
        self.up = nn.ModuleList(nn.ConvTranspose3d(widths[k + 1], widths[k], 2, stride=2)
                                for k in reversed(range(LEVELS)))
        self.decode = nn.ModuleList(_block(2 * widths[k], widths[k], dropout)
                                    for k in reversed(range(LEVELS)))
        self.head = nn.Conv3d(width, 1, 1)

    def config(self) -> dict:
        """The constructor arguments (stored with checkpoints).

        Returns
        -------
        dict
            ``width``, ``dropout`` and ``in_channels``: ``UNet3D(**config)`` rebuilds the
            network.
        """
        return {"width": self.width, "dropout": self.dropout, "in_channels": self.in_channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a batch of cubes.

        Parameters
        ----------
        x : torch.Tensor
            (batch, in_channels, v, y, x) inputs, any size, normalised as in training.

        Returns
        -------
        torch.Tensor
            (batch, 1, v, y, x): the cubes padded (reflect) as the module docstring says,
            passed through the network and cropped back.
        """
        shape = x.shape[-3:]
        pad = []
        for n in reversed(shape):
            pad += [0, max(2 * MULTIPLE, n + -n % MULTIPLE) - n]
        x = _pad(x, pad)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.avg_pool3d(x, 2)
        x = self.bottom(x)
        for up, block, skip in zip(self.up, self.decode, reversed(skips)):
            x = block(torch.cat([up(x), skip], dim=1))
        x = self.head(x)
        return x[..., :shape[0], :shape[1], :shape[2]]


def _pad(x: torch.Tensor, pad: list[int]) -> torch.Tensor:
    """Reflect padding at the far end of each axis; axes shorter than their padding are
    padded in several reflections (reflect needs the pad to be smaller than the axis)."""
    while any(pad):
        step = []
        for k, p in enumerate(pad):
            n = x.shape[-1 - k // 2]
            step.append(min(p, n - 1) if n > 1 else 0)
        if not any(step):  # length-1 axes: nothing to reflect, repeat the edge
            return F.pad(x, pad, mode="replicate")
        x = F.pad(x, step, mode="reflect")
        pad = [p - s for p, s in zip(pad, step)]
    return x


class UNet3DBlend(nn.Module):
    """A weighted mean of U-Nets' outputs (an ensemble of networks trained on different noise).

    Each member reads the first ``in_channels`` channels of the input, so a member told the
    noise level (2 channels) and one that is not (1 channel) blend on the 2-channel input of
    :func:`galcube_lib.denoise.deep.unet.network_input`.

    Parameters
    ----------
    members : list of dict
        Each member's :class:`UNet3D` configuration (``UNet3D.config()``).
    shares : list of float
        Each member's weight in the mean: positive, summing to 1.
    """

    def __init__(self, members: list, shares: list):
        super().__init__()
        shares = [float(s) for s in shares]
        if len(members) < 2 or len(shares) != len(members):
            raise ValueError(f"a blend needs at least 2 members and one share each, got "
                             f"{len(members)} members and {len(shares)} shares")
        if min(shares) <= 0 or abs(sum(shares) - 1) > 1e-6:
            raise ValueError(f"shares must be positive and sum to 1, got {shares}")
        self.members = nn.ModuleList(UNet3D(**config) for config in members)
        self.shares = shares
        self.in_channels = max(member.in_channels for member in self.members)

    def config(self) -> dict:
        """The constructor arguments (stored with the weights).

        Returns
        -------
        dict
            ``members`` (each member's configuration) and ``shares``.
        """
        return {"members": [member.config() for member in self.members], "shares": self.shares}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The members' outputs, weighted by their shares.

        Parameters
        ----------
        x : torch.Tensor
            (batch, in_channels, v, y, x) inputs.

        Returns
        -------
        torch.Tensor
            (batch, 1, v, y, x).
        """
        return sum(share * member(x[:, :member.in_channels])
                   for share, member in zip(self.shares, self.members))
