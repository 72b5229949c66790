"""The generator's logic without any widget: parameters, units, building and simulating a scene.

Parameter lists, kinds and starting values come from the library's dataclasses (``Observation``,
``Galaxy``, ``Halo``, ``Bridge``, ``Tail``) and ``add_noise``, their descriptions (tooltips) from
those docstrings; units come from the parameter-name suffixes (docs/conventions.md, Units).
Validation is the library's: a bad value surfaces as its ValueError or TypeError in the log,
prefixed with the part of the scene it belongs to.
"""
from __future__ import annotations

import dataclasses
import inspect
import time
import warnings
from dataclasses import dataclass

import numpy as np

import galcube_lib as gl
from galcube_lib.io import checks
from galcube_lib.sim import rotation
from galcube_lib.noise.realise import KINDS

from ._docs import parameter_docs

#: parameter-name suffix -> unit, longest suffix first (``flux_jy_kms`` is not in km/s)
SUFFIX_UNITS = (("_jy_kms", "Jy km/s"), ("_kms", "km/s"), ("_kpc", "kpc"), ("_deg", "deg"),
                ("_arcsec", "arcsec"), ("_px", "px"), ("_ghz", "GHz"), ("_jy", "Jy/beam"))
#: string parameters and their choices (``spectral_axis`` is checked inline by Observation)
#: noise kinds: add_noise's names, and "cube" for a real noise cube (``noise_cube``), the name
#: add_noise records for one
NOISE_KINDS = (*KINDS, "cube")
CHOICES = {"rotation": rotation.NAMES, "spectral_axis": ("VRAD", "FREQ"), "kind": NOISE_KINDS}
#: pairs of parameters of which the user gives one and the library derives the other
ALTERNATIVES = {"pixel": ("pixel_kpc", "pixel_arcsec"), "beam": ("beam_fwhm_px", "beam_fwhm_arcsec"),
                "level": ("peak_snr", "rms_jy")}
#: add_noise has no default level: the generator starts at this peak SNR
START_PEAK_SNR = 4.0
#: a new galaxy copies the last one, this many of its R_e further along x (a Bridge needs
#: distinct centres)
GALAXY_SPACING_R_EFF = 3.0
#: a new satellite or diffuse component starts scaled from its host disk:
#: {parameter: (host parameter, factor)}; offset_kpc is (factor * host R_e, 0) from the host
SATELLITE_START = {"r_eff_kpc": ("r_eff_kpc", 0.3), "flux_jy_kms": ("flux_jy_kms", 0.2),
                   "offset_kpc": ("r_eff_kpc", 2.5)}
DIFFUSE_START = {"flux_jy_kms": ("flux_jy_kms", 0.2), "r_eff_kpc": ("r_eff_kpc", 3.0),
                 "length_kpc": ("r_eff_kpc", 3.0)}
DIFFUSE = {cls.__name__: cls for cls in (gl.Halo, gl.Bridge, gl.Tail)}
#: what a control calls a parameter (the unit follows in brackets); others show their name
LABELS = {"n_pix": "pixels per side", "n_chan": "channels", "channel_kms": "channel width",
          "v_center_kms": "band centre", "pixel_kpc": "pixel size",
          "pixel_arcsec": "pixel size", "rest_freq_ghz": "rest frequency",
          "beam_fwhm_px": "beam FWHM", "beam_fwhm_arcsec": "beam FWHM", "beam_pa_deg": "beam PA",
          "hanning": "Hanning smoothing", "spectral_axis": "FITS spectral axis",
          "ra_deg": "centre RA", "dec_deg": "centre Dec", "sersic_n": "Sersic index",
          "r_eff_kpc": "half-light radius", "h_z_kpc": "scale height", "flux_jy_kms": "line flux",
          "inclination_deg": "inclination", "pa_deg": "position angle",
          "v_max_kms": "rotation speed", "rotation": "rotation curve",
          "r_turn_kpc": "turnover radius", "sigma_kms": "dispersion",
          "offset_kpc": "centre offset x, y", "v_sys_kms": "systemic velocity",
          "host": "host disk", "a": "from disk", "b": "to disk", "width_kpc": "width (FWHM)",
          "bend_kpc": "bend (sagitta)", "length_kpc": "length", "angle_deg": "start direction",
          "dv_kms": "Δv base to tip", "bend_deg": "bend", "kind": "noise kind",
          "peak_snr": "peak SNR", "rms_jy": "noise rms"}


def unit_of(name: str) -> str:
    """The unit a parameter name declares by its suffix ("" for dimensionless ones)."""
    return next((unit for suffix, unit in SUFFIX_UNITS if name.endswith(suffix)), "")


