"""The truth against independent computations: brute-force convolution and a finer quadrature."""

import numpy as np
import pytest
from scipy import fft, special

import galcube_lib as gl
from galcube_lib.sim import render as _render
from galcube_lib.sim import simulate as simulate_module


def brute_force_face_on_moment0(n_pix, r_eff_px, sersic_n, beam_fwhm_px, flux, sub=10):
    """Sersic disk on a grid `sub` times finer than the pixels, convolved with the unit-peak beam
    on that grid, then sampled at the pixel centres (radio images are point samples)."""
    fine = n_pix * sub
    c = (n_pix // 2) * sub                      # galcube's field centre, on the fine grid
    yy, xx = np.indices((fine, fine))
    r = np.hypot(xx - c, yy - c) / sub
    b = special.gammaincinv(2 * sersic_n, 0.5)
    surface = np.exp(-b * (r / r_eff_px) ** (1 / sersic_n))
    total = 2 * np.pi * sersic_n * r_eff_px ** 2 * special.gamma(2 * sersic_n) / b ** (2 * sersic_n)
    surface *= flux / total / sub ** 2          # Jy km/s per fine cell
    s = beam_fwhm_px / 2.3548200450309493 * sub
    k = fft.fftfreq(fine)
    beam = np.exp(-2 * np.pi ** 2 * s ** 2 * (k[:, None] ** 2 + k[None, :] ** 2))
    area_fine = 2 * np.pi * s ** 2             # unit-peak kernel: its sum on the fine grid
    conv = np.real(fft.ifft2(fft.fft2(surface) * beam)) * area_fine
    return conv[::sub, ::sub]


@pytest.mark.parametrize("sersic_n, r_eff_px", [(1.0, 4.0), (0.5, 1.0), (1.5, 3.0), (1.0, 1.0)])
def test_face_on_moment0_matches_brute_force(sersic_n, r_eff_px):
    obs = gl.Observation(n_pix=64, n_chan=30, channel_kms=20.0, pixel_kpc=0.5, beam_fwhm_px=3.75)
    gal = gl.Galaxy(inclination_deg=0.0, sersic_n=sersic_n, r_eff_kpc=r_eff_px * 0.5, flux_jy_kms=1.0)
    m0 = gl.simulate([gal], obs).data.astype(float).sum(axis=0) * obs.channel_kms
    expected = brute_force_face_on_moment0(64, r_eff_px, sersic_n, 3.75, 1.0, sub=20)
    assert np.abs(m0 - expected).max() < 2e-3 * expected.max()


CASES = {
    "inclined": (gl.Galaxy(), gl.Observation(n_pix=96)),
    "compact cusp": (gl.Galaxy(sersic_n=1.5, r_eff_kpc=0.25, inclination_deg=45.0), gl.Observation(n_pix=64, beam_fwhm_px=3.75)),
    "edge-on": (gl.Galaxy(inclination_deg=90.0, h_z_kpc=0.2), gl.Observation(n_pix=96)),
    "flat, narrow line": (gl.Galaxy(inclination_deg=70.0, rotation="flat", sigma_kms=10.0), gl.Observation(n_pix=96, channel_kms=10.0, n_chan=80)),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_default_quadrature_has_converged(name, monkeypatch):
    gal, obs = CASES[name]
    default = gl.simulate([gal], obs).data.astype(float)
    monkeypatch.setattr(simulate_module, "_sample_spacing", lambda o: 0.3)
    monkeypatch.setattr(_render, "LOG_STEP", 0.02)
    monkeypatch.setattr(_render, "VEL_STEP", 0.1)
    monkeypatch.setattr(_render, "PHI_MAX", 0.05)
    fine = gl.simulate([gal], obs).data.astype(float)
    assert np.abs(default - fine).max() < 3e-3 * fine.max()
