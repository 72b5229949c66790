"""Rotation curves v(R): named shapes, tabulated (r_kpc, v_kms) pairs, or callables."""
from __future__ import annotations

from typing import Callable

import numpy as np

from galcube_lib.sim.profiles import sersic_b

NAMES = ("arctan", "flat", "solid_flat", "galcubecraft")


def check_rotation(rotation):
    """Validate a rotation specification and return it in canonical form.

    Parameters
    ----------
    rotation : str, callable or (array_like, array_like)
        A name in ``NAMES`` ("arctan", "flat", "solid_flat", "galcubecraft"), a callable
        v(r_kpc) in km/s, or a table ``(r_kpc, v_kms)`` of two 1-D arrays of equal length
        >= 2, radii finite, >= 0 and strictly increasing, velocities finite and >= 0 km/s.

    Returns
    -------
    str, callable or (tuple of float, tuple of float)
        The name or callable as given; a table as two tuples of floats.

    Raises
    ------
    ValueError
        An unknown name, or a table of the wrong shape or values.
    TypeError
        Anything that is neither a name, a callable nor a pair of arrays.
    """
    if isinstance(rotation, str):
        if rotation not in NAMES:
            raise ValueError(f"rotation={rotation!r} is not one of {', '.join(map(repr, NAMES))}, "
                             "a (r_kpc, v_kms) table or a callable v(r_kpc)")
        return rotation
    if callable(rotation):
        return rotation
    try:
        r, v = (np.asarray(a, dtype=float) for a in rotation)
    except (TypeError, ValueError):
        raise TypeError(f"rotation must be a name, a (r_kpc, v_kms) pair of arrays or a callable, "
                        f"got {rotation!r}") from None
    if r.ndim != 1 or r.shape != v.shape or r.size < 2:
        raise ValueError(f"rotation table needs two 1-D arrays of equal length >= 2, got shapes {r.shape}, {v.shape}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(v))) or r[0] < 0 or np.any(np.diff(r) <= 0) \
            or np.any(v < 0):
        raise ValueError("rotation table radii must be finite, >= 0 and strictly increasing, velocities "
                         "finite and >= 0 km/s (pa_deg sets which side recedes)")
    return (tuple(r.tolist()), tuple(v.tolist()))


def curve(rotation, *, v_max_kms: float, r_turn_kpc: float, r_eff_kpc: float,
          sersic_n: float) -> Callable[[np.ndarray], np.ndarray]:
    """The rotation curve v(r_kpc) in km/s of a validated rotation specification.

    Parameters
    ----------
    rotation : str, callable or (tuple, tuple)
        As returned by :func:`check_rotation`.
    v_max_kms : float
        Asymptotic (or flat) rotation speed in km/s, >= 0.
    r_turn_kpc : float
        Turn-over radius in kpc, > 0 ("arctan", "solid_flat").
    r_eff_kpc : float
        Half-light radius in kpc, > 0 ("galcubecraft" scales its power law by it).
    sersic_n : float
        Sersic index, > 0 ("galcubecraft").

    Returns
    -------
    callable
        ``v(r)``: speeds in km/s for an array of radii in kpc. A table is interpolated
        linearly, rising from 0 at r = 0 and flat beyond its last radius; a callable's
        values are checked by :func:`radial_values`.
    """
    if rotation == "arctan":
        return lambda r: v_max_kms * (2.0 / np.pi) * np.arctan(r / r_turn_kpc)
    if rotation == "flat":
        return lambda r: np.full_like(r, v_max_kms, dtype=float)
    if rotation == "solid_flat":
        return lambda r: v_max_kms * np.minimum(r / r_turn_kpc, 1.0)
    if rotation == "galcubecraft":
        # GalCubeCraft's power law, with its scale radius R0 = 2 R_e / b_n^n.
        r0 = 2.0 * r_eff_kpc / sersic_b(sersic_n) ** sersic_n
        return lambda r: v_max_kms * 1.022 * (r / r0) ** 0.0803
    if callable(rotation):
        return lambda r: radial_values("rotation", rotation, r)
    table_r, table_v = (np.asarray(a) for a in rotation)
    # Beyond the table the curve stays flat at its last value; inside its first radius it
    # rises linearly from zero, as a rotating disk must.
    r_all = table_r if table_r[0] == 0 else np.concatenate([[0.0], table_r])
    v_all = table_v if table_r[0] == 0 else np.concatenate([[0.0], table_v])
    return lambda r: np.interp(r, r_all, v_all)


def radial_values(name: str, profile: Callable, r_kpc: np.ndarray, *, positive: bool = False) -> np.ndarray:
    """``profile(r_kpc)``, a user's callable ``rotation`` or ``sigma_kms``, checked.

    Parameters
    ----------
    name : str
        The parameter's name, for error messages.
    profile : callable
        The user's function of radius in kpc, returning speeds in km/s.
    r_kpc : numpy.ndarray
        Radii in kpc.
    positive : bool, optional
        Require speeds > 0 (default False: >= 0).

    Returns
    -------
    numpy.ndarray
        One finite speed in km/s per radius, shaped like ``r_kpc`` (a scalar result is
        broadcast).

    Raises
    ------
    TypeError
        The callable returned something that is not numbers.
    ValueError
        The wrong shape, a non-finite or a negative (or zero, if ``positive``) speed; the
        message names the parameter and shows what the callable returned.
    """
    out = profile(r_kpc)
    try:
        values = np.asarray(out, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name}(r_kpc) must return numbers (km/s), one per radius; it returned "
                        f"{out!r:.60} ({type(out).__name__})") from None
    if values.shape not in ((), r_kpc.shape):
        raise ValueError(f"{name}(r_kpc) returned shape {values.shape} for an array of "
                         f"{r_kpc.size} radii; it must return one value per radius")
    values = np.broadcast_to(values, r_kpc.shape)
    bad = ~np.isfinite(values) | ((values <= 0) if positive else (values < 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}(r_kpc) returned {float(values[i])!r} at r_kpc={r_kpc[i]:.4g} ({bad.sum()} of "
                         f"{bad.size} radii); it must return finite speeds {'> 0' if positive else '>= 0'} km/s")
    return values
