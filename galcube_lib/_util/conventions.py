"""The numbers and formulas of galcube's conventions, written once (docs/conventions.md)."""
from __future__ import annotations

import math

#: Speed of light in km/s (radio velocities, channel widths).
C_KMS = 299792.458
#: FWHM of a Gaussian in units of its standard deviation, sqrt(8 ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: Standard deviation of a normal distribution per median absolute deviation, 1 / Phi^-1(3/4).
MAD_TO_SIGMA = 1.482602218505602


def beam_area(major: float, minor: float) -> float:
    """Area of an elliptical Gaussian beam of FWHM ``major`` x ``minor``: pi ab / (4 ln 2),
    in the square of their unit (pixels for px, deg^2 for degrees)."""
    return math.pi * major * minor / (4.0 * math.log(2.0))


def sky_axes(pa_deg: float):
    """Unit vectors (x, y) of the receding major axis and of the minor axis for a position
    angle from north (+y) through east (-x)."""
    pa = math.radians(pa_deg)
    return (-math.sin(pa), math.cos(pa)), (math.cos(pa), math.sin(pa))
