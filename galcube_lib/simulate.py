"""``simulate``: the noise-free, beam-convolved cube of a set of sky components."""
from __future__ import annotations

import math

import numpy as np
from scipy import fft
from scipy.ndimage import convolve1d

from ._render import Grid, beam_transfer, component_samples, deposit, frequencies, thickness_transfer
from ._version import __version__
from .cube import Cube
from .record import component_record
from .model.galaxy import COMPONENTS, Galaxy, Halo
from .observation import FWHM_PER_SIGMA, Observation

# Relative level below which values are single-precision FFT round-off, not signal: set to 0.
ROUNDOFF = 1e-6
HANNING = np.array([0.25, 0.5, 0.25])


def _check_components(components) -> list:
    if isinstance(components, COMPONENTS):
        components = [components]
    try:
        components = list(components)
    except TypeError:
        raise TypeError(f"components must be a list of Galaxy/Halo/Bridge/Tail, got {type(components).__name__}") from None
    if not components:
        raise ValueError("components is empty: give at least one Galaxy")
    for i, comp in enumerate(components):
        if not isinstance(comp, COMPONENTS):
            raise TypeError(f"components[{i}] must be a Galaxy, Halo, Bridge or Tail, got {type(comp).__name__}")
    return components


def _sample_spacing(obs: Observation) -> float:
    """Quadrature spacing in px: fine enough that the beam hides the sampling pattern."""
    return min(2.0, obs.beam_fwhm_px[1] / FWHM_PER_SIGMA)


def simulate(components, observation: Observation) -> Cube:
    """Simulate the noise-free, beam-convolved cube of some galaxies.

    Parameters
    ----------
    components : Galaxy, Halo, Bridge, Tail or a list of them
        What is in the field: a central disk, satellites and diffuse components.
    observation : Observation
        Field, channels, pixel scale, beam and spectral response.

    Returns
    -------
    Cube
        Jy/beam, float32 (v, y, x). ``cube.clean`` is the same truth; the header carries the WCS,
        the beam and a record of every parameter. The result is deterministic: the same
        parameters give the same cube bit for bit.
    """
    components = _check_components(components)
    if not isinstance(observation, Observation):
        raise TypeError(f"observation must be an Observation, got {type(observation).__name__}")
    obs = observation
    # Pad so that beam and thickness tails wrap only into padding that is cropped away.
    thickest = max(_thickness_px(c, obs.pixel_kpc) for c in components)
    reach = 5.0 * obs.beam_fwhm_px[0] / FWHM_PER_SIGMA + 8.0 * thickest + 2
    grid = _grid(obs, int(math.ceil(reach)))
    spacing = _sample_spacing(obs)
    ky, kx = frequencies(grid.size)
    beam = beam_transfer(*obs.beam_fwhm_px, obs.beam_pa_deg, ky, kx)
    terms = []   # (first channel, Fourier transform of its channel block) per component
    for comp in components:
        s = component_samples(comp, grid, spacing)
        first, block = deposit(s, grid)
        if len(block):
            # Single precision: its round-off (~1e-7 of the peak) is far below the quadrature's.
            spectrum = fft.rfft2(block.astype(np.float32))
            spectrum *= (beam * thickness_transfer(s, ky, kx)).astype(np.float32)
            terms.append((first, spectrum))
    data = np.zeros(obs.shape, dtype=np.float32)
    if terms:
        # Channels no line reaches stay exactly zero: only the others are transformed back.
        lo, hi = min(f for f, _ in terms), max(f + len(b) for f, b in terms)
        spectrum = terms[0][1] if len(terms) == 1 else _stack(terms, lo, hi)
        field = slice(grid.pad, grid.pad + obs.n_pix)
        image = fft.irfft2(spectrum, s=(grid.size,) * 2, overwrite_x=True)[:, field, field]
        if obs.hanning:
            full = np.zeros(obs.shape)
            full[lo:hi] = image
            data[:] = convolve1d(full, HANNING, axis=0, mode="constant")
        else:
            data[lo:hi] = image
        data[np.abs(data) <= ROUNDOFF * np.abs(data).max()] = 0.0
    record = {"galcube_version": __version__, "observation": obs.to_record(),
              "components": [component_record(c) for c in components]}
    header = obs.header.copy()
    kinds = ", ".join(sorted({type(c).__name__ for c in components}))
    header["HISTORY"] = f"galcube {__version__} simulate: {len(components)} component(s) ({kinds})"
    header["HISTORY"] = "noise-free truth; every parameter is in the RECORD extension (JSON)"
    return Cube(data, header, clean=data, record=record)


def _stack(terms, lo: int, hi: int) -> np.ndarray:
    """Sum components' Fourier blocks over the channels lo..hi they span together."""
    total = np.zeros((hi - lo, *terms[0][1].shape[1:]), dtype=terms[0][1].dtype)
    for first, block in terms:
        total[first - lo:first - lo + len(block)] += block
    return total


def _thickness_px(comp, pixel_kpc: float) -> float:
    disk = comp.disk() if isinstance(comp, Halo) else comp
    if not isinstance(disk, Galaxy):
        return 0.0
    return disk.h_z_kpc / pixel_kpc * math.sin(math.radians(disk.inclination_deg))


def _grid(obs: Observation, pad: int) -> Grid:
    size = fft.next_fast_len(obs.n_pix + 2 * pad, real=True)
    edges = obs.velocity_kms[0] - obs.channel_kms / 2 + obs.channel_kms * np.arange(obs.n_chan + 1)
    return Grid(n_chan=obs.n_chan, size=size, pad=pad, edges_kms=edges,
                center=pad + obs.center_px, pixel_kpc=obs.pixel_kpc)
