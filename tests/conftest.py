"""Fixtures shared by several test modules."""
import pytest

import galcube_lib as gl


@pytest.fixture(scope="module")
def noisy_disk():
    """A small noisy disk (16 x 48 x 48, peak SNR 6) that the widget tests denoise quickly."""
    obs = gl.Observation(n_pix=48, n_chan=16, channel_kms=60.0, beam_fwhm_px=3.0)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=2.0, inclination_deg=50.0)], obs)
    return gl.add_noise(clean, peak_snr=6.0, kind="beam", rng=3)
