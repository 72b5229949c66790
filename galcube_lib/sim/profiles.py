"""Sersic surface-brightness profile: the constant b_n and enclosed-flux fractions."""
from __future__ import annotations

import numpy as np
from scipy import special


def sersic_b(n: float) -> float:
    """The Sersic constant b_n such that R_e encloses half the light: P(2n, b_n) = 1/2."""
    return float(special.gammaincinv(2.0 * n, 0.5))


def sersic_enclosed(r, r_eff: float, n: float):
    """Fraction of a Sersic disk's total flux inside radius ``r`` (same units as ``r_eff``)."""
    b = sersic_b(n)
    return special.gammainc(2.0 * n, b * (np.asarray(r, dtype=float) / r_eff) ** (1.0 / n))


def sersic_radius(fraction: float, r_eff: float, n: float) -> float:
    """Radius enclosing ``fraction`` of the total flux."""
    b = sersic_b(n)
    return float(r_eff * (special.gammaincinv(2.0 * n, fraction) / b) ** n)
