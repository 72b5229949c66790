"""Deterministic rendering of sky components into a padded (v, y, x) grid.

Method (exact up to quadrature error, no random clouds):

* A disk is integrated in its own plane on a polar quadrature: rings whose fluxes are the exact
  Sersic enclosed-flux differences, log-spaced near the centre (where the light and the
  velocity field change fastest) and at most ``spacing`` px apart outside. Azimuthal
  neighbours are at most ``spacing`` px apart on the sky and VEL_STEP sigma apart in
  line-of-sight velocity; rings larger than the field are sampled only on the arcs that can
  land in it.
* Each point's line profile (Gaussian of the local dispersion) is integrated exactly over each
  channel's width (differences of erf at the channel edges), so narrow lines keep their flux.
* Points are deposited with cloud-in-cell weights; the CIC window is divided out in Fourier space.
* Because the vertical profile is separable and rotation cylindrical, a thick disk is exactly
  the thin disk convolved along the projected minor axis with a Laplace kernel of scale
  h_z sin(i); that kernel and the beam are applied as transfer functions in Fourier space.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft, special

from galcube_lib._util.conventions import FWHM_PER_SIGMA, beam_area, sky_axes
from galcube_lib._util import checks as check
from galcube_lib.sim.components import Bridge, Galaxy, Halo, Tail
from galcube_lib.sim.profiles import sersic_enclosed, sersic_radius
from galcube_lib.sim.rotation import curve, radial_values

ENCLOSED = 1.0 - 1e-5   # flux fraction a disk's quadrature covers
LINE_REACH = 5.0        # line profiles are integrated over +-5 sigma
LOG_STEP = 0.08         # relative ring spacing near the centre
VEL_STEP = 0.3          # largest velocity step between azimuthal neighbours, in sigma
PHI_MAX = 0.2           # largest azimuthal step, radians
MAX_POINTS = 20_000_000  # quadrature points one disk (or stream) may need
BYTES_PER_POINT = 120    # memory a quadrature point takes while the samples are built
WORK_BYTES = 32          # memory per voxel of the padded work grid, deposit to Fourier stage
TRANSFER_BYTES = 24      # memory per pixel of the padded grid for the Fourier transfer functions
MAX_ENTRIES = 4_000_000  # samples x channels handled per deposit batch (memory bound)


@dataclass
class Samples:
    """Point samples of line emission on the padded work grid.

    Attributes
    ----------
    x, y : numpy.ndarray
        Positions in padded-grid pixels.
    v : numpy.ndarray
        Line-of-sight velocities in km/s (radio, relative to the band centre).
    sigma : numpy.ndarray
        Line dispersions in km/s, > 0.
    flux : numpy.ndarray
        Line flux of each point in Jy km/s.
    thickness_px : float
        Laplace scale of the disk's thickness along the projected minor axis, in px (0: thin).
    minor_angle : float
        Direction of that axis, radians from +x.
    """

    x: np.ndarray
    y: np.ndarray
    v: np.ndarray
    sigma: np.ndarray
    flux: np.ndarray      # Jy km/s per point
    thickness_px: float = 0.0   # Laplace scale along the projected minor axis
    minor_angle: float = 0.0    # direction of that axis, radians from +x


@dataclass
class Grid:
    """The padded (v, y, x) work grid and the geometry that maps the sky onto it.

    Attributes
    ----------
    n_chan : int
        Number of channels.
    size : int
        Padded side in px, a fast FFT length.
    pad : int
        Pixels of padding before the field.
    edges_kms : numpy.ndarray
        Channel edges in km/s, ``n_chan + 1`` of them, rising.
    center : float
        Padded-grid index of the field centre.
    pixel_kpc : float
        Pixel size in kpc.
    """

    n_chan: int
    size: int         # padded side, a fast FFT length
    pad: int          # pixels of padding before the field
    edges_kms: np.ndarray
    center: float     # padded-grid index of the field centre
    pixel_kpc: float

    @property
    def channel_kms(self) -> float:
        """Channel width in km/s (> 0)."""
        return float(self.edges_kms[1] - self.edges_kms[0])


def _ring_radii(r_max: float, spacing: float, r_eff: float) -> np.ndarray:
    """Ring edges: log-spaced from a tiny inner radius, then linear with step ``spacing``."""
    r_in = min(1e-3 * r_eff, 1e-2 * spacing)
    r_lin = spacing / LOG_STEP
    if r_max <= r_lin:
        return np.geomspace(r_in, r_max, max(2, int(math.ceil(math.log(r_max / r_in) / LOG_STEP)) + 1))
    log_part = np.geomspace(r_in, r_lin, int(math.ceil(math.log(r_lin / r_in) / LOG_STEP)) + 1)
    n_lin = int(math.ceil((r_max - r_lin) / spacing))
    return np.concatenate([log_part, np.linspace(r_lin, r_max, n_lin + 1)[1:]])


def _refuse_points(gal: Galaxy, px: float, n_points: float, velocity_bound: bool) -> None:
    """The ValueError for a disk that needs more than MAX_POINTS quadrature points, naming the
    parameters that set their number: the velocity sampling or the size in pixels."""
    if velocity_bound:
        speed = f"v_max_kms={gal.v_max_kms!r}" if isinstance(gal.rotation, str) else "this rotation"
        sigma = "a radial sigma_kms" if callable(gal.sigma_kms) else f"sigma_kms={gal.sigma_kms!r}"
        cause = (f"{speed} and {sigma}",
                 "use a slower rotation (v_max_kms, or the rotation table or callable, in km/s) or a "
                 "larger sigma_kms (km/s)")
    else:
        cause = (f"r_eff_kpc={gal.r_eff_kpc!r} ({gal.r_eff_kpc / px:.3g} px at pixel_kpc={px!r}) "
                 f"at inclination_deg={gal.inclination_deg!r}",
                 "use a larger pixel_kpc or a smaller r_eff_kpc")
    raise ValueError(
        f"a disk with {cause[0]} needs {n_points:.3g} quadrature points (about "
        f"{check.size_text(n_points * BYTES_PER_POINT)} of memory), more than the limit of "
        f"{MAX_POINTS:.0e}: {cause[1]}")


def disk_samples(gal: Galaxy, grid: Grid, spacing: float) -> Samples:
    """Quadrature points of a thin disk, projected onto the padded grid.

    Parameters
    ----------
    gal : Galaxy
        The disk.
    grid : Grid
        The padded work grid.
    spacing : float
        Largest distance between neighbouring points on the sky, in px (> 0).

    Returns
    -------
    Samples
        The points, their fluxes summing to ``gal.flux_jy_kms`` (up to the 1e-5 beyond the
        outermost ring), with the disk's thickness along its projected minor axis.

    Raises
    ------
    ValueError
        Checked before any point is built: the disk needs more than MAX_POINTS points; the
        message names the parameters to change.
    """
    px = grid.pixel_kpc
    r_eff = gal.r_eff_kpc / px
    cx = grid.center + gal.offset_kpc[0] / px
    cy = grid.center + gal.offset_kpc[1] / px
    sin_i, cos_i = math.sin(math.radians(gal.inclination_deg)), math.cos(math.radians(gal.inclination_deg))
    r_max = sersic_radius(ENCLOSED, r_eff, gal.sersic_n)
    # No need to sample rings that project entirely outside the padded grid.
    far = math.hypot(max(cx, grid.size - cx), max(cy, grid.size - cy))
    if cos_i > 1e-3:
        r_max = min(r_max, far / cos_i)
    if 8 * r_max / spacing > MAX_POINTS:   # rings `spacing` apart, each of >= 8 points
        _refuse_points(gal, px, 8 * r_max / spacing, velocity_bound=False)
    edges = _ring_radii(r_max, spacing, r_eff)
    ring_flux = gal.flux_jy_kms * np.diff(sersic_enclosed(edges, r_eff, gal.sersic_n))
    radius = 0.5 * (edges[1:] + edges[:-1])
    r_kpc = radius * px
    v_rot = curve(gal.rotation, v_max_kms=gal.v_max_kms, r_turn_kpc=gal.r_turn_kpc,
                  r_eff_kpc=gal.r_eff_kpc, sersic_n=gal.sersic_n)(r_kpc)
    sigma = _dispersion(gal.sigma_kms, r_kpc)
    # Azimuthal step: neighbours at most `spacing` px apart on the sky and VEL_STEP sigma apart
    # in line-of-sight velocity, so every ring's spectrum is resolved.
    by_sky = spacing / radius
    by_velocity = VEL_STEP * sigma / np.maximum(np.abs(v_rot) * sin_i, 1e-9)
    n_phi = np.maximum(8, 4 * np.ceil(2 * np.pi / np.minimum(np.minimum(by_sky, by_velocity), PHI_MAX) / 4))
    c2 = _visible_cos2(radius, far, cos_i, sin_i)
    seen = _visible_fraction(c2)
    n_points = float(np.sum(n_phi * seen))
    if n_points > MAX_POINTS:
        _refuse_points(gal, px, n_points, velocity_bound=np.sum(seen / by_velocity) > np.sum(seen / by_sky))
    n_phi = n_phi.astype(int)
    ring, k = _visible_azimuths(n_phi, c2)
    phi = 2 * np.pi * (k + 0.5) / n_phi[ring]
    cos_phi, sin_phi = np.cos(phi), np.sin(phi)

    (ux, uy), (wx, wy) = sky_axes(gal.pa_deg)
    along = radius[ring] * cos_phi
    across = radius[ring] * sin_phi * cos_i
    # The light inside the innermost ring sits at the centre, at the systemic velocity.
    inner = gal.flux_jy_kms * float(sersic_enclosed(edges[0], r_eff, gal.sersic_n))
    return Samples(
        x=np.concatenate([[cx], cx + along * ux + across * wx]),
        y=np.concatenate([[cy], cy + along * uy + across * wy]),
        v=np.concatenate([[gal.v_sys_kms], gal.v_sys_kms + v_rot[ring] * sin_i * cos_phi]),
        sigma=np.concatenate([[sigma[0]], sigma[ring]]),
        flux=np.concatenate([[inner], ring_flux[ring] / n_phi[ring]]),
        thickness_px=gal.h_z_kpc / px * sin_i,
        minor_angle=math.atan2(wy, wx),
    )


def _visible_cos2(radius, far, cos_i, sin_i):
    """cos^2 of the azimuth (from the major axis) up to which each ring is hidden: a ring
    larger than ``far`` px (the whole padded grid from the disk centre) is seen only where
    R^2 (cos^2 phi + sin^2 phi cos^2 i) <= far^2, i.e. on two arcs around the minor axis.
    1 or more: the whole ring is seen; below 0: none of it."""
    if sin_i ** 2 < 1e-12:   # face-on: a ring is seen whole or not at all
        return np.where(radius <= far, 1.0, -1.0)
    return np.where(radius <= far, 1.0, ((far / radius) ** 2 - cos_i ** 2) / sin_i ** 2)


def _visible_fraction(c2):
    """The fraction of each ring that :func:`_visible_cos2` leaves seen: 1 - 2 a / pi."""
    return np.where(c2 < 0.0, 0.0, 1.0 - 2.0 * np.arccos(np.sqrt(np.clip(c2, 0.0, 1.0))) / np.pi)


def _visible_azimuths(n_phi, c2):
    """Ring and azimuth indices of the points of each ring that :func:`_visible_cos2` leaves
    seen: the whole ring, or the arcs [a, pi - a] and [pi + a, 2 pi - a], cos^2 a = c2."""
    full = c2 >= 1.0
    a = np.arccos(np.sqrt(np.clip(c2, 0.0, 1.0)))
    # Segments of azimuth index k, where phi_k = 2 pi (k + 1/2) / n.
    seg_ring, seg_start, seg_count = [], [], []
    rings = np.arange(n_phi.size)
    seg_ring.append(rings[full])
    seg_start.append(np.zeros(full.sum(), dtype=int))
    seg_count.append(n_phi[full])
    part = ~full & (c2 >= 0.0)
    n = n_phi[part]
    for lo, hi in ((a[part], np.pi - a[part]), (np.pi + a[part], 2 * np.pi - a[part])):
        first = np.ceil(n * lo / (2 * np.pi) - 0.5).astype(int)
        last = np.floor(n * hi / (2 * np.pi) - 0.5).astype(int)
        seg_ring.append(rings[part])
        seg_start.append(first)
        seg_count.append(np.maximum(last - first + 1, 0))
    seg_ring, seg_start, seg_count = (np.concatenate(a) for a in (seg_ring, seg_start, seg_count))
    seg = np.repeat(np.arange(seg_ring.size), seg_count)
    offset = np.concatenate([[0], np.cumsum(seg_count)[:-1]])
    return seg_ring[seg], seg_start[seg] + np.arange(seg.size) - offset[seg]


def _dispersion(sigma, r_kpc: np.ndarray) -> np.ndarray:
    if callable(sigma):
        return radial_values("sigma_kms", sigma, r_kpc, positive=True)
    return np.full(r_kpc.shape, sigma)


def stream_samples(path_xy: np.ndarray, v_kms: np.ndarray, weight: np.ndarray, flux: float,
                   width_px: float, sigma_kms: float, spacing: float) -> Samples:
    """Points of a ribbon along a densely sampled path with a Gaussian cross-section.

    Parameters
    ----------
    path_xy : numpy.ndarray
        (n, 2) points along the path, (x, y) in padded-grid pixels, n >= 2.
    v_kms : numpy.ndarray
        Line-of-sight velocity at each path point, km/s.
    weight : numpy.ndarray
        Relative flux at each path point, >= 0.
    flux : float
        Total line flux in Jy km/s.
    width_px : float
        FWHM of the cross-section in px, > 0.
    sigma_kms : float
        Line dispersion in km/s, > 0.
    spacing : float
        Largest spacing of the points across the ribbon, in px.

    Returns
    -------
    Samples
        An odd number (>= 3) of points across each path point, over +-4 sigma of the
        cross-section, their fluxes summing to ``flux``.
    """
    seg = np.diff(path_xy, axis=0)
    tangent = np.vstack([seg, seg[-1:]]) + np.vstack([seg[:1], seg])
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    s_width = width_px / FWHM_PER_SIGMA
    n_across = max(3, int(math.ceil(8 * s_width / spacing)) | 1)   # odd: one point on the path
    t = np.linspace(-4 * s_width, 4 * s_width, n_across)
    w = weight[:, None] * np.exp(-0.5 * (t / s_width) ** 2)[None, :]
    xy = path_xy[:, None, :] + t[None, :, None] * normal[:, None, :]
    return Samples(x=xy[..., 0].ravel(), y=xy[..., 1].ravel(),
                   v=np.repeat(v_kms, n_across), sigma=np.full(w.size, sigma_kms),
                   flux=(flux * w / w.sum()).ravel())


def _stream_steps(comp, length: float, width_px: float, spacing: float, px: float, advice: str) -> int:
    """Steps along a stream ``length`` px long; one that needs more than MAX_POINTS points
    (steps times points across, see :func:`stream_samples`) is refused before any is built."""
    steps = max(2.0, float(np.ceil(length / spacing)))
    n_points = steps * (float(np.ceil(8 * width_px / FWHM_PER_SIGMA / spacing)) + 3)
    if n_points > MAX_POINTS:
        raise ValueError(
            f"a {type(comp).__name__} {length * px:.3g} kpc long and width_kpc={comp.width_kpc!r} wide "
            f"needs {n_points:.3g} quadrature points at pixel_kpc={px!r} (about "
            f"{check.size_text(n_points * BYTES_PER_POINT)} of memory), more than the limit of "
            f"{MAX_POINTS:.0e}: {advice}")
    return int(steps)


def _arc(start: np.ndarray, heading: float, length: float, turn: float, n: int):
    """Midpoints of n equal steps along a circular arc whose heading changes by ``turn`` radians.

    Returns the points and their fractional distance along the arc (the midpoint rule).
    """
    frac = (np.arange(n) + 0.5) / n
    theta = heading + turn * frac
    if abs(turn) < 1e-9:
        return start + (length * frac)[:, None] * np.array([math.cos(heading), math.sin(heading)]), frac
    radius = length / turn
    return start + radius * np.stack([np.sin(theta) - math.sin(heading),
                                      -(np.cos(theta) - math.cos(heading))], axis=1), frac


def component_samples(comp, grid: Grid, spacing: float) -> Samples:
    """The quadrature points of one sky component.

    Parameters
    ----------
    comp : Galaxy, Halo, Bridge or Tail
        The component; a Halo is rendered as its disk, a Bridge as a circular arc between
        its galaxies, a Tail as an arc from its host fading linearly to its end.
    grid : Grid
        The padded work grid.
    spacing : float
        Largest distance between neighbouring points on the sky, in px (> 0).

    Returns
    -------
    Samples
        The points.

    Raises
    ------
    TypeError
        ``comp`` is not a component.
    ValueError
        The component needs more than MAX_POINTS points.
    """
    px = grid.pixel_kpc
    if isinstance(comp, Galaxy):
        return disk_samples(comp, grid, spacing)
    if isinstance(comp, Halo):
        return disk_samples(comp.disk(), grid, spacing)
    if isinstance(comp, Bridge):
        a = grid.center + np.array(comp.a.offset_kpc) / px
        b = grid.center + np.array(comp.b.offset_kpc) / px
        chord = np.linalg.norm(b - a)
        sag = comp.bend_kpc / px
        # A circular arc through a and b with sagitta `sag`: its turn angle is 4 atan(2 sag / chord).
        turn = -4.0 * math.atan2(2.0 * sag, chord)
        length = chord if abs(turn) < 1e-9 else abs(chord / (2 * math.sin(turn / 2)) * turn)
        heading = math.atan2(*(b - a)[::-1]) - turn / 2
        n = _stream_steps(comp, length, comp.width_kpc / px, spacing, px,
                          "bring its galaxies closer (their offset_kpc), use a smaller bend_kpc "
                          "or width_kpc, or a larger pixel_kpc")
        path, frac = _arc(a, heading, length, turn, n)
        v = comp.a.v_sys_kms + (comp.b.v_sys_kms - comp.a.v_sys_kms) * frac
        return stream_samples(path, v, np.ones(n), comp.flux_jy_kms, comp.width_kpc / px,
                              comp.sigma_kms, spacing)
    if isinstance(comp, Tail):
        start = grid.center + np.array(comp.host.offset_kpc) / px
        (ux, uy), _ = sky_axes(comp.angle_deg)
        length = comp.length_kpc / px
        n = _stream_steps(comp, length, comp.width_kpc / px, spacing, px,
                          "use a smaller length_kpc or width_kpc, or a larger pixel_kpc")
        path, frac = _arc(start, math.atan2(uy, ux), length, math.radians(comp.bend_deg), n)
        return stream_samples(path, comp.host.v_sys_kms + comp.dv_kms * frac, 1.0 - frac,
                              comp.flux_jy_kms, comp.width_kpc / px, comp.sigma_kms, spacing)
    raise TypeError(f"components must be Galaxy, Halo, Bridge or Tail objects, got {type(comp).__name__}")


def deposit(s: Samples, grid: Grid, name: str, held: int = 0) -> tuple[int, np.ndarray]:
    """Channel-integrate each point's Gaussian line and spread it over 4 pixels (CIC).

    Parameters
    ----------
    s : Samples
        The points; those outside the grid or with flux <= 0 are dropped.
    grid : Grid
        The padded work grid.
    name : str
        The component's name, for the memory error.
    held : int, optional
        Bytes the caller already holds (default 0).

    Returns
    -------
    first : int
        The first channel the points reach (0 when they reach none).
    block : numpy.ndarray
        (channels, size, size) flux density per pixel in Jy (each channel's line flux over
        the channel width), covering every channel the points reach; empty when none.

    Raises
    ------
    ValueError
        The block (and the Fourier stage after it, WORK_BYTES per voxel) with ``held`` is
        too large for this machine's memory; the message names ``name``.
    """
    n = grid.size
    keep = (s.x >= 0) & (s.x < n - 1) & (s.y >= 0) & (s.y < n - 1) & (s.flux > 0)
    x, y, v, sig, flux = (a[keep] for a in (s.x, s.y, s.v, s.sigma, s.flux))
    dv, e0 = grid.channel_kms, grid.edges_kms[0]
    if x.size == 0:
        return 0, np.zeros((0, n, n))
    lo = max(0, int(np.floor((np.min(v - LINE_REACH * sig) - e0) / dv)))
    hi = min(grid.n_chan, int(np.floor((np.max(v + LINE_REACH * sig) - e0) / dv)) + 1)
    if hi <= lo:
        return 0, np.zeros((0, n, n))
    n_span = hi - lo
    check.memory(f"{name} reaches {n_span} channels: rendering them on the {n} x {n} px work grid "
                 "(the field and its padding for the beam and the disk thickness)",
                 WORK_BYTES * n_span * n * n + held,
                 "use fewer or wider channels (n_chan, channel_kms), fewer pixels (n_pix), a "
                 "smaller beam_fwhm_px, a larger pixel_kpc or a smaller h_z_kpc")
    # Channels a line can touch, within the band (a line wider than the band is cut to it).
    width = int(min(n_span, np.ceil(2 * LINE_REACH * sig.max() / dv))) + 1
    index_type = np.int32 if n_span * n * n < 2 ** 31 else np.int64
    ix, iy = np.floor(x).astype(index_type), np.floor(y).astype(index_type)
    fx, fy = x - ix, y - iy
    cic = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=1)
    corner = np.array([0, 1, n, n + 1], dtype=index_type)
    out = None
    step = max(1, MAX_ENTRIES // (4 * width))
    for start in range(0, x.size, step):
        sl = slice(start, start + step)
        first = np.clip(np.floor((v[sl] - LINE_REACH * sig[sl] - e0) / dv), lo, hi).astype(index_type)
        chan = first[:, None] + np.arange(width + 1, dtype=index_type)
        cdf = special.erf((e0 + chan * dv - v[sl, None]) / (math.sqrt(2.0) * sig[sl, None]))
        spec = (0.5 / dv) * np.diff(cdf, axis=1) * flux[sl, None]
        chan = chan[:, :-1] - lo
        outside = (chan < 0) | (chan >= n_span)
        spec[outside] = 0.0
        chan[outside] = 0
        idx = (chan * (n * n) + (iy[sl] * n + ix[sl])[:, None])[:, :, None] + corner
        weights = spec[:, :, None] * cic[sl, None, :]
        part = np.bincount(idx.ravel(), weights=weights.ravel(), minlength=n_span * n * n)
        out = part if out is None else np.add(out, part, out=out)   # in place: memory of two blocks
    return lo, out.reshape(n_span, n, n)


def frequencies(n: int):
    """Spatial frequencies of an rfft2 of an n x n grid.

    Parameters
    ----------
    n : int
        Side of the grid in px.

    Returns
    -------
    ky : numpy.ndarray
        (n, 1) frequencies along y, cycles/px.
    kx : numpy.ndarray
        (1, n // 2 + 1) frequencies along x, cycles/px.
    """
    return fft.fftfreq(n)[:, None], fft.rfftfreq(n)[None, :]


def thickness_transfer(s: Samples, ky, kx) -> np.ndarray | float:
    """Fourier transform of the Laplace kernel of scale ``thickness_px`` along the minor axis.

    Parameters
    ----------
    s : Samples
        The points, with ``thickness_px`` and ``minor_angle``.
    ky, kx : numpy.ndarray
        Frequencies in cycles/px, as :func:`frequencies` gives them.

    Returns
    -------
    numpy.ndarray or float
        The transfer function, 1 at k = 0; the float 1.0 for a thin disk.
    """
    if s.thickness_px == 0:
        return 1.0
    k_minor = kx * math.cos(s.minor_angle) + ky * math.sin(s.minor_angle)
    return 1.0 / (1.0 + (2 * np.pi * s.thickness_px * k_minor) ** 2)


def gaussian_transfer(bmaj_px: float, bmin_px: float, pa_deg: float, ky, kx) -> np.ndarray:
    """Fourier transform of an elliptical Gaussian of unit integral.

    Parameters
    ----------
    bmaj_px, bmin_px : float
        Major and minor FWHM in px, > 0.
    pa_deg : float
        Position angle of the major axis in degrees, north through east
        (docs/conventions.md, Angles).
    ky, kx : numpy.ndarray
        Frequencies in cycles/px, as :func:`frequencies` gives them.

    Returns
    -------
    numpy.ndarray
        The transfer function, 1 at k = 0, broadcast over ``ky`` and ``kx``.
    """
    (ux, uy), (wx, wy) = sky_axes(pa_deg)
    s_maj, s_min = (b / FWHM_PER_SIGMA for b in (bmaj_px, bmin_px))
    k_maj, k_min = kx * ux + ky * uy, kx * wx + ky * wy
    return np.exp(-2 * np.pi ** 2 * ((s_maj * k_maj) ** 2 + (s_min * k_min) ** 2))


def beam_transfer(bmaj_px: float, bmin_px: float, pa_deg: float, ky, kx) -> np.ndarray:
    """Transfer function of the beam normalised to peak 1, over the CIC window.

    Convolving Jy/pixel with it gives Jy/beam (docs/conventions.md, Beam).

    Parameters
    ----------
    bmaj_px, bmin_px : float
        Major and minor FWHM in px, > 0.
    pa_deg : float
        Position angle of the major axis in degrees, north through east.
    ky, kx : numpy.ndarray
        Frequencies in cycles/px, as :func:`frequencies` gives them.

    Returns
    -------
    numpy.ndarray
        The transfer function: ``beam_area_px`` at k = 0.
    """
    area = beam_area(bmaj_px, bmin_px)
    return area * gaussian_transfer(bmaj_px, bmin_px, pa_deg, ky, kx) / (np.sinc(kx) * np.sinc(ky)) ** 2