@dataclass(frozen=True)
class Param:
    """One control of the generator.

    Attributes
    ----------
    name : str
        The library's parameter name.
    kind : str
        "int", "float", "optional" (a float or None: the library derives it), "pair",
        "bool", "choice" or "disk" (the name of a galaxy or satellite).
    unit : str
        From the name's suffix.
    choices : tuple
        Allowed values of a "choice".
    doc : str
        Its description in the library's docstring (its type where there is none).
    """

    name: str
    kind: str
    unit: str
    choices: tuple = ()
    doc: str = ""

    @property
    def label(self) -> str:
        """A readable name with the unit, as a control shows it."""
        label = LABELS.get(self.name, self.name)
        return f"{label} [{self.unit}]" if self.unit else label

    @property
    def tooltip(self) -> str:
        """The library's name and description, shown on hover."""
        return f"{self.name}: {self.doc}"


def _kind(name: str, value, annotation) -> str:
    if annotation == "Galaxy":
        return "disk"
    if name in CHOICES:
        return "choice"
    if value is None:
        return "optional"
    for kind, types in (("bool", (bool, np.bool_)), ("int", int), ("float", float), ("pair", tuple)):
        if isinstance(value, types):
            return kind
    raise TypeError(f"no control for parameter {name}={value!r}")


def _param(name: str, kind: str, docs: dict) -> Param:
    """A Param described by ``docs`` (:func:`~widgets._docs.parameter_docs`)."""
    doc_type, desc = docs.get(name, ("", ""))
    return Param(name, kind, unit_of(name), CHOICES.get(name, ()), desc or doc_type)


def params_of(cls, example=None) -> tuple[Param, ...]:
    """The controls of a dataclass: kinds from ``example``'s values (default: field defaults;
    fields without one are floats)."""
    out, docs = [], parameter_docs(cls)
    for f in dataclasses.fields(cls):
        value = getattr(example, f.name) if example is not None else (
            1.0 if f.default is dataclasses.MISSING else f.default)
        out.append(_param(f.name, _kind(f.name, value, f.type), docs))
    return tuple(out)


def _defaults(cls, example=None) -> dict:
    """Starting values: ``example``'s (a resolved instance) or the fields' defaults."""
    if example is not None:
        return {f.name: getattr(example, f.name) for f in dataclasses.fields(cls)}
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def _noise_defaults() -> dict:
    params = inspect.signature(gl.add_noise).parameters
    return {"kind": params["kind"].default, "peak_snr": START_PEAK_SNR,
            "rms_jy": params["rms_jy"].default}


_OBSERVATION = gl.Observation()
_GALAXY = gl.Galaxy()
OBSERVATION_PARAMS = params_of(gl.Observation, _OBSERVATION)
GALAXY_PARAMS = params_of(gl.Galaxy, _GALAXY)
DIFFUSE_PARAMS = {kind: params_of(cls) for kind, cls in DIFFUSE.items()}
_NOISE_DOCS = parameter_docs(gl.add_noise)
NOISE_PARAMS = tuple(_param(name, kind, _NOISE_DOCS)
                     for name, kind in (("kind", "choice"), ("peak_snr", "float"), ("rms_jy", "optional")))


def _scaled(host: dict, start: dict, names) -> dict:
    return {name: start[name][1] * host[start[name][0]] for name in names if name in start}


