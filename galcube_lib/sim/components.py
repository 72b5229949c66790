"""What is in the sky: rotating disks and the low-surface-brightness gas around them.

All lengths are in kpc, velocities in km/s, angles in degrees, fluxes in Jy km/s.
Inclination 0 is face-on; the position angle runs from north (+y) through east (-x) to the
receding half of the major axis.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Union

from galcube_lib._util import checks as check
from galcube_lib.sim.rotation import check_rotation

Rotation = Union[str, tuple, Callable]
Dispersion = Union[float, Callable]


def _check_dispersion(name: str, value):
    if callable(value):
        return value
    return check.number(name, value, 0.0, None, lo_open=True)


def _check_offset(name: str, value) -> tuple[float, float]:
    x, y = check.sequence(f"{name} (x, y in kpc)", value, 2)    # a set has no order: refused
    return (check.number(f"{name}[0]", x), check.number(f"{name}[1]", y))


@dataclass(frozen=True)
class Galaxy:
    """A rotating disk: a Sersic profile in its plane times exp(-|z|/h_z) vertically.

    Parameters
    ----------
    sersic_n : float
        Sersic index in (0.2, 10] (1 = exponential disk).
    r_eff_kpc : float
        Half-light radius in the disk plane, > 0.
    h_z_kpc : float
        Exponential scale height, > 0.
    flux_jy_kms : float
        Total line flux, > 0.
    inclination_deg : float
        0 (face-on) to 90 (edge-on).
    pa_deg : float
        Position angle of the receding half of the major axis, north through east, in [-360, 360].
    v_max_kms : float
        Amplitude of the rotation curve, >= 0.
    rotation : str, (r_kpc, v_kms) pair or callable
        "arctan" (v_max 2/pi arctan(R/r_turn)), "flat", "solid_flat" (rises linearly to
        r_turn, flat beyond), "galcubecraft" (v_max 1.022 (R/R0)^0.0803, R0 = 2 R_e / b_n^n),
        a table interpolated linearly (flat beyond its end), or a callable v(r_kpc).
    r_turn_kpc : float
        Turnover radius of "arctan" and "solid_flat", > 0.
    sigma_kms : float or callable
        Isotropic velocity dispersion, > 0, or a callable sigma(r_kpc).
    offset_kpc : (float, float)
        Centre offset from the field centre along the image x and y axes.
    v_sys_kms : float
        Systemic velocity relative to the cube's central velocity.
    """

    sersic_n: float = 1.0
    r_eff_kpc: float = 4.0
    h_z_kpc: float = 0.5
    flux_jy_kms: float = 1.0
    inclination_deg: float = 60.0
    pa_deg: float = 30.0
    v_max_kms: float = 200.0
    rotation: Rotation = "arctan"
    r_turn_kpc: float = 1.0
    sigma_kms: Dispersion = 40.0
    offset_kpc: tuple = (0.0, 0.0)
    v_sys_kms: float = 0.0

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("sersic_n", check.number("sersic_n", self.sersic_n, 0.2, 10.0, lo_open=True))
        for name in ("r_eff_kpc", "h_z_kpc", "flux_jy_kms", "r_turn_kpc"):
            set_(name, check.number(name, getattr(self, name), 0.0, None, lo_open=True))
        set_("inclination_deg", check.number("inclination_deg", self.inclination_deg, 0.0, 90.0))
        set_("pa_deg", check.number("pa_deg", self.pa_deg, -360.0, 360.0))
        set_("v_max_kms", check.number("v_max_kms", self.v_max_kms, 0.0, None))
        set_("v_sys_kms", check.number("v_sys_kms", self.v_sys_kms))
        set_("rotation", check_rotation(self.rotation))
        set_("sigma_kms", _check_dispersion("sigma_kms", self.sigma_kms))
        set_("offset_kpc", _check_offset("offset_kpc", self.offset_kpc))

    def replace(self, **changes) -> "Galaxy":
        """A copy with some parameters changed (validated again).

        Parameters
        ----------
        **changes
            New values of Galaxy fields, by name.

        Returns
        -------
        Galaxy
            The copy; this Galaxy is unchanged.

        Raises
        ------
        ValueError, TypeError
            A new value out of range or of the wrong type.
        """
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Halo:
    """An extended, faint disk around ``host`` sharing its centre, inclination, PA and rotation.

    Parameters
    ----------
    host : Galaxy
        The disk the halo surrounds.
    flux_jy_kms : float
        Flux of the halo alone, > 0.
    r_eff_kpc : float
        Half-light radius of the halo, > 0 (typically several times the host's).
    h_z_kpc : float, optional
        Scale height; defaults to 4 times the host's (a thick layer).
    sersic_n : float
        Sersic index of the halo, default 1.
    sigma_kms : float or callable, optional
        Dispersion; defaults to the host's.
    """

    host: Galaxy
    flux_jy_kms: float
    r_eff_kpc: float
    h_z_kpc: float | None = None
    sersic_n: float = 1.0
    sigma_kms: Dispersion | None = None

    def __post_init__(self):
        if not isinstance(self.host, Galaxy):
            raise TypeError(f"host must be a Galaxy, got {type(self.host).__name__}")
        self.disk()  # validates every parameter through Galaxy

    def disk(self) -> Galaxy:
        """The halo as a Galaxy that rotates with its host.

        Returns
        -------
        Galaxy
            The host with the halo's flux, R_e, Sersic index, scale height (4 times the
            host's by default) and dispersion (the host's by default).
        """
        return self.host.replace(
            flux_jy_kms=self.flux_jy_kms, r_eff_kpc=self.r_eff_kpc, sersic_n=self.sersic_n,
            h_z_kpc=4.0 * self.host.h_z_kpc if self.h_z_kpc is None else self.h_z_kpc,
            sigma_kms=self.host.sigma_kms if self.sigma_kms is None else self.sigma_kms)


@dataclass(frozen=True)
class Bridge:
    """A tidal bridge of gas from the centre of ``a`` to the centre of ``b``.

    Its velocity runs linearly from ``a.v_sys_kms`` to ``b.v_sys_kms`` along the bridge and its
    surface brightness is uniform along it, with a Gaussian cross-section.

    Parameters
    ----------
    a, b : Galaxy
        The galaxies the bridge joins, at different ``offset_kpc``.
    flux_jy_kms : float
        Total flux of the bridge, > 0.
    width_kpc : float
        FWHM of the cross-section, > 0.
    sigma_kms : float
        Velocity dispersion, > 0.
    bend_kpc : float
        Sagitta of a circular arc (0 = straight; the sign chooses the side).
    """

    a: Galaxy
    b: Galaxy
    flux_jy_kms: float
    width_kpc: float = 1.0
    sigma_kms: float = 30.0
    bend_kpc: float = 0.0

    def __post_init__(self):
        for name in ("a", "b"):
            if not isinstance(getattr(self, name), Galaxy):
                raise TypeError(f"{name} must be a Galaxy, got {type(getattr(self, name)).__name__}")
        if self.a.offset_kpc == self.b.offset_kpc:
            raise ValueError("a bridge needs two galaxies at different offset_kpc")
        for name in ("flux_jy_kms", "width_kpc", "sigma_kms"):
            object.__setattr__(self, name, check.number(name, getattr(self, name), 0.0, None, lo_open=True))
        object.__setattr__(self, "bend_kpc", check.number("bend_kpc", self.bend_kpc))


@dataclass(frozen=True)
class Tail:
    """A one-sided tidal tail leaving ``host``'s centre, fading linearly to its tip.

    Parameters
    ----------
    host : Galaxy
        The galaxy whose centre the tail leaves.
    flux_jy_kms : float
        Total flux of the tail, > 0.
    length_kpc : float
        Length along the tail, > 0.
    angle_deg : float
        Direction on the sky where the tail starts, north through east, in [-360, 360].
    dv_kms : float
        Velocity change from base (host systemic) to tip.
    width_kpc : float
        FWHM of the cross-section, > 0.
    bend_deg : float
        Total change of direction from base to tip (a circular arc), in [-270, 270].
    sigma_kms : float
        Velocity dispersion, > 0.
    """

    host: Galaxy
    flux_jy_kms: float
    length_kpc: float
    angle_deg: float = 0.0
    dv_kms: float = 100.0
    width_kpc: float = 1.0
    bend_deg: float = 0.0
    sigma_kms: float = 30.0

    def __post_init__(self):
        if not isinstance(self.host, Galaxy):
            raise TypeError(f"host must be a Galaxy, got {type(self.host).__name__}")
        for name in ("flux_jy_kms", "length_kpc", "width_kpc", "sigma_kms"):
            object.__setattr__(self, name, check.number(name, getattr(self, name), 0.0, None, lo_open=True))
        object.__setattr__(self, "angle_deg", check.number("angle_deg", self.angle_deg, -360.0, 360.0))
        object.__setattr__(self, "dv_kms", check.number("dv_kms", self.dv_kms))
        object.__setattr__(self, "bend_deg", check.number("bend_deg", self.bend_deg, -270.0, 270.0))


COMPONENTS = (Galaxy, Halo, Bridge, Tail)
