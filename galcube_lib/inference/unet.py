"""A residual U-Net from feature maps (and optionally the cube) to a log Sigma_SFR map with a
per-pixel sigma, trained by the project's one training loop (``training.loop.fit``).

The input maps are the per-spaxel features of ``features.GROUPS`` as images. With
``spectral=True`` a 3D encoder also reads the cube (over its noise) and averages its channels
into feature maps, so the network sees the whole spectral axis. The output is a mean and a log
variance per pixel (trained with the beta-NLL of a Gaussian on the scored spaxels);
the mean adds a linear map of the inputs (a 1x1 convolution) to the U-Net's residual.
Training rotates and flips each sample by a random multiple of 90 degrees.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from galcube_lib._util import checks as check
from galcube_lib.inference.features import GROUPS, feature_maps, scored_spaxels
from galcube_lib.training import loop

MAP_NAMES = GROUPS["spatial"] + GROUPS["kinematic"]
CUBE_MAPS = 16   # maps the 3D encoder adds


@dataclass(frozen=True)
class PropertyUNetConfig:
    """Training of a :class:`PropertyUNet` (the fields ``training.loop.fit`` reads, and more).

    Parameters
    ----------
    steps : int
        Optimiser steps, >= 1 (default 1500).
    lr : float
        Peak learning rate (default 2e-3).
    batch_size : int
        Samples per step (default 16).
    width : int
        Channels of the first level (default 24).
    spectral : bool
        Read the cube with the 3D encoder too (default False).
    val_every : int
        Steps between validations (default 250).
    seed : int
        Seed of the weights and of the batches.
    """

    steps: int = 1500
    lr: float = 2e-3
    batch_size: int = 16
    width: int = 24
    spectral: bool = False
    val_every: int = 250
    seed: int = 0


class _Residual(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(4, c_out), nn.GELU(),
                                  nn.Conv2d(c_out, c_out, 3, padding=1), nn.GroupNorm(4, c_out))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.body(x) + self.skip(x))


class PropertyUNet(nn.Module):
    """Feature maps (B, C, H, W) [and a cube (B, 1, V, H, W)] -> (B, 2, H, W): mean, log variance.

    Parameters
    ----------
    in_maps : int
        Input feature maps.
    width : int
        Channels of the first level; two levels below it have 2x and 4x.
    n_chan : int
        Channels of the cubes it reads through a 3D encoder; 0 (default): maps only.
    """

    def __init__(self, in_maps: int, width: int = 24, n_chan: int = 0):
        super().__init__()
        self.args = {"in_maps": in_maps, "width": width, "n_chan": n_chan}
        cube_maps = CUBE_MAPS if n_chan else 0
        if n_chan:
            # two spectral halvings, the second with 3x3 spatial context; the reduced spectral
            # axis becomes channels, so velocity is kept
            self.encoder3d = nn.Sequential(
                nn.Conv3d(1, 8, (5, 1, 1), stride=(2, 1, 1), padding=(2, 0, 0)), nn.GELU(),
                nn.Conv3d(8, 8, 3, stride=(2, 1, 1), padding=1), nn.GELU())
            reduced = -(-(-(-n_chan // 2)) // 2)
            self.squeeze = nn.Sequential(nn.Conv2d(8 * reduced, cube_maps, 1), nn.GELU())
        c = in_maps + cube_maps
        self.register_buffer("x_mean", torch.zeros(in_maps))
        self.register_buffer("x_scale", torch.ones(in_maps))
        self.register_buffer("y_stats", torch.tensor([0.0, 1.0]))
        self.enc1, self.enc2 = _Residual(c, width), _Residual(width, 2 * width)
        self.mid = _Residual(2 * width, 4 * width)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2), _Residual(4 * width, 2 * width)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2), _Residual(2 * width, width)
        self.head = nn.Conv2d(width, 2, 1)
        self.linear = nn.Conv2d(c, 1, 1)

    def config(self) -> dict:
        """The constructor arguments.

        Returns
        -------
        dict
            ``in_maps``, ``width``, ``n_chan``.
        """
        return dict(self.args)

    def forward(self, x, cube=None):
        """Mean and log variance of the standardised target.

        Parameters
        ----------
        x : torch.Tensor
            (B, C, H, W) maps, H and W multiples of 4.
        cube : torch.Tensor, optional
            (B, 1, V, H, W), for a spectral network.

        Returns
        -------
        torch.Tensor
            (B, 2, H, W).
        """
        x = (x - self.x_mean[:, None, None]) / self.x_scale[:, None, None]
        if self.args["n_chan"]:
            f = self.encoder3d(cube)
            x = torch.cat([x, self.squeeze(f.reshape(len(f), -1, *f.shape[-2:]))], dim=1)
        e1 = self.enc1(x)
        e2 = self.enc2(nn.functional.avg_pool2d(e1, 2))
        m = self.mid(nn.functional.avg_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        out = self.head(d1)
        return torch.cat([out[:, :1] + self.linear(x), out[:, 1:]], dim=1)


def _inputs(cube, spectral: bool, noise_sigma=None):
    feats = feature_maps(cube, noise_sigma)
    maps = np.stack([feats[n] for n in MAP_NAMES]).astype(np.float32)
    return maps, (feats["spectrum"][None] if spectral else None), feats["m0_snr"]


def _arrays(pairs, spectral: bool):
    maps, cubes, targets = [], [], []
    for pair in pairs:
        m, c, _ = _inputs(pair.noisy, spectral, pair.noise_sigma)
        on = scored_spaxels(pair.maps)
        y = np.zeros((2, *on.shape), np.float32)
        y[0][on] = np.log10(pair.maps.sigma_sfr[on])
        y[1] = on
        maps.append(m), targets.append(y)
        if spectral:
            cubes.append(c)
    return np.stack(maps), (np.stack(cubes) if spectral else None), np.stack(targets)


def _nll(pred, target):
    """Gaussian negative log-likelihood on the scored spaxels, each pixel's term weighted by its
    (detached) variance (beta-NLL, beta = 1: the mean learns as under squared error, Seitzer et
    al. 2022)."""
    mask = target[:, 1]
    mean, log_var = pred[:, 0], pred[:, 1].clamp(-10, 10)
    terms = 0.5 * (log_var + (target[:, 0] - mean) ** 2 * torch.exp(-log_var))
    return (terms * torch.exp(log_var).detach() * mask).sum() / mask.sum().clamp(min=1)


class _Wrapped(nn.Module):
    """Lets ``loop.fit`` call ``net(x)`` on one tensor: the maps and the flattened cube."""

    def __init__(self, net: PropertyUNet, n_maps: int, cube_shape):
        super().__init__()
        self.net, self.n_maps, self.cube_shape = net, n_maps, cube_shape

    def config(self):
        return self.net.config()

    def forward(self, x):
        maps = x[:, :self.n_maps]
        cube = x[:, self.n_maps:].reshape(len(x), 1, *self.cube_shape) if self.cube_shape else None
        return self.net(maps, cube)


def train_property_unet(train, validation, out, config: PropertyUNetConfig = PropertyUNetConfig(),
                        *, progress: bool = True) -> PropertyUNet:
    """Train a PropertyUNet on pairs, resumably, in the run folder ``out``.

    Parameters
    ----------
    train, validation : list of Pair
        Training pairs and validation pairs (other galaxies), all on one grid (H and W
        multiples of 4).
    out : str or pathlib.Path
        The run folder (``last.pt``, ``best.pt``, ``history.csv``); a run there resumes.
    config : PropertyUNetConfig
        The training.
    progress : bool
        Show a progress bar.

    Returns
    -------
    PropertyUNet
        The network of the best validation loss, in eval mode.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loop.check_resume(out, config)
    maps, cubes, targets = _arrays(train, config.spectral)
    v_maps, v_cubes, v_targets = _arrays(validation, config.spectral)
    if maps.shape[-1] % 4 or maps.shape[-2] % 4:
        raise ValueError(f"the maps are {maps.shape[-2]}x{maps.shape[-1]} px: the U-Net needs multiples of 4")
    on = targets[:, 1] > 0
    cube_shape = cubes.shape[2:] if config.spectral else None

    def joined(m, c):
        return m if c is None else np.concatenate([m, c.reshape(len(c), -1, *c.shape[-2:])], axis=1)

    stats = (float(targets[:, 0][on].mean()), float(targets[:, 0][on].std()))

    def build():
        net = PropertyUNet(len(MAP_NAMES), config.width, cubes.shape[2] if config.spectral else 0)
        with torch.no_grad():
            values = torch.from_numpy(maps).permute(1, 0, 2, 3)[:, torch.from_numpy(on)]
            net.x_mean.copy_(values.mean(dim=1))
            net.x_scale.copy_(values.std(dim=1).clamp(min=1e-6))
            net.y_stats.copy_(torch.tensor(stats))
        return _Wrapped(net, len(MAP_NAMES), cube_shape)

    def standardised(t, stats):
        t = t.copy()
        t[:, 0] = (t[:, 0] - stats[0]) / stats[1]
        return t

    def batch(step):
        gen = np.random.default_rng([config.seed, step])
        pick = gen.integers(0, len(maps), config.batch_size)
        x = joined(maps[pick], None if cubes is None else cubes[pick])
        y = standardised(targets[pick], stats)
        k, flip = int(gen.integers(4)), bool(gen.integers(2))
        x, y = np.rot90(x, k, axes=(-2, -1)), np.rot90(y, k, axes=(-2, -1))
        if flip:
            x, y = x[..., ::-1], y[..., ::-1]
        return np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32)

    def validate(wrapped):
        wrapped.eval()
        with torch.no_grad():
            pred = wrapped(torch.from_numpy(joined(v_maps, v_cubes)))
            return float(_nll(pred, torch.from_numpy(standardised(v_targets, stats))))

    loop.fit(out, config, build, batch, _nll, validate, progress=progress, desc="property U-Net")
    return load_property_unet(out)


