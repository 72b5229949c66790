"""Sersic surface-brightness profile: the constant b_n and enclosed-flux fractions."""
from __future__ import annotations

import numpy as np
from scipy import special


def sersic_b(n: float) -> float:
    """The Sersic constant b_n such that R_e encloses half the light: P(2n, b_n) = 1/2.

    Parameters
    ----------
    n : float
        Sersic index, > 0.

    Returns
    -------
    float
        b_n (about 2n - 1/3; 1.678 for n = 1).
    """
    return float(special.gammaincinv(2.0 * n, 0.5))


def sersic_enclosed(r, r_eff: float, n: float):
    """Fraction of a Sersic disk's total flux inside radius ``r``.

    Parameters
    ----------
    r : float or array_like
        Radius or radii, >= 0, in the units of ``r_eff``.
    r_eff : float
        Half-light radius, > 0.
    n : float
        Sersic index, > 0.

    Returns
    -------
    float or numpy.ndarray
        Enclosed fraction in [0, 1], shaped like ``r`` (0.5 at ``r = r_eff``).
    """
    b = sersic_b(n)
    return special.gammainc(2.0 * n, b * (np.asarray(r, dtype=float) / r_eff) ** (1.0 / n))


def sersic_radius(fraction: float, r_eff: float, n: float) -> float:
    """Radius enclosing ``fraction`` of a Sersic disk's total flux.

    Parameters
    ----------
    fraction : float
        Enclosed fraction of the flux, in (0, 1).
    r_eff : float
        Half-light radius, > 0.
    n : float
        Sersic index, > 0.

    Returns
    -------
    float
        The radius, in the units of ``r_eff`` (``r_eff`` for ``fraction = 0.5``).
    """
    b = sersic_b(n)
    return float(r_eff * (special.gammaincinv(2.0 * n, fraction) / b) ** n)
