"""Physical property maps of simulated galaxies: gas and star-formation-rate surface densities.

The maps lie on the cube's sky grid at the cube's resolution and follow from the noise-free line
emission through published relations (docs/conventions.md, Property maps):

* the line surface brightness, from each component's noise-free moment 0, as a luminosity
  surface density Sigma_line in L_sun kpc^-2 (Planck18 luminosity distance, proper kpc);
* Sigma_gas = alpha Sigma_[CII], alpha = 31 M_sun / L_sun (Zanella et al. 2018);
* Sigma_SFR by one of two label models:

  - "moment0": the Sigma_[CII]-Sigma_SFR relation of Herrera-Camus et al. (2015); it depends on
    the line surface brightness alone (the negative control);
  - "kinematic": Sigma_SFR = epsilon Sigma_gas Omega, Omega = v(R) / R from the rotation curve
    that shapes the cube (Kennicutt 1998), so the spectral axis carries information on it;
  - "delooze2014-all", "-starburst", "-highz": each component's SFR from its [CII] luminosity
    by a global fit of De Looze et al. (2014), spread over the component like its line; they too
    depend on the line alone.

Each relation's published scatter is drawn from ``rng`` as a log-normal factor that is spatially
correlated on ``scatter_scale_kpc``; the same arguments give the same maps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from galcube_lib._util import checks as check
from galcube_lib._util import rng as _rng
from galcube_lib._util.conventions import sky_axes
from galcube_lib.sim.components import COMPONENTS, Galaxy, Halo
from galcube_lib.sim.observation import Observation
from galcube_lib.sim.rotation import curve
from galcube_lib.sim.simulate import simulate

MIN_COS_I = math.cos(math.radians(85.0))   # deprojection of edge-on disks stops here


@dataclass(frozen=True)
class Relation:
    """A published power law ``log10 y = slope log10 x + intercept`` with a log-normal scatter.

    Parameters
    ----------
    name : str
        Short name.
    slope, intercept : float
        The fit.
    scatter_dex : float
        Its published 1-sigma scatter in dex, >= 0.
    units : str
        Units of x and y.
    reference : str
        Where the coefficients come from.
    """

    name: str
    slope: float
    intercept: float
    scatter_dex: float
    units: str
    reference: str

    def __call__(self, log_x):
        """The relation's log10 y for log10 x (no scatter).

        Parameters
        ----------
        log_x : float or numpy.ndarray
            log10 of x in the relation's units.

        Returns
        -------
        float or numpy.ndarray
            log10 y.
        """
        return self.slope * np.asarray(log_x) + self.intercept


CII_TO_GAS = Relation("zanella2018", 1.0, math.log10(31.0), 0.3,
                      "Sigma_[CII] in L_sun kpc^-2 -> Sigma_gas in M_sun kpc^-2",
                      "Zanella et al. 2018, MNRAS 481, 1976: alpha_[CII] = 31 M_sun/L_sun, 0.3 dex")
CII_TO_SFR = Relation("herrera-camus2015", 1.13, -8.52, 0.21,
                      "Sigma_[CII] in L_sun kpc^-2 -> Sigma_SFR in M_sun yr^-1 kpc^-2",
                      "Herrera-Camus et al. 2015, ApJ 800, 1, eq. 2 (0.21 dex)")
#: De Looze et al. 2014 (A&A 568, A62), Table 3: the global L_[CII]-SFR fits of three samples
LUMINOSITY_TO_SFR = {
    f"delooze2014-{sample}": Relation(f"delooze2014-{sample}", slope, intercept, scatter,
                                      "L_[CII] in L_sun -> SFR in M_sun yr^-1",
                                      f"De Looze et al. 2014, A&A 568, A62, Table 3 ({label}, {scatter} dex)")
    for sample, label, slope, intercept, scatter in (("all", "all galaxies", 1.01, -6.99, 0.42),
                                                     ("starburst", "starbursts", 1.00, -7.06, 0.27),
                                                     ("highz", "high-z galaxies", 1.18, -8.52, 0.40))}
SFR_PER_ORBIT = Relation("kennicutt1998", 1.0, math.log10(0.017), 0.3,
                         "Sigma_gas Omega in M_sun kpc^-2 yr^-1 -> Sigma_SFR in M_sun yr^-1 kpc^-2",
                         "Kennicutt 1998, ApJ 498, 541, eq. 5: Sigma_SFR = 0.017 Sigma_gas Omega")
#: the star-formation relation of each label model
SFR_RELATIONS = {"moment0": CII_TO_SFR, "kinematic": SFR_PER_ORBIT, **LUMINOSITY_TO_SFR}
LABEL_MODELS = tuple(SFR_RELATIONS)


@dataclass(frozen=True)
class PropertyMaps:
    """Surface-density maps (y, x) on a cube's sky grid, 0 where there is no line emission.

    Attributes
    ----------
    sigma_line : numpy.ndarray
        Line luminosity surface density, L_sun kpc^-2 (sky plane, no scatter).
    sigma_gas : numpy.ndarray
        Gas surface density, M_sun kpc^-2.
    sigma_sfr : numpy.ndarray
        Star-formation-rate surface density, M_sun yr^-1 kpc^-2.
    omega : numpy.ndarray
        Angular velocity v(R)/R of the rotating gas, 1/yr, line-weighted over the components
        (0 where none rotates).
    record : dict
        The label model, the relations, the scatter scale and the rng record.
    """

    sigma_line: np.ndarray
    sigma_gas: np.ndarray
    sigma_sfr: np.ndarray
    omega: np.ndarray
    record: dict

    @property
    def depletion_time_yr(self) -> np.ndarray:
        """Gas depletion time Sigma_gas / Sigma_SFR in yr (inf where Sigma_SFR is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.sigma_sfr > 0, self.sigma_gas / np.where(self.sigma_sfr > 0, self.sigma_sfr, 1), np.inf)


