"""``simulate``: the noise-free, beam-convolved cube of a set of sky components."""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import fft
from scipy.ndimage import convolve1d

from galcube_lib._util.conventions import FWHM_PER_SIGMA
from galcube_lib._util import checks as check
from galcube_lib.sim.render import (TRANSFER_BYTES, WORK_BYTES, Grid, Samples, beam_transfer, component_samples, deposit, frequencies, thickness_transfer)
from galcube_lib._version import __version__
from galcube_lib.io.cube import Cube
from galcube_lib.sim.scene_record import component_record
from galcube_lib.sim.components import COMPONENTS, Galaxy, Halo
from galcube_lib.sim.observation import Observation

# Relative level below which values are single-precision FFT round-off, not signal: set to 0.
ROUNDOFF = 1e-6
HANNING = np.array([0.25, 0.5, 0.25])
OUTSIDE = 1e-3   # a component with less of its flux than this in the cube is warned about
F32 = np.finfo(np.float32)


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

    Raises
    ------
    ValueError
        Before anything large is allocated, when the request cannot be met: a disk or stream
        needing more than 2e7 quadrature points, or a cube and work grid larger than the
        memory available (the message names the parameter to change and the memory needed);
        after rendering, when the cube's values would overflow or underflow single precision.

    Warns
    -----
    UserWarning
        For each component that leaves less than 0.1% of its flux in the cube (outside the
        field or the band). Flux of a component partly outside is simply lost there.

    Examples
    --------
    >>> obs = gl.Observation(n_pix=32, n_chan=16, channel_kms=40.0)
    >>> cube = gl.simulate(gl.Galaxy(r_eff_kpc=1.0, flux_jy_kms=1.0), obs)
    >>> cube.shape, cube.data.dtype
    ((16, 32, 32), dtype('float32'))

    The flux is conserved (docs/conventions.md, Units), and the record re-creates the cube:

    >>> round(float(cube.data.sum() * cube.channel_kms / cube.beam_area_px), 3)
    1.0
    >>> bool(np.array_equal(gl.simulate(*gl.scene_from_record(cube.record)).data, cube.data))
    True
    """
    components = _check_components(components)
    if not isinstance(observation, Observation):
        raise TypeError(f"observation must be an Observation, got {type(observation).__name__}")
    obs = observation
    # Pad so that beam and thickness tails wrap only into padding that is cropped away.
    thickness = [_thickness_px(c, obs.pixel_kpc) for c in components]
    reach = 5.0 * obs.beam_fwhm_px[0] / FWHM_PER_SIGMA + 8.0 * max(thickness) + 2
    _check_memory(obs, reach, components, thickness)
    grid = _grid(obs, int(math.ceil(reach)))
    spacing = _sample_spacing(obs)
    ky, kx = frequencies(grid.size)
    beam = beam_transfer(*obs.beam_fwhm_px, obs.beam_pa_deg, ky, kx)
    field = slice(grid.pad, grid.pad + obs.n_pix)
    total, lo = None, 0   # the sum of the components' Fourier blocks, from channel lo on
    seen = False   # whether any component leaves flux in the cube
    # Overflow is not warned about but checked, with the parameter to blame: _check_range.
    with np.errstate(over="ignore", invalid="ignore"):
        for i, comp in enumerate(components):
            name = f"components[{i}] ({type(comp).__name__})"
            s = component_samples(comp, grid, spacing)
            first, block = deposit(s, grid, name, held=0 if total is None else total.nbytes)
            if block[:, field, field].sum() * obs.channel_kms < OUTSIDE * comp.flux_jy_kms:
                warnings.warn(_outside_text(name, comp, s, grid, obs), UserWarning, stacklevel=2)
            else:
                seen = True
            if len(block):
                # Single precision: its round-off (~1e-7 of the peak) is far below the quadrature's.
                spectrum = fft.rfft2(block.astype(np.float32))
                spectrum *= (beam * thickness_transfer(s, ky, kx)).astype(np.float32)
                total, lo = _add(total, lo, first, spectrum)
        data = np.zeros(obs.shape, dtype=np.float32)
        if total is not None:
            # Channels no line reaches stay exactly zero: only the others are transformed back.
            hi = lo + len(total)
            image = fft.irfft2(total, s=(grid.size,) * 2, overwrite_x=True)[:, field, field]
            if obs.hanning:
                full = np.zeros(obs.shape)
                full[lo:hi] = image
                data[:] = convolve1d(full, HANNING, axis=0, mode="constant")
            else:
                data[lo:hi] = image
    _check_range(data, components, obs, seen)
    data[np.abs(data) <= ROUNDOFF * np.abs(data).max()] = 0.0
    record = {"galcube_version": __version__, "observation": obs.to_record(),
              "components": [component_record(c) for c in components]}
    header = obs.header.copy()
    kinds = ", ".join(sorted({type(c).__name__ for c in components}))
    header["HISTORY"] = f"galcube {__version__} simulate: {len(components)} component(s) ({kinds})"
    header["HISTORY"] = "noise-free truth; every parameter is in the RECORD extension (JSON)"
    return Cube(data, header, clean=data, record=record)


def _add(total, lo: int, first: int, block: np.ndarray):
    """Add a component's Fourier block (channels from ``first`` on) to the running ``total``
    (channels from ``lo`` on), widened to span both; returns the total and its first channel."""
    if total is None:
        return block, first
    new_lo, new_hi = min(lo, first), max(lo + len(total), first + len(block))
    if (new_lo, new_hi) != (lo, lo + len(total)):
        wider = np.zeros((new_hi - new_lo, *total.shape[1:]), dtype=total.dtype)
        wider[lo - new_lo:lo - new_lo + len(total)] = total
        total, lo = wider, new_lo
    total[first - lo:first - lo + len(block)] += block
    return total, lo


def _thickness_px(comp, pixel_kpc: float) -> float:
    disk = comp.disk() if isinstance(comp, Halo) else comp
    if not isinstance(disk, Galaxy):
        return 0.0
    return disk.h_z_kpc / pixel_kpc * math.sin(math.radians(disk.inclination_deg))


def _check_memory(obs: Observation, pad: float, components, thickness: list) -> None:
    """Refuse, before allocating anything, a cube, the Fourier transfer functions of its padded
    work grid and one channel of it that do not fit in memory, naming what sets their size."""
    size = obs.n_pix + 2.0 * pad
    need = math.prod(obs.shape) * (4 + 16 * obs.hanning) + (WORK_BYTES + TRANSFER_BYTES) * size ** 2
    if 2 * pad <= obs.n_pix:
        what = f"a cube of n_chan={obs.n_chan} x n_pix={obs.n_pix} x {obs.n_pix} voxels"
        advice = "use fewer channels (n_chan) or pixels (n_pix)"
    elif 8.0 * max(thickness) > 5.0 * obs.beam_fwhm_px[0] / FWHM_PER_SIGMA:
        i = int(np.argmax(thickness))
        disk = components[i].disk() if isinstance(components[i], Halo) else components[i]
        what = (f"components[{i}]'s thickness, h_z_kpc={disk.h_z_kpc!r} ({thickness[i]:.3g} px projected at "
                f"pixel_kpc={obs.pixel_kpc!r}), pads the work grid to {size:.3g} x {size:.3g} px: it")
        advice = "use a smaller h_z_kpc (kpc) or a larger pixel_kpc"
    else:
        what = (f"beam_fwhm_px={obs.beam_fwhm_px[0]:.4g} pads the work grid to {size:.3g} x {size:.3g} px: it")
        advice = "use a smaller beam (beam_fwhm_px or beam_fwhm_arcsec)"
    check.memory(what, need, advice)


def _outside_text(name: str, comp, s: Samples, grid: Grid, obs: Observation) -> str:
    """Why a component leaves (almost) no flux in the cube: outside the field, or the band."""
    px, c = obs.pixel_kpc, grid.center
    lo_kpc, hi_kpc = (-obs.center_px - 0.5) * px, (obs.n_pix - obs.center_px - 0.5) * px
    x, y = ((np.average(a, weights=s.flux) - c) * px for a in (s.x, s.y))
    edges = grid.edges_kms
    in_field = np.all([(a >= c + lo_kpc / px) & (a < c + hi_kpc / px) for a in (s.x, s.y)], axis=0)
    if s.flux[in_field].sum() < OUTSIDE * comp.flux_jy_kms:
        where = (f"outside the field: its light is centred at ({x:.4g}, {y:.4g}) kpc from the field "
                 f"centre and the field spans {lo_kpc:.4g} to {hi_kpc:.4g} kpc in x and y "
                 f"(n_pix={obs.n_pix} x pixel_kpc={px:.4g}); move it (offset_kpc), make it "
                 "smaller or enlarge the field")
    else:
        v_lo, v_hi = np.min(s.v - 3 * s.sigma), np.max(s.v + 3 * s.sigma)
        where = (f"outside the band: its line spans {v_lo:.4g} to {v_hi:.4g} km/s and the channels "
                 f"{edges[0]:.4g} to {edges[-1]:.4g} km/s (n_chan={obs.n_chan} x channel_kms="
                 f"{obs.channel_kms:.4g} around v_center_kms={obs.v_center_kms:.4g}); move it (v_sys_kms), "
                 "narrow its line (v_max_kms, sigma_kms) or widen the band")
    return f"{name} leaves less than {OUTSIDE:.1%} of its flux in the cube; most of it falls {where}"


def _check_range(data: np.ndarray, components, obs: Observation, seen: bool) -> None:
    """A cube whose values overflow single precision, or (if any component is ``seen`` in it)
    underflow it, is an error, never a result."""
    peak = float(max(np.max(data), -np.min(data)))
    brightest = max(components, key=lambda c: c.flux_jy_kms).flux_jy_kms
    faintest = min(components, key=lambda c: c.flux_jy_kms).flux_jy_kms
    if not math.isfinite(peak):
        raise ValueError(f"flux_jy_kms={brightest!r} over channel_kms={obs.channel_kms!r} channels gives "
                         f"values beyond single precision's {F32.max:.3g} Jy/beam: give the line flux in "
                         "Jy km/s (a smaller flux_jy_kms) or wider channels")
    if seen and peak < F32.tiny:
        raise ValueError(f"flux_jy_kms={faintest!r} over channel_kms={obs.channel_kms!r} channels gives "
                         f"values below single precision's smallest normal number {F32.tiny:.3g} Jy/beam: "
                         "give the line flux in Jy km/s (a larger flux_jy_kms)")


def _grid(obs: Observation, pad: int) -> Grid:
    size = fft.next_fast_len(obs.n_pix + 2 * pad, real=True)
    edges = obs.velocity_kms[0] - obs.channel_kms / 2 + obs.channel_kms * np.arange(obs.n_chan + 1)
    return Grid(n_chan=obs.n_chan, size=size, pad=pad, edges_kms=edges,
                center=pad + obs.center_px, pixel_kpc=obs.pixel_kpc)


def stamp(galaxy: Galaxy, n_chan: int, size: int, channel_kms: float, beam_fwhm_px,
          beam_pa_deg: float = 0.0) -> np.ndarray:
    """A galaxy as a cube of given beam and channels would see it, in units where 1 kpc = 1 px.

    Beams under 2 px (which :class:`Observation` refuses) are simulated on a grid finer by an
    integer factor and block-averaged back.

    Parameters
    ----------
    galaxy : Galaxy
        The disk, centred on the band (``v_sys_kms`` relative to its centre).
    n_chan, size : int
        Channels and the side of the square field, in pixels.
    channel_kms : float
        Channel width in km/s (> 0).
    beam_fwhm_px : (float, float)
        Beam FWHM (bmaj, bmin) in pixels.
    beam_pa_deg : float
        Beam position angle.

    Returns
    -------
    numpy.ndarray
        float32 (n_chan, size, size), velocity increasing with the channel.
    """
    bmaj, bmin = beam_fwhm_px
    fine = max(1, math.ceil(2.0 / bmin))
    obs = Observation(n_pix=size * fine, n_chan=n_chan, channel_kms=channel_kms,
                      pixel_kpc=1.0 / fine, beam_fwhm_px=(bmaj * fine, bmin * fine),
                      beam_pa_deg=beam_pa_deg)
    model = simulate([galaxy], obs).data
    return model.reshape(n_chan, size, fine, size, fine).mean(axis=(2, 4))
