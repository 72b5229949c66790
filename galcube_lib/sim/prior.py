"""Population priors: random scenes (galaxies + observation + SNR) for datasets and benchmarks."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from galcube_lib._util import rng as _rng
from galcube_lib._util import checks as check
from galcube_lib.sim.observation import Observation
from galcube_lib.sim.components import Galaxy

# The (low, high) ranges of BenchmarkPrior: where their ends may lie, (lo, hi, lo excluded).
RANGES = {"sersic_n": (0.2, 10.0, True), "r_eff_beam_radii": (0.0, None, True),
          "h_z_over_r_eff": (0.0, None, True), "sigma_kms": (0.0, None, True),
          "v_max_kms": (0.0, None, False), "r_turn_over_r_eff": (0.0, None, True),
          "companion_flux_ratio": (0.0, None, True), "companion_separation_px": (0.0, None, False),
          "peak_snr": (0.0, None, True)}
MAX_GALAXIES = 100   # galaxies one scene may hold
GALAXY_FIELDS = ("sersic_n", "r_eff_kpc", "h_z_kpc", "flux_jy_kms", "inclination_deg", "pa_deg",
                 "v_max_kms", "r_turn_kpc", "sigma_kms", "v_sys_kms")


@dataclass(frozen=True)
class Scene:
    """One draw from a prior: what to simulate, how to observe it and how noisy to make it.

    Parameters
    ----------
    components : list
        The Galaxy (and other) components; the first is the central disk.
    observation : Observation
        The observing set-up.
    peak_snr : float
        Peak SNR of the noisy cube, ``max(clean) / sigma`` (docs/conventions.md, SNR).
    noise_kind : str, optional
        The ``kind`` of :func:`add_noise` (default "beam").
    """

    components: list
    observation: Observation
    peak_snr: float
    noise_kind: str = "beam"

    def params(self, max_galaxies: int = 2) -> dict:
        """Every drawn parameter as one flat row.

        Parameters
        ----------
        max_galaxies : int, optional
            Galaxies the row has columns for (default 2), >= the scene's number.

        Returns
        -------
        dict
            ``n_galaxies``, ``peak_snr``, ``noise_kind``, ``r_eff_px`` and ``resolved`` (R_e of
            the first disk >= half the beam's major FWHM) of the scene, and ``g<k>_<field>``
            (the Galaxy fields, ``g<k>_offset_x_kpc``/``_y_kpc``) for k < ``max_galaxies``,
            NaN for galaxies the scene does not have.

        Raises
        ------
        ValueError
            The scene has more than ``max_galaxies`` galaxies.
        """
        if len(self.components) > max_galaxies:
            raise ValueError(f"the scene has {len(self.components)} galaxies but max_galaxies="
                             f"{max_galaxies!r}: give max_galaxies >= {len(self.components)} so that "
                             "none is left out of the row")
        obs = self.observation
        beam_radius_px = obs.beam_fwhm_px[0] / 2.0
        first = self.components[0]
        row = {"n_galaxies": len(self.components), "peak_snr": self.peak_snr,
               "noise_kind": self.noise_kind,
               "r_eff_px": first.r_eff_kpc / obs.pixel_kpc,
               "resolved": bool(first.r_eff_kpc / obs.pixel_kpc >= beam_radius_px)}
        for k in range(max_galaxies):
            gal = self.components[k] if k < len(self.components) else None
            for name in GALAXY_FIELDS:
                row[f"g{k}_{name}"] = getattr(gal, name) if gal else math.nan
            for axis, name in enumerate(("x", "y")):
                row[f"g{k}_offset_{name}_kpc"] = gal.offset_kpc[axis] if gal else math.nan
        return row


def _uniform(gen, bounds):
    return float(gen.uniform(*bounds))


@dataclass(frozen=True)
class BenchmarkPrior:
    """The toy population of the published benchmark (Lahiry et al. 2026).

    40 channels x 96 x 96 px, 30 km/s channels over +-600 km/s, circular beam of 3.75 px FWHM,
    1-2 disks of Sersic n 0.5-1.5 with R_e log-uniform from a quarter to four beam radii,
    dispersion 30-50 km/s, isotropic inclinations, arctan rotation curves, peak SNR 2.5-10.
    Every disk's line stays inside the band (|v_sys| + v_max sin i + 3 sigma <= its half-width
    less one channel: 570 km/s).
    Ranges are (low, high) tuples (n_galaxies at most 100); lengths in kpc at ``pixel_kpc`` per
    pixel. Every value is checked when the prior is made (a ValueError names it).

    Parameters
    ----------
    n_pix : int
        Field side in px (default 96).
    n_chan : int
        Number of channels (default 40).
    channel_kms : float
        Channel width in km/s (default 30).
    beam_fwhm_px : float
        FWHM of the circular beam in px, > 0 (default 3.75).
    pixel_kpc : float
        Pixel size in kpc, > 0 (default 0.5).
    n_galaxies : (int, int)
        Fewest and most disks per scene, 1-100, drawn uniformly (default (1, 2)).
    sersic_n : (float, float)
        Range of the Sersic index, within (0.2, 10] (default (0.5, 1.5)).
    r_eff_beam_radii : (float, float)
        Range of R_e in beam radii (FWHM / 2), > 0, drawn log-uniformly (default (0.25, 4)).
    h_z_over_r_eff : (float, float)
        Range of the scale height over R_e, > 0 (default (0.1, 0.3)).
    sigma_kms : (float, float)
        Range of the velocity dispersion in km/s, > 0 (default (30, 50)).
    v_max_kms : (float, float)
        Range of the rotation speed in km/s, >= 0 (default (100, 300)).
    r_turn_over_r_eff : (float, float)
        Range of the arctan turn-over radius over R_e, > 0 (default (0.1, 0.5)).
    companion_flux_ratio : (float, float)
        Range of a companion's flux over the central disk's, > 0 (default (0.3, 1)).
    companion_separation_px : (float, float)
        Range of a companion's distance from the centre in px, >= 0 (default (8, 30)).
    companion_dv_kms : float
        Largest |v_sys| of a companion in km/s, >= 0 (default 200).
    peak_snr : (float, float)
        Range of the peak SNR, > 0, drawn uniformly (default (2.5, 10)).
    """

    n_pix: int = 96
    n_chan: int = 40
    channel_kms: float = 30.0
    beam_fwhm_px: float = 3.75
    pixel_kpc: float = 0.5
    n_galaxies: tuple = (1, 2)
    sersic_n: tuple = (0.5, 1.5)
    r_eff_beam_radii: tuple = (0.25, 4.0)
    h_z_over_r_eff: tuple = (0.1, 0.3)
    sigma_kms: tuple = (30.0, 50.0)
    v_max_kms: tuple = (100.0, 300.0)
    r_turn_over_r_eff: tuple = (0.1, 0.5)
    companion_flux_ratio: tuple = (0.3, 1.0)
    companion_separation_px: tuple = (8.0, 30.0)
    companion_dv_kms: float = 200.0
    peak_snr: tuple = (2.5, 10.0)

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        for name, (lo, hi, lo_open) in RANGES.items():
            set_(name, check.interval(name, getattr(self, name), lo, hi, lo_open=lo_open))
        set_("n_galaxies", check.interval("n_galaxies", self.n_galaxies, 1, MAX_GALAXIES, integral=True))
        set_("companion_dv_kms", check.number("companion_dv_kms", self.companion_dv_kms, 0.0, None))
        for name in ("beam_fwhm_px", "pixel_kpc"):   # optional in an Observation, not here
            set_(name, check.number(name, getattr(self, name), 0.0, None, lo_open=True))
        self.observation()   # checks n_pix, n_chan, channel_kms and the beam against them

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_chan, n_pix, n_pix) of every cube this prior draws."""
        return (self.n_chan, self.n_pix, self.n_pix)

    def observation(self) -> Observation:
        """The fixed observing set-up of the population.

        Returns
        -------
        Observation
            ``n_pix``, ``n_chan``, ``channel_kms``, ``pixel_kpc`` and ``beam_fwhm_px`` of the
            prior, the other fields at their defaults.
        """
        return Observation(n_pix=self.n_pix, n_chan=self.n_chan, channel_kms=self.channel_kms,
                           pixel_kpc=self.pixel_kpc, beam_fwhm_px=self.beam_fwhm_px)

    def _disk(self, gen, flux, offset_kpc, v_sys_limit) -> Galaxy:
        beam_radius_kpc = self.beam_fwhm_px / 2.0 * self.pixel_kpc
        lo, hi = (math.log(b * beam_radius_kpc) for b in self.r_eff_beam_radii)
        r_eff = math.exp(gen.uniform(lo, hi))
        inc = math.degrees(math.acos(gen.uniform(0.0, 1.0)))
        v_max = _uniform(gen, self.v_max_kms)
        sigma = _uniform(gen, self.sigma_kms)
        inside = self.n_chan * self.channel_kms / 2 - self.channel_kms   # 570 km/s by default
        room = max(0.0, inside - v_max * math.sin(math.radians(inc)) - 3.0 * sigma)
        limit = min(v_sys_limit, room)
        return Galaxy(sersic_n=_uniform(gen, self.sersic_n), r_eff_kpc=r_eff,
                      h_z_kpc=r_eff * _uniform(gen, self.h_z_over_r_eff), flux_jy_kms=flux,
                      inclination_deg=inc, pa_deg=float(gen.uniform(-180.0, 180.0)),
                      v_max_kms=v_max, rotation="arctan",
                      r_turn_kpc=r_eff * _uniform(gen, self.r_turn_over_r_eff), sigma_kms=sigma,
                      offset_kpc=offset_kpc, v_sys_kms=float(gen.uniform(-limit, limit)))

    def draw(self, rng) -> Scene:
        """Draw one scene.

        Parameters
        ----------
        rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
            Randomness (docs/conventions.md, Randomness); a Generator is advanced.

        Returns
        -------
        Scene
            The disks (the first at the centre with flux 1 Jy km/s and v_sys 0, companions
            with ``companion_flux_ratio`` of it), the observation and a peak SNR.
        """
        gen, _ = _rng.generator(rng)
        n = int(gen.integers(self.n_galaxies[0], self.n_galaxies[1] + 1))
        galaxies = [self._disk(gen, 1.0, (0.0, 0.0), 0.0)]
        for _ in range(n - 1):
            sep = _uniform(gen, self.companion_separation_px) * self.pixel_kpc
            angle = gen.uniform(0.0, 2 * math.pi)
            galaxies.append(self._disk(gen, _uniform(gen, self.companion_flux_ratio),
                                       (sep * math.cos(angle), sep * math.sin(angle)),
                                       self.companion_dv_kms))
        return Scene(galaxies, self.observation(), _uniform(gen, self.peak_snr))

    def to_dict(self) -> dict:
        """A JSON-able description; :func:`prior_from_dict` rebuilds the prior.

        Returns
        -------
        dict
            ``{"name": "BenchmarkPrior", field: value, ...}``, tuples as lists.
        """
        return {"name": type(self).__name__,
                **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}}