def line_surface_density(moment0, observation: Observation) -> np.ndarray:
    """A noise-free moment-0 map as a line luminosity surface density.

    Parameters
    ----------
    moment0 : array_like
        (y, x) map in Jy/beam km/s, on ``observation``'s grid.
    observation : Observation
        Its redshift, line frequency, pixel size and beam.

    Returns
    -------
    numpy.ndarray
        L_sun kpc^-2 in the sky plane: L = 4 pi D_L^2 S dv nu_obs / c per pixel (Planck18),
        divided by the pixel's area in proper kpc^2.
    """
    from astropy import constants, units as u
    from astropy.cosmology import Planck18
    obs = observation
    flux = np.asarray(moment0, dtype=float) / obs.beam_area_px * u.Jy * u.km / u.s
    nu = obs.line_freq_ghz * u.GHz
    d_l = Planck18.luminosity_distance(obs.redshift)
    scale = (4 * math.pi * d_l ** 2 * (1 * u.Jy * u.km / u.s) * nu / constants.c).to(u.L_sun).value
    return flux.value * scale / obs.pixel_kpc ** 2


def angular_velocity(galaxy: Galaxy, observation: Observation) -> np.ndarray:
    """Omega = v(R) / R of a disk at each pixel of the sky grid, R deprojected into its plane.

    Parameters
    ----------
    galaxy : Galaxy
        The disk (its centre, inclination, position angle and rotation curve).
    observation : Observation
        The sky grid.

    Returns
    -------
    numpy.ndarray
        (y, x) map in 1/yr. R is at least half a pixel, and the deprojection uses
        cos i >= cos 85 deg (an edge-on disk's pixels see a range of radii).
    """
    obs = observation
    px = obs.pixel_kpc
    index = np.arange(obs.n_pix) - obs.center_px
    dx = index[None, :] * px - galaxy.offset_kpc[0]
    dy = index[:, None] * px - galaxy.offset_kpc[1]
    (ux, uy), (wx, wy) = sky_axes(galaxy.pa_deg)
    cos_i = max(math.cos(math.radians(galaxy.inclination_deg)), MIN_COS_I)
    radius = np.hypot(dx * ux + dy * uy, (dx * wx + dy * wy) / cos_i)
    radius = np.maximum(radius, px / 2)
    v = curve(galaxy.rotation, v_max_kms=galaxy.v_max_kms, r_turn_kpc=galaxy.r_turn_kpc,
              r_eff_kpc=galaxy.r_eff_kpc, sersic_n=galaxy.sersic_n)(radius)
    from astropy import units as u
    return v / radius * (u.km / u.s / u.kpc).to(1 / u.yr)


def correlated_field(shape: tuple, scale_px: float, gen: np.random.Generator) -> np.ndarray:
    """A Gaussian random field of unit variance, correlated on ``scale_px``.

    Parameters
    ----------
    shape : (int, int)
        Map shape.
    scale_px : float
        Standard deviation of the Gaussian smoothing of white noise in px, >= 0 (0: white).
    gen : numpy.random.Generator
        Randomness.

    Returns
    -------
    numpy.ndarray
        The field; periodic, its variance exactly 1 in expectation (the smoothing kernel's
        sum of squares is divided out).
    """
    white = gen.standard_normal(shape)
    if scale_px == 0:
        return white
    delta = np.zeros(shape)
    delta[0, 0] = 1.0
    kernel = ndimage.gaussian_filter(delta, scale_px, mode="wrap")
    return ndimage.gaussian_filter(white, scale_px, mode="wrap") / math.sqrt(np.sum(kernel ** 2))