def load_property_unet(out) -> PropertyUNet:
    """The best network of a run folder.

    Parameters
    ----------
    out : str or pathlib.Path
        The run folder of :func:`train_property_unet`.

    Returns
    -------
    PropertyUNet
        In eval mode.
    """
    state = torch.load(Path(out) / "best.pt", map_location="cpu", weights_only=False)
    net = PropertyUNet(**state["model_config"])
    net.load_state_dict({k.removeprefix("net."): v for k, v in state["model"].items()})
    return net.eval()


def predict_property_map(net: PropertyUNet, cube, noise_sigma: float | None = None) -> tuple:
    """A network's maps of log10 Sigma_SFR and its sigma for a cube.

    Parameters
    ----------
    net : PropertyUNet
        Trained (:func:`train_property_unet`).
    cube : Cube
        The cube (of the training cubes' channels for a spectral network); its sides are
        padded to multiples of 4 by reflection.
    noise_sigma : float, optional
        The observed cube's noise level when ``cube`` is denoised (``feature_maps``).

    Returns
    -------
    mean, sigma : numpy.ndarray
        (y, x) maps in dex.
    """
    check.integer("cube sides", min(cube.shape[1:]), 4, None)
    if net.args["n_chan"] and cube.shape[0] != net.args["n_chan"]:
        raise ValueError(f"the cube has {cube.shape[0]} channels; this network reads cubes of "
                         f"n_chan={net.args['n_chan']} (give a cube on its channels)")
    maps, spectrum, _ = _inputs(cube, bool(net.args["n_chan"]), noise_sigma)
    pad = [(0, 0)] + [(0, -s % 4) for s in maps.shape[1:]]
    x = torch.from_numpy(np.pad(maps, pad, mode="reflect")[None])
    c = None if spectrum is None else torch.from_numpy(np.pad(spectrum, [(0, 0)] + pad, mode="reflect")[None])
    with torch.no_grad():
        out = net(x, c)[0, :, :maps.shape[1], :maps.shape[2]].numpy()
    mean_y, scale_y = net.y_stats.tolist()
    return out[0] * scale_y + mean_y, np.exp(0.5 * np.clip(out[1], -10, 10)) * scale_y