class GeneratorModel:
    """Everything the generator panel shows and does, as plain Python.

    Parameters
    ----------
    rng : int, None, numpy SeedSequence or Generator
        Randomness of the noise, given to ``add_noise(rng=...)`` at every generation (SPEC 7):
        an int or a SeedSequence draws the same noise each time, None or a Generator new noise.

    Attributes
    ----------
    observation : dict
        Observation parameters by name (both of each alternative pair; see ``given``).
    galaxies : list of dict
        Galaxy parameters of each galaxy.
    satellites : list of list of dict
        Per galaxy, its satellites: Galaxy parameters with ``offset_kpc`` and ``v_sys_kms``
        relative to the host galaxy.
    diffuse : list of dict
        Halo/Bridge/Tail parameters with a "kind" key; their Galaxy fields (host, a, b) hold
        disk names (:meth:`disk_names`).
    noise : dict
        ``kind`` (one of ``NOISE_KINDS``), ``peak_snr``, ``rms_jy``.
    noise_cube : numpy.ndarray or None
        The real noise cube that kind "cube" adds (see ``add_noise``), from :meth:`load_noise_cube`.
    given : dict
        For each of ``ALTERNATIVES``, the parameter the user gives; the other one is shown
        with the value the library derived at the last :meth:`generate`.
    rng : int, None, numpy SeedSequence or Generator
    log : list of str
        One line per action: generation summaries and errors.
    error : str or None
        The last error, None after a success.
    cube : Cube or None
        The last generated (noisy) cube.
    """

    def __init__(self, *, rng=0):
        self.observation = _defaults(gl.Observation, _OBSERVATION)
        self.galaxies = [_defaults(gl.Galaxy, _GALAXY)]
        self.satellites = [[]]
        self.diffuse = []
        self.noise = _noise_defaults()
        self.noise_cube = None
        self.given = {key: pair[0] for key, pair in ALTERNATIVES.items()}
        self.rng = rng
        self.log = []
        self.error = None
        self.cube = None

    # ------------------------------------------------------------------ counts

    @property
    def n_galaxies(self) -> int:
        """Number of galaxies; growing it appends copies of the last one, shifted along x."""
        return len(self.galaxies)

    @n_galaxies.setter
    def n_galaxies(self, n: int):
        n = checks.integer("n_galaxies", n, 1)
        del self.galaxies[n:], self.satellites[n:]
        while len(self.galaxies) < n:
            last = self.galaxies[-1]
            x, y = last["offset_kpc"]
            self.galaxies.append({**last, "offset_kpc": (x + GALAXY_SPACING_R_EFF * last["r_eff_kpc"], y)})
            self.satellites.append([])

    def set_n_satellites(self, galaxy: int, n: int) -> None:
        """Give galaxy ``galaxy`` (0-based) ``n`` satellites (new ones start from SATELLITE_START)."""
        galaxy = checks.integer("galaxy", galaxy, 0, self.n_galaxies - 1)
        n = checks.integer("n_satellites", n, 0)
        sats, host = self.satellites[galaxy], self.galaxies[galaxy]
        del sats[n:]
        while len(sats) < n:
            sat = {**_defaults(gl.Galaxy, _GALAXY), **_scaled(host, SATELLITE_START, ("r_eff_kpc", "flux_jy_kms"))}
            reach = SATELLITE_START["offset_kpc"][1] * host["r_eff_kpc"]
            sat["offset_kpc"], sat["v_sys_kms"] = (reach * (len(sats) + 1), 0.0), 0.0
            sats.append(sat)

    def n_diffuse(self, kind: str) -> int:
        """Number of diffuse components of ``kind`` ("Halo", "Bridge", "Tail")."""
        return sum(d["kind"] == kind for d in self.diffuse)

    def set_n_diffuse(self, kind: str, n: int) -> None:
        """Keep ``n`` components of ``kind``: drop the last ones or add new ones, attached to the
        first disk (a Bridge from the first to the second disk)."""
        cls = DIFFUSE[checks.choice("kind", kind, tuple(DIFFUSE))]
        n = checks.integer(f"n_{kind.lower()}s", n, 0)
        while self.n_diffuse(kind) > n:
            last = max(i for i, d in enumerate(self.diffuse) if d["kind"] == kind)
            del self.diffuse[last]
        disks = self.disk_names()
        while self.n_diffuse(kind) < n:
            spec = {"kind": kind, **_defaults(cls)}
            refs = [p.name for p in DIFFUSE_PARAMS[kind] if p.kind == "disk"]
            for ref, disk in zip(refs, disks + [None] * len(refs)):
                spec[ref] = disk
            host = self._disk_params(disks[0])
            required = [p.name for p in DIFFUSE_PARAMS[kind] if p.name not in spec]
            spec.update(_scaled(host, DIFFUSE_START, required))
            self.diffuse.append(spec)

    # ------------------------------------------------------------------ scene

    def disk_names(self) -> list[str]:
        """Names of every disk a diffuse component can attach to."""
        names = []
        for g, sats in enumerate(self.satellites):
            names.append(f"galaxy {g + 1}")
            names += [f"galaxy {g + 1} satellite {s + 1}" for s in range(len(sats))]
        return names

    def _disk_params(self, name: str) -> dict:
        g, _, s = name.removeprefix("galaxy ").partition(" satellite ")
        host = self.galaxies[int(g) - 1]
        if not s:
            return host
        sat = self.satellites[int(g) - 1][int(s) - 1]
        offset = tuple(h + o for h, o in zip(host["offset_kpc"], sat["offset_kpc"]))
        return {**sat, "offset_kpc": offset, "v_sys_kms": host["v_sys_kms"] + sat["v_sys_kms"]}

    def params(self, section: str, kind: str | None = None) -> tuple[Param, ...]:
        """The controls of a section: "observation", "galaxy", "satellite", "diffuse" (with
        ``kind``) or "noise"."""
        table = {"observation": OBSERVATION_PARAMS, "galaxy": GALAXY_PARAMS,
                 "satellite": GALAXY_PARAMS, "noise": NOISE_PARAMS}
        return DIFFUSE_PARAMS[kind] if section == "diffuse" else table[section]

    def build_observation(self) -> gl.Observation:
        """The Observation of the current values (each alternative pair's given member only)."""
        skipped = {a for key, pair in ALTERNATIVES.items() for a in pair if a != self.given[key]}
        return _labelled("observation", gl.Observation,
                         **{k: v for k, v in self.observation.items() if k not in skipped})

    def components(self) -> list:
        """The Galaxy, Halo, Bridge and Tail objects of the current values, in that order:
        galaxies each followed by its satellites, then the diffuse components."""
        disks = {name: _labelled(name, gl.Galaxy, **self._disk_params(name))
                 for name in self.disk_names()}
        out = list(disks.values())
        for i, spec in enumerate(self.diffuse):
            label = f"{spec['kind'].lower()} {i + 1}"
            kwargs = {}
            for p in DIFFUSE_PARAMS[spec["kind"]]:
                value = spec[p.name]
                if p.kind == "disk":
                    if value not in disks:
                        raise ValueError(f"{label}: {p.name}={value!r} is not one of the disks "
                                         f"({', '.join(disks)})")
                    value = disks[value]
                kwargs[p.name] = value
            out.append(_labelled(label, DIFFUSE[spec["kind"]], **kwargs))
        return out

    def generate(self, progress=None):
        """Simulate the scene and add noise; log the outcome.

        Parameters
        ----------
        progress : callable, optional
            Called as ``progress(fraction, text)`` before each step and at the end.

        Returns
        -------
        Cube or None
            The noisy cube (its ``clean`` is the truth), also kept as ``cube``; None when a
            parameter was refused (the error is logged and kept in ``error``). The library's
            warnings (e.g. a galaxy outside the field) are logged too.
        """
        report = progress or (lambda fraction, text: None)
        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:     # the library's notes, logged
                warnings.simplefilter("always")
                obs, comps, cube = self._simulate(report)
        except (ValueError, TypeError) as exc:
            self.error = str(exc)
            self.log.append(f"error: {exc}")
            report(1.0, "failed")
            return None
        finally:
            self.log += [f"warning: {w.message}" for w in caught]
        self._show_derived(obs, cube)
        noise = cube.record["noise"]
        peak_snr = float(np.max(cube.clean)) / noise["rms_jy"]
        shape = "x".join(map(str, cube.shape))
        self.log.append(f"simulated {shape} ({len(comps)} component(s)) in "
                        f"{time.perf_counter() - start:.2f} s, {noise['kind']} noise, "
                        f"peak SNR {peak_snr:.1f}, sigma {noise['rms_jy']:.3g} Jy/beam")
        self.cube, self.error = cube, None
        report(1.0, "done")
        return cube

    def _simulate(self, report):
        """The Observation, the components and the noisy cube of the current values."""
        report(0.0, "building the scene")
        obs, comps = self.build_observation(), self.components()
        report(0.2, "simulating")
        clean = gl.simulate(comps, obs)
        report(0.8, "adding noise")
        level = {self.given["level"]: self.noise[self.given["level"]]}
        kind = self.noise["kind"]
        if kind == "cube" and self.noise_cube is None:
            raise ValueError("noise: kind='cube' needs a noise cube: load one first")
        kind = self.noise_cube if kind == "cube" else kind
        return obs, comps, _labelled("noise", gl.add_noise, clean, kind=kind, rng=self.rng, **level)

    def _show_derived(self, obs, cube) -> None:
        """Fill each alternative the user did not give with the value the library used."""
        rms = cube.record["noise"]["rms_jy"]
        derived = {**{name: getattr(obs, name) for name in self.observation},
                   "rms_jy": rms, "peak_snr": float(np.max(cube.clean)) / rms}
        for key, pair in ALTERNATIVES.items():
            for name in pair:
                if name != self.given[key]:
                    target = self.noise if key == "level" else self.observation
                    target[name] = derived[name]

    def load_noise_cube(self, path) -> None:
        """Read a FITS cube (e.g. line-free channels of an observation) as the noise of kind
        "cube"; a failure is logged and kept in ``error``."""
        try:
            self.noise_cube, self.error = gl.read_fits(path).data, None
        except (OSError, ValueError, TypeError) as exc:
            self.error = f"noise cube {path}: {exc}"
            self.log.append(f"error: {self.error}")
            return
        shape = "x".join(map(str, self.noise_cube.shape))
        self.log.append(f"loaded noise cube {shape} from {path}")

    def save_fits(self, path):
        """Write the last generated cube (with its truth and record) atomically to ``path``.

        Raises
        ------
        RuntimeError
            When nothing has been generated yet.
        ValueError
            When ``path`` is empty.
        """
        if self.cube is None:
            raise RuntimeError("nothing to save: generate a cube first")
        if not str(path).strip():
            raise ValueError("the FITS path is empty: give a file name such as galcube_cube.fits")
        written = self.cube.to_fits(path)
        self.log.append(f"saved {written}")
        return written


def _labelled(label: str, build, *args, **kwargs):
    """``build(*args, **kwargs)``, with ``label`` put in front of the library's error."""
    try:
        return build(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{label}: {exc}") from exc