def _rotating_disk(comp):
    if isinstance(comp, Halo):
        return comp.disk()
    return comp if isinstance(comp, Galaxy) else None


def property_maps(components, observation: Observation, *, label_model: str = "kinematic",
                  rng=None, scatter_scale_kpc: float = 1.0, scatter: bool = True) -> PropertyMaps:
    """Gas and star-formation-rate surface-density maps of a simulated scene.

    Parameters
    ----------
    components : Galaxy, Halo, Bridge, Tail or a list of them
        The scene, as given to :func:`simulate`.
    observation : Observation
        The observation (its grid, redshift and beam).
    label_model : one of LABEL_MODELS
        How Sigma_SFR follows from the gas: "kinematic", ``SFR_PER_ORBIT`` (Sigma_gas
        Omega); "moment0", ``CII_TO_SFR`` (the line surface brightness alone); a
        "delooze2014-..." model, ``LUMINOSITY_TO_SFR``: each component's SFR from its whole
        line luminosity, with the fit's scatter as one log-normal factor per component (the
        galaxy-to-galaxy scatter of a global relation), spread over the component in
        proportion to its line surface density. Bridges and tails do not rotate: they follow
        ``CII_TO_SFR`` under "kinematic".
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Randomness of the scatter (docs/conventions.md, Randomness).
    scatter_scale_kpc : float
        Correlation scale of the scatter (Gaussian sigma) in kpc, >= 0 (default 1).
    scatter : bool
        Draw the relations' published scatter (default True); False gives the relations exactly.

    Returns
    -------
    PropertyMaps
        The maps, at the cube's resolution: each component's noise-free moment 0 (its beam
        included) through the relations, summed over components.

    Raises
    ------
    ValueError
        An unknown ``label_model`` or a negative ``scatter_scale_kpc``.
    """
    if label_model not in LABEL_MODELS:
        raise ValueError(f"label_model={label_model!r} is not one of {', '.join(map(repr, LABEL_MODELS))}")
    scale_kpc = check.number("scatter_scale_kpc", scatter_scale_kpc, 0.0, None)
    if isinstance(components, COMPONENTS):
        components = [components]
    obs = observation
    gen, rng_record = _rng.generator(rng)
    shape = (obs.n_pix, obs.n_pix)
    fields = [correlated_field(shape, scale_kpc / obs.pixel_kpc, gen) for _ in range(2)]
    gas_scatter, sfr_scatter = (f if scatter else np.zeros(shape) for f in fields)

    relation = SFR_RELATIONS[label_model]
    sigma_line, sigma_sfr, line_omega = (np.zeros(shape) for _ in range(3))
    for comp in components:
        line = line_surface_density(simulate([comp], obs).data.sum(axis=0) * obs.channel_kms, obs)
        line = np.maximum(line, 0.0)   # the beam's FFT round-off
        sigma_line += line
        disk = _rotating_disk(comp)
        omega = None if disk is None else angular_velocity(disk, obs)
        if omega is not None:
            line_omega += line * omega
        if label_model in LUMINOSITY_TO_SFR:
            luminosity = line.sum() * obs.pixel_kpc ** 2
            if luminosity > 0:
                factor = relation.scatter_dex * gen.standard_normal() if scatter else 0.0
                sfr = 10 ** (relation(math.log10(luminosity)) + factor)
                sigma_sfr += sfr * line / luminosity
        elif label_model == "kinematic" and omega is not None:
            gas = 10 ** CII_TO_GAS.intercept * line * 10 ** (CII_TO_GAS.scatter_dex * gas_scatter)
            sigma_sfr += 10 ** SFR_PER_ORBIT.intercept * gas * omega
        else:
            with np.errstate(divide="ignore"):
                sigma_sfr += np.where(line > 0, 10 ** CII_TO_SFR(np.log10(np.where(line > 0, line, 1))), 0.0)
    sigma_gas = 10 ** CII_TO_GAS.intercept * sigma_line * 10 ** (CII_TO_GAS.scatter_dex * gas_scatter)
    if label_model not in LUMINOSITY_TO_SFR:   # a global relation's scatter is per component, above
        sigma_sfr *= 10 ** (relation.scatter_dex * sfr_scatter)
    with np.errstate(invalid="ignore", divide="ignore"):
        omega_map = np.where(sigma_line > 0, line_omega / np.where(sigma_line > 0, sigma_line, 1), 0.0)
    record = {"label_model": label_model, "scatter": scatter, "scatter_scale_kpc": scale_kpc,
              "relations": [r.__dict__ for r in (CII_TO_GAS, relation)], "rng": rng_record}
    return PropertyMaps(sigma_line, sigma_gas, sigma_sfr, omega_map, record)
