"""The CubeViewer's state and everything it displays, as plain Python (no widgets, no bokeh).

Tests drive :class:`ViewerModel` directly: set the channel, the view, the pixel..., then assert on
what the widget would show (:meth:`ViewerModel.image`, :attr:`ViewerModel.channel_label`,
:meth:`ViewerModel.spectrum`...). The widget layer only observes the model and copies these
values into ipywidgets and bokeh sources.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.coordinates import Angle

from galcube_lib import metrics
from galcube_lib.io import checks, lazy
from galcube_lib.report import display
from galcube_lib.io.files import atomic_path
from galcube_lib.io.cube import Cube, check_cube
from galcube_lib.metrics.real import moment_images

VIEWS = ("channel", "mom0", "mom1", "mom2")
STRETCH_MODES = ("percentile", "zscale")
STRETCH_KINDS = ("linear", "asinh")
RESIDUAL = "residual"
CONTOUR_VIEWS = ("channel", "mom0")
VELOCITY_PERCENT = 95.0   # moment-1 colour limits hold this central per cent of the velocities


def as_cube_dict(cubes, names=None, residual_of=None) -> dict:
    """``cubes`` (a Cube, a dict name -> Cube or a list of Cubes) as an ordered dict.

    ``names`` names the cubes of a list (default "cube" for one, "cube 1", "cube 2"... for
    several); ``residual_of=(a, b)`` appends a cube named "residual" holding ``a - b``.
    All cubes must share one (v, y, x) shape.
    """
    if isinstance(cubes, Cube):
        cubes = [cubes]
    if isinstance(cubes, (str, Path)):
        raise TypeError(f"cubes={str(cubes)!r} is a path: read it first, CubeViewer(gl.read_fits(path))")
    if not isinstance(cubes, (dict, list, tuple)):
        raise TypeError(f"cubes must be a Cube, a dict name -> Cube or a list of Cubes, got "
                        f"{type(cubes).__name__}")
    if isinstance(cubes, dict):
        if names is not None:
            raise ValueError("names must be None when cubes is a dict (its keys are the names)")
        out = dict(cubes)
    else:
        cubes = list(cubes)
        if names is None:
            names = ["cube"] if len(cubes) == 1 else [f"cube {i + 1}" for i in range(len(cubes))]
        names = [str(n) for n in checks.sequence("names", names, len(cubes))]
        if len(names) != len(cubes) or len(set(names)) != len(names):
            raise ValueError(f"names={names!r} must be {len(cubes)} distinct names, one per cube")
        out = dict(zip(names, cubes))
    if not out:
        raise ValueError("cubes is empty: give at least one Cube")
    for name, cube in out.items():
        check_cube(f"cubes[{name!r}]", cube)
    shapes = {name: cube.shape for name, cube in out.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"cubes must share one (v, y, x) shape, got {shapes}")
    if residual_of is not None:
        a, b = checks.sequence("residual_of", residual_of, 2)
        if a not in out or b not in out or RESIDUAL in out:
            raise ValueError(f"residual_of={residual_of!r} must name two of the cubes "
                             f"{list(out)} (and none may already be called {RESIDUAL!r})")
        out[RESIDUAL] = out[a].replace(data=out[a].data - out[b].data, clean=None, noise=None,
                                       uncertainty=None)
    return out


class _Setting:
    """A checked model attribute: ``check(model, value)`` returns the value to store or raises;
    a change clears the caches that depend on it and tells the observers ``what`` changed."""

    def __init__(self, what: str, check, doc: str):
        self.what, self.check, self.__doc__ = what, check, doc

    def __set_name__(self, owner, name):
        self.slot = f"_{name}"

    def __get__(self, model, owner=None):
        return self if model is None else getattr(model, self.slot)

    def __set__(self, model, value):
        value = self.check(model, value)
        if value != getattr(model, self.slot):
            setattr(model, self.slot, value)
            model._notify(self.what)


def _check_range(model, value) -> tuple[float, float]:
    try:
        lo, hi = sorted(checks.number("velocity_range_kms", v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"velocity_range_kms={value!r} must be two finite velocities (km/s)") from None
    vel = model.velocity_kms
    if not ((vel >= lo - 1e-6) & (vel <= hi + 1e-6)).any():
        raise ValueError(f"velocity_range_kms={value!r} holds no channel; the channels span "
                         f"[{vel.min():g}, {vel.max():g}] km/s")
    return lo, hi


def _check_pixel(model, value) -> tuple[int, int]:
    try:
        x, y = value
    except (TypeError, ValueError):
        raise ValueError(f"pixel={value!r} must be (x, y)") from None
    _, ny, nx = model.reference.shape
    return checks.integer("pixel x", x, 0, nx - 1), checks.integer("pixel y", y, 0, ny - 1)


def _check_center(model, value) -> tuple[float, float]:
    _, ny, nx = model.reference.shape
    y, x = checks.sequence("pv_center_yx", value, 2)
    return (checks.number("pv_center_yx y", y, 0, ny - 1),
            checks.number("pv_center_yx x", x, 0, nx - 1))


def _positive(name):
    return lambda model, value: checks.number(name, value, 0, lo_open=True)


def _one_of(name, options):
    return lambda model, value: checks.choice(name, value, options)


class ViewerModel:
    """State and derived displays of a viewer of linked cubes (same shape, same channel, pixel).

    Parameters
    ----------
    cubes : Cube, dict or list
        See :func:`as_cube_dict`; the first cube is the reference for WCS, beam and velocities.
    names : list of str, optional
        Names of a list of cubes.
    channel : int, optional
        Starting channel (default the middle one).
    residual_of : (str, str), optional
        Add a cube "residual" = cubes[a] - cubes[b], shown with symmetric display limits.

    Notes
    -----
    Every setting below is checked when set (a ValueError names it and its valid range), and a
    change is reported to the observers (:meth:`observe`) by the name of what changed.
    """

    channel = _Setting("channel", lambda m, v: checks.integer("channel", v, 0, m.n_chan - 1),
                       "The channel shown (0 .. n_chan - 1).")
    view = _Setting("view", _one_of("view", VIEWS),
                    'What the images show: "channel", or moment "mom0", "mom1", "mom2" over '
                    "the velocity range.")
    velocity_range_kms = _Setting("velocity_range", _check_range,
                                  "(low, high) velocities of the channels that enter the moments.")
    mask_n_sigma = _Setting("mask", lambda m, v: None if v is None else _positive("mask_n_sigma")(m, v),
                            "Moments use only the voxels where the ``mask_from`` cube is above "
                            "this many sigma (1.4826 MAD); None: every voxel.")
    mask_from = _Setting("mask", lambda m, v: checks.choice("mask_from", v, m.names),
                         "Name of the cube whose bright voxels make the mask of every cube.")
    pixel = _Setting("pixel", _check_pixel, "The selected pixel (x, y): its spectra are shown, "
                     "and it is marked on every image.")
    aperture_radius_px = _Setting("aperture", _positive("aperture_radius_px"),
                                  "Radius (px) of the circle around the pixel for "
                                  ":meth:`aperture_spectrum` (default the beam's FWHM).")
    stretch_mode = _Setting("stretch", _one_of("stretch_mode", STRETCH_MODES),
                            'How display limits are chosen: "percentile" or "zscale".')
    stretch_percent = _Setting("stretch", lambda m, v: checks.number("stretch_percent", v, 0, 100,
                                                                        lo_open=True),
                               'Per cent of the values inside the limits in "percentile" mode.')
    stretch_kind = _Setting("stretch", _one_of("stretch_kind", STRETCH_KINDS),
                            'Brightness scale between the limits: "linear" or "asinh" (moment 1 '
                            'and a residual are always linear, see :meth:`stretch_of`).')
    linked_limits = _Setting("stretch", lambda m, v: checks.boolean("linked_limits", v),
                             "True: one set of colour limits for every cube but a residual; "
                             "False (default): each cube its own limits.")
    aperture_shape = _Setting("aperture", _one_of("aperture_shape", display.REGION_SHAPES),
                              'Region around the pixel: "circle" (radius), "box" (half side) or '
                              '"beam" (the beam\'s ellipse with that semi-major axis).')
    contour_from = _Setting("contours", lambda m, v: None if v is None else
                            checks.choice("contour_from", v, m.names),
                            "Cube whose contours are drawn over every image, or None.")
    contour_view = _Setting("contours", _one_of("contour_view", CONTOUR_VIEWS),
                            'What the contours trace: "channel" (the current channel) or "mom0" '
                            "(moment 0 over the velocity range).")
    pv_center_yx = _Setting("pv", _check_center, "Centre (y, x), px, of the position-velocity cut "
                            "(default the galaxy's centre, see display.major_axis).")
    pv_pa_deg = _Setting("pv", lambda m, v: checks.number("pv_pa_deg", v) % 360.0,
                         "Position angle of the cut, north through east; +offsets lie toward it "
                         "(default the major axis, receding side).")
    pv_width_px = _Setting("pv", _positive("pv_width_px"),
                           "Width (px) the cut is averaged over (default the beam's minor FWHM).")

    def __init__(self, cubes, *, names=None, channel=None, residual_of=None):
        self._observers = []
        self._load(as_cube_dict(cubes, names, residual_of), channel, residual_of)

    # ------------------------------------------------------------------ cubes and observers

    def set_cubes(self, cubes, *, names=None, residual_of=None) -> None:
        """Show other cubes; channel and pixel are kept when they still fit, the rest is reset."""
        new = as_cube_dict(cubes, names, residual_of)
        channel = self._channel if self._channel < next(iter(new.values())).shape[0] else None
        self._load(new, channel, residual_of)
        self._notify("cubes")

    def _load(self, cubes: dict, channel, residual_of) -> None:
        self.cubes, self._residual_of = cubes, residual_of
        ref = self.reference
        n_chan, ny, nx = ref.shape
        self._velocity = ref.velocity_kms
        self._channel = n_chan // 2 if channel is None else checks.integer("channel", channel, 0, n_chan - 1)
        self._view = "channel"
        self._velocity_range_kms = (float(self._velocity.min()), float(self._velocity.max()))
        self._mask_n_sigma, self._mask_from = None, next(iter(cubes))
        old = getattr(self, "_pixel", None)
        self._pixel = old if old is not None and old[0] < nx and old[1] < ny else (nx // 2, ny // 2)
        self._aperture_radius_px = max(ref.beam_fwhm_px)
        self._stretch_mode, self._stretch_percent, self._stretch_kind = "percentile", 99.5, "linear"
        self._linked_limits, self._aperture_shape = False, "circle"
        self._contour_from, self._contour_view = None, "channel"
        center_yx, pa_deg = display.major_axis(ref)
        self._pv_center_yx = tuple(float(c) for c in center_yx)
        self._pv_pa_deg, self._pv_width_px = float(pa_deg), max(1.0, ref.beam_fwhm_px[1])
        self._clear("cubes")

    def _clear(self, what: str) -> None:
        """Drop the caches that depend on ``what``."""
        if what == "cubes":
            self._shown = {}
        if what in ("cubes", "mask", "velocity_range"):
            self._moments, self._velocity_fields, self._emission = {}, {}, None
        if what in ("cubes", "mask"):
            self._mask = None
        if what in ("cubes", "pv"):
            self._pvs = {}

    def observe(self, callback) -> None:
        """Call ``callback(what)`` after each change; ``what`` names the changed setting
        ("cubes", "channel", "view", "velocity_range", "mask", "pixel", "aperture", "stretch",
        "pv", "contours")."""
        self._observers.append(callback)

    def unobserve(self, callback) -> None:
        """Stop calling ``callback``."""
        self._observers.remove(callback)

    def _notify(self, what: str) -> None:
        self._clear(what)
        for callback in list(self._observers):
            callback(what)

    @property
    def names(self) -> list[str]:
        """The cube names, in display order."""
        return list(self.cubes)

    @property
    def reference(self) -> Cube:
        """The first cube: its WCS, beam and velocity axis label every display."""
        return next(iter(self.cubes.values()))

    def title(self, name) -> str:
        """What panel ``name`` is called: its name, "residual (a − b)" for a residual."""
        self._cube(name)
        if name == RESIDUAL and self._residual_of is not None:
            return f"{RESIDUAL} ({self._residual_of[0]} − {self._residual_of[1]})"
        return name

    def _cube(self, name) -> Cube:
        if name not in self.cubes:
            raise ValueError(f"name={name!r} is not one of the cubes {self.names}")
        return self.cubes[name]

    # ------------------------------------------------------------------ channel and view

    @property
    def n_chan(self) -> int:
        """Number of channels."""
        return self.reference.shape[0]

    @property
    def velocity_kms(self) -> np.ndarray:
        """Channel velocities (km/s, radio) of the reference cube."""
        return self._velocity

    @property
    def channel_velocity_kms(self) -> float:
        """Velocity of the current channel, km/s."""
        return float(self._velocity[self._channel])

    def channel_at_velocity(self, velocity_kms) -> int:
        """The channel nearest ``velocity_kms`` (which must lie within the band's channels)."""
        v = checks.number("velocity_kms", velocity_kms)
        half = self.reference.channel_kms / 2.0
        lo, hi = self._velocity.min() - half, self._velocity.max() + half
        if not lo <= v <= hi:
            raise ValueError(f"velocity_kms={v!r} is outside the valid range [{lo:g}, {hi:g}]")
        return int(np.argmin(np.abs(self._velocity - v)))

    @property
    def rest_frequency_hz(self) -> float | None:
        """The reference cube's rest frequency (RESTFRQ / RESTFREQ, Hz), None when it has none."""
        rest = float(self.reference.wcs.wcs.restfrq)
        return rest if rest > 0 else None

    def frequency_ghz(self, velocity_kms):
        """Observed frequency (GHz) of radio velocities, rest (1 - v / c); None without a rest
        frequency."""
        rest = self.rest_frequency_hz
        return None if rest is None else display.frequency_ghz(velocity_kms, rest)

    @property
    def channel_label(self) -> str:
        """"channel {k} · {v:.1f} km/s", and " · {f:.6g} GHz" when the rest frequency is known."""
        v = self.channel_velocity_kms
        label = f"channel {self._channel} · {v:.1f} km/s"
        f = self.frequency_ghz(v)
        return label if f is None else f"{label} · {float(f):.6g} GHz"

    @property
    def unit(self) -> str:
        """Unit of the images in the current view."""
        bunit = str(self.reference.header.get("BUNIT", "")).strip()
        return {"channel": bunit, "mom0": f"{bunit} km/s".strip()}.get(self._view, "km/s")

    # ------------------------------------------------------------------ moments and mask

    @property
    def channel_range(self) -> tuple[int, int]:
        """Half-open channel index range (k0, k1) inside :attr:`velocity_range_kms`."""
        lo, hi = self._velocity_range_kms
        k = np.flatnonzero((self._velocity >= lo - 1e-6) & (self._velocity <= hi + 1e-6))
        return int(k[0]), int(k[-1]) + 1

    @property
    def mask(self):
        """The (v, y, x) moment mask shared by every cube, or None when masking is off (a dask
        array when the ``mask_from`` cube is lazy)."""
        if self._mask_n_sigma is None:
            return None
        if self._mask is None:
            self._mask = metrics.moment_mask(self.cubes[self._mask_from], self._mask_n_sigma)
        return self._mask

    def moments(self, name) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Moment maps 0, 1, 2 of cube ``name`` over the velocity range, with the mask (of a lazy
        cube block-wise, :func:`galcube_lib.metrics.moments`, reading the channels once)."""
        cube = self._cube(name)
        if name not in self._moments:
            k0, k1 = self.channel_range
            mask = None if self.mask is None else self.mask[k0:k1]
            if mask is not None and not lazy.compute(mask.any()):
                # nothing masked in: no emission, but blank spaxels stay NaN
                blank = ~lazy.compute(np.isfinite(cube.data[k0:k1]).any(axis=0))
                empty = np.full(cube.shape[1:], np.nan)
                self._moments[name] = (np.where(blank, np.nan, 0.0), empty, empty)
            else:
                self._moments[name] = metrics.moments(cube.data[k0:k1], self._velocity[k0:k1], mask)
        return self._moments[name]

    def image(self, name) -> np.ndarray:
        """The 2-D (y, x) map shown for cube ``name`` in the current view (do not modify it)."""
        if self._view == "channel":
            return self._channel_image(name)
        return self.moments(name)[VIEWS.index(self._view) - 1]

    def _channel_image(self, name) -> np.ndarray:
        """The current channel of cube ``name``, kept while it is shown (a lazy cube's is read
        once)."""
        shown = self._shown.get(name)
        if shown is None or shown[0] != self._channel:
            shown = self._shown[name] = (self._channel,
                                         lazy.compute(self._cube(name).data[self._channel]))
        return shown[1]

    # ------------------------------------------------------------------ stretch

    def limits(self, *images, symmetric=False) -> tuple[float, float]:
        """Display limits of ``images`` taken together, by the current stretch mode;
        ``symmetric`` makes them (-m, m)."""
        values = np.concatenate([np.ravel(im) for im in images])
        if symmetric:
            return display.diverging_limits(values, 0.0, self._stretch_mode, self._stretch_percent)
        return display.stretch_limits(values, self._stretch_mode, self._stretch_percent)

    def diverging(self, name, view=None) -> bool:
        """Whether panel ``name`` shows values about a centre (a residual about 0, moment 1 about
        the systemic velocity): a diverging colour map and a linear stretch. ``view`` defaults to
        :attr:`view` ("pv" for the PV cut)."""
        return name == RESIDUAL or (view or self._view) == "mom1"

    def stretch_of(self, name, view=None) -> str:
        """The stretch panel ``name`` is shown with: :attr:`stretch_kind`, linear when diverging."""
        return "linear" if self.diverging(name, view) else self._stretch_kind

    @property
    def emission(self) -> np.ndarray:
        """(v, y, x) voxels with emission in the velocity range's channels: those of the moment
        mask when it is on, else :func:`galcube_lib.report.display.emission_mask` of the ``mask_from``
        cube (a dask array for a lazy cube: computed again, block-wise, where it is used)."""
        if self._emission is None:
            k0, k1 = self.channel_range
            mask = self.mask if self.mask is not None else \
                display.emission_mask(self.cubes[self._mask_from])
            self._emission = mask[k0:k1]
        return self._emission

    def velocity_field(self, name) -> np.ndarray:
        """Moment 1 of cube ``name`` over the velocity range in :attr:`emission` only (NaN
        elsewhere): the masked velocity field that sets the moment-1 colour limits."""
        if name not in self._velocity_fields:
            k0, k1 = self.channel_range
            self._velocity_fields[name] = metrics.moments(self._cube(name).data[k0:k1],
                                                          self._velocity[k0:k1], self.emission)[1]
        return self._velocity_fields[name]

    @property
    def systemic_velocity_kms(self) -> float:
        """Centroid of the ``mask_from`` cube's spectrum summed over :attr:`emission` (the middle of
        the velocity range without emission): the centre of the moment-1 colour map."""
        k0, k1 = self.channel_range
        data = np.nan_to_num(self.cubes[self._mask_from].data[k0:k1])
        spectrum = lazy.compute(np.where(self.emission, data, 0.0).sum(axis=(1, 2)))
        if not spectrum.sum() > 0:
            return float(np.mean(self._velocity_range_kms))
        return float(np.average(self._velocity[k0:k1], weights=spectrum))

    def display_limits(self, name) -> tuple[float, float]:
        """(vmin, vmax) of panel ``name`` in the current view.

        Each panel's own (:attr:`linked_limits` False) or shared by all but a residual (True); a
        residual's are symmetric about 0 (but in moment 1); moment 1's hold the central :data:`VELOCITY_PERCENT` of
        :meth:`velocity_field` (inside the velocity range), symmetric about
        :attr:`systemic_velocity_kms`.
        """
        self._cube(name)
        shown = [n for n in self.names if n != RESIDUAL] if self._linked_limits and name != RESIDUAL \
            else [name]
        if self._view == "mom1":   # noise throws moment 1 anywhere, even outside the channels
            lo, hi = self._velocity_range_kms
            values = np.concatenate([np.ravel(self.velocity_field(n)) for n in shown])
            values = values[(values >= lo) & (values <= hi)]
            return display.diverging_limits(values, self.systemic_velocity_kms, "percentile",
                                            VELOCITY_PERCENT)
        return self.limits(*(self.image(n) for n in shown), symmetric=name == RESIDUAL)

    def palette(self, name, sequential, diverging, view=None) -> list:
        """The colours of panel ``name`` (in ``view``, default :attr:`view`): ``sequential`` or
        ``diverging``, resampled for its stretch (:func:`galcube_lib.report.display.stretched_palette`),
        for a linear colour mapper over its limits."""
        return display.stretched_palette(diverging if self.diverging(name, view) else sequential,
                                         self.stretch_of(name, view))

    def stretched(self, image, limits, name=None) -> np.ndarray:
        """``image`` scaled to [0, 1] between ``limits`` by :meth:`stretch_of` panel ``name``
        (:attr:`stretch_kind` without a name); NaN stays NaN."""
        kind = self._stretch_kind if name is None else self.stretch_of(name)
        return display.apply_stretch(image, *limits, kind=kind)

    # ------------------------------------------------------------------ pixel, spectra

    @property
    def offsets_arcsec(self) -> tuple[np.ndarray, np.ndarray]:
        """Sky offsets of the pixel centres (dx toward east along x, dy toward north along y)."""
        return display.sky_offsets_arcsec(self.reference)

    def pixel_at_offset(self, dx_arcsec, dy_arcsec):
        """The pixel (x, y) under the sky offset (arcsec), or None outside the field."""
        dx_arcsec, dy_arcsec = checks.number("dx_arcsec", dx_arcsec), checks.number("dy_arcsec", dy_arcsec)
        dx, dy = self.offsets_arcsec
        half = self.reference.pixel_arcsec / 2.0
        x, y = int(np.argmin(np.abs(dx - dx_arcsec))), int(np.argmin(np.abs(dy - dy_arcsec)))
        if abs(dx[x] - dx_arcsec) > half or abs(dy[y] - dy_arcsec) > half:
            return None
        return x, y

    def _offsets_of(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Sky offsets (arcsec) of 0-based pixel positions, which they are linear in."""
        dx, dy = self.offsets_arcsec
        step_x = (dx[-1] - dx[0]) / max(dx.size - 1, 1)
        step_y = (dy[-1] - dy[0]) / max(dy.size - 1, 1)
        return dx[0] + np.asarray(x, dtype=float) * step_x, dy[0] + np.asarray(y, dtype=float) * step_y

    @property
    def pixel_label(self) -> str:
        """"pixel ({x}, {y}) · RA … Dec …" and the value of each cube there."""
        x, y = self._pixel
        ra, dec = display.pixel_to_radec(self.reference, x, y)
        ra_text = Angle(ra, "deg").to_string(unit="hour", sep=":", precision=3, pad=True)
        dec_text = Angle(dec, "deg").to_string(unit="deg", sep=":", precision=2, alwayssign=True, pad=True)
        values = ", ".join(f"{n} {self.image(n)[y, x]:.3g}" for n in self.names)
        return f"pixel ({x}, {y}) · RA {ra_text} Dec {dec_text} · {values} {self.unit}"

    def spectrum(self, name) -> np.ndarray:
        """Spectrum of cube ``name`` at the selected pixel (the cube's unit, e.g. Jy/beam)."""
        x, y = self._pixel
        return lazy.compute(self._cube(name).data[:, y, x])

    @property
    def aperture_radius_arcsec(self) -> float:
        """:attr:`aperture_radius_px` in arcsec."""
        return self._aperture_radius_px * self.reference.pixel_arcsec

    @property
    def aperture_label(self) -> str:
        """The region's radius in arcsec, "= {r:.3g}″", beside the box that gives it in px."""
        return f"= {self.aperture_radius_arcsec:.3g}″"

    def _region_args(self) -> dict:
        bmaj, bmin = self.reference.beam_fwhm_px
        x, y = self._pixel
        return {"center_yx": (y, x), "radius_px": self._aperture_radius_px,
                "shape": self._aperture_shape, "pa_deg": self.reference.beam_pa_deg,
                "axis_ratio": bmin / bmaj}

    @property
    def aperture_mask(self) -> np.ndarray:
        """(y, x) pixels of the region around the pixel (:attr:`aperture_shape`,
        :attr:`aperture_radius_px`; see :func:`galcube_lib.report.display.region_mask`)."""
        return display.region_mask(self.reference.shape[1:], **self._region_args())

    @property
    def aperture_outline_arcsec(self) -> tuple[np.ndarray, np.ndarray]:
        """Outline (dx, dy), sky offsets in arcsec, of :attr:`aperture_mask`, to draw."""
        return self._offsets_of(*display.region_outline(**self._region_args()))

    def aperture_spectrum(self, name) -> np.ndarray:
        """Flux spectrum (Jy for Jy/beam cubes) of cube ``name`` in the region around the pixel."""
        mask = self.aperture_mask
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = ((0, self.n_chan), (rows[0], rows[-1] + 1), (cols[0], cols[-1] + 1))
        part = self._cube(name).crop(box).compute()      # a lazy cube: only this box is read
        return metrics.aperture_spectrum(part, mask[box[1][0]:box[1][1], box[2][0]:box[2][1]])

    @property
    def spectrum_limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """y limits of the pixel spectra and of the aperture spectra, with zero at one height."""
        pixel = [self.spectrum(n) for n in self.names]
        aperture = [self.aperture_spectrum(n) for n in self.names]
        return tuple(display.zero_aligned_limits(np.concatenate(pixel), np.concatenate(aperture)))

    # ------------------------------------------------------------------ beam, scale, PV

    @property
    def beam(self) -> dict:
        """The reference cube's beam ellipse (see :func:`galcube_lib.report.display.beam_ellipse`)."""
        return display.beam_ellipse(self.reference)

    @property
    def scale_bar(self) -> tuple[float, str]:
        """(length_arcsec, label) of the scale bar."""
        return display.scale_bar(self.reference)

    def pv(self, name) -> tuple[np.ndarray, np.ndarray]:
        """Position-velocity cut of cube ``name``: (pv[n_chan, n_offset], offsets_arcsec)."""
        cube = self._cube(name)
        if name not in self._pvs:
            self._pvs[name] = display.pv_slice(cube.data, self._pv_center_yx, self._pv_pa_deg,
                                               width_px=self._pv_width_px,
                                               pixel_arcsec=cube.pixel_arcsec)
        return self._pvs[name]

    @property
    def pv_endpoints_arcsec(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Sky offsets (dx, dy) of the cut's two ends: first its most negative offset, then its
        most positive (toward the PA), to draw the cut on the images."""
        (cy, cx), pa = self._pv_center_yx, np.radians(self._pv_pa_deg)
        _, offsets = self.pv(self.names[0])
        s_px = offsets[[0, -1]] / self.reference.pixel_arcsec
        x, y = self._offsets_of(cx - s_px * np.sin(pa), cy + s_px * np.cos(pa))   # PA: +y through -x
        return (float(x[0]), float(y[0])), (float(x[1]), float(y[1]))

    # ------------------------------------------------------------------ contours

    def contour_image(self):
        """The map the contours trace (see :attr:`contour_from`, :attr:`contour_view`), or None."""
        if self._contour_from is None:
            return None
        if self._contour_view == "channel":
            return self._channel_image(self._contour_from)
        return self.moments(self._contour_from)[0]

    @property
    def contour_levels(self) -> list[float]:
        """Contour levels of the traced map (:func:`galcube_lib.report.display.contour_levels`: 3, 6, 12,
        24 sigma, at least 10, 20, 40, 80 % of the peak); none when contours are off."""
        image = self.contour_image()
        return [] if image is None else display.contour_levels(image)

    def contours(self) -> dict:
        """Contour lines over the images: {"xs", "ys"} (lists of sky-offset arrays, arcsec) and
        "level" (each line's level, in the traced map's unit)."""
        import contourpy

        out = {"xs": [], "ys": [], "level": []}
        levels = self.contour_levels
        if not levels:
            return out
        generator = contourpy.contour_generator(z=np.ma.masked_invalid(self.contour_image()),
                                                line_type="Separate")
        for level in levels:
            for line in generator.lines(level):
                xs, ys = self._offsets_of(line[:, 0], line[:, 1])
                out["xs"].append(xs)
                out["ys"].append(ys)
                out["level"].append(level)
        return out

    # ------------------------------------------------------------------ export

    def export_fits(self, path, name=None) -> Path:
        """Write what is shown of cube ``name`` (default the first) to ``path``, atomically.

        In the channel view the whole cube (:meth:`Cube.to_fits`); in a moment view the moment
        map over the velocity range with the mask, a 2-D image with the celestial WCS and beam
        (:func:`galcube_lib.metrics.real.moment_images`).
        """
        name = self.names[0] if name is None else name
        cube, path = self._cube(name), Path(path)
        if self._view == "channel":
            return cube.to_fits(path)
        k0, k1 = self.channel_range
        part = cube.crop(((k0, k1), (0, cube.shape[1]), (0, cube.shape[2])))
        mask = None if self.mask is None else self.mask[k0:k1]
        image = moment_images(part, mask)[VIEWS.index(self._view) - 1]
        with atomic_path(path) as tmp:
            image.writeto(tmp)
        return path