def draw_disk(gen, beam_fwhm_px, channel_kms: float, r_eff_beam_radii=(0.5, 3.0),
              line_channels=(3.0, 40.0)) -> Galaxy:
    """A disk in a cube's own units (1 kpc = 1 px, km/s of its channels), centred on the band.

    Parameters
    ----------
    gen : numpy.random.Generator
        Randomness.
    beam_fwhm_px : (float, float)
        The cube's beam FWHM (bmaj, bmin) in pixels.
    channel_kms : float
        The cube's channel width in km/s (> 0).
    r_eff_beam_radii : (float, float)
        Range of R_e in beam radii (FWHM / 2 of the geometric-mean beam), log-uniform.
    line_channels : (float, float)
        Range of the line width in channels, log-uniform.

    Returns
    -------
    Galaxy
        Sersic n 0.5-1.5, isotropic inclination, an arctan rotation curve with
        2 v_max sin i = width and a dispersion FWHM of half the width (the integrated line's
        FWHM comes out at 0.8-1.1 times the width drawn); flux 1 Jy km/s.
    """
    beam = math.sqrt(beam_fwhm_px[0] * beam_fwhm_px[1])
    lo, hi = (math.log(b * beam / 2.0) for b in r_eff_beam_radii)
    r_eff = math.exp(gen.uniform(lo, hi))
    width = math.exp(gen.uniform(*(math.log(c) for c in line_channels))) * abs(channel_kms)
    inc = math.degrees(math.acos(gen.uniform(0.0, 1.0)))
    sin_i = max(math.sin(math.radians(inc)), 0.2)
    return Galaxy(sersic_n=float(gen.uniform(0.5, 1.5)), r_eff_kpc=r_eff,
                  h_z_kpc=r_eff * float(gen.uniform(0.1, 0.3)), inclination_deg=inc,
                  pa_deg=float(gen.uniform(-180.0, 180.0)), v_max_kms=width / 2.0 / sin_i,
                  rotation="arctan", r_turn_kpc=r_eff * float(gen.uniform(0.1, 0.5)),
                  sigma_kms=width / 2.0 / 2.3548)


PRIORS = {"BenchmarkPrior": BenchmarkPrior}


def prior_from_dict(d: dict):
    """Rebuild a prior from :meth:`BenchmarkPrior.to_dict` output.

    Parameters
    ----------
    d : dict
        The description, with the prior's ``"name"``; unknown keys are ignored.

    Returns
    -------
    BenchmarkPrior
        The prior.

    Raises
    ------
    ValueError
        An unknown name, or a field out of range.
    """
    d = dict(d)
    cls = PRIORS.get(d.pop("name", None))
    if cls is None:
        raise ValueError(f"unknown prior {d!r}; known: {', '.join(PRIORS)}")
    names = {f.name for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})
