"""Cube -> moment maps -> (log n, log G0) maps, with known truth: a simulated disk whose lines
carry the WK2020 intensities of known density and FUV maps, observed in noise."""
import numpy as np
import pytest

pytest.importorskip("pdrtpy", reason="the PDR model grids come from pdrtpy: pip install 'galcube[pdr]'")

import galcube_lib as gl  # noqa: E402
from galcube_lib.pdr.grids import GridInterpolator, load_grid  # noqa: E402
from galcube_lib.pdr.line_maps import _to_intensity, common_grid, from_cube  # noqa: E402
from galcube_lib.pdr.posterior import ParameterGrid, parameter_maps  # noqa: E402

LINES = ["CII_158", "OI_63", "CO_10", "13CO_10"]
REST_GHZ = {"CII_158": 1900.537, "OI_63": 4744.778, "CO_10": 115.271, "13CO_10": 110.201}


def line_cubes(truth, redshift, peak_snr, rng):
    """One cube per line: the disk's line profiles, scaled so that each spaxel's moment 0 is the
    model intensity at its (log n, log G0), dimmed by (1 + z)^4; noise at ``peak_snr``."""
    obs = gl.Observation(n_pix=32, n_chan=16, channel_kms=40.0, beam_fwhm_px=3.0)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=2.5, inclination_deg=40.0)], obs)
    moment0 = clean.data.sum(0) * clean.channel_kms
    disk = moment0 > 0.2 * moment0.max()
    grid = load_grid("wk2020").select(LINES)
    intensity = 10 ** GridInterpolator(grid, "cubic")(truth.reshape(2, -1).T).T.reshape(len(LINES), 32, 32)
    cubes = []
    for k, line in enumerate(LINES):
        header = clean.header.copy()
        header["RESTFRQ"] = REST_GHZ[line] * 1e9 / (1 + redshift)
        header["BUNIT"] = "Jy/beam km/s"
        per_jy = _to_intensity(header, line, None, "test") * (1 + redshift) ** 4
        target = np.where(disk, intensity[k] / per_jy, 0.0)                   # Jy/beam km/s
        data = clean.data * np.where(disk, target / np.where(disk, moment0, 1.0), 0.0)
        header["BUNIT"] = "Jy/beam"
        cube = clean.replace(data=data.astype(np.float32), clean=data.astype(np.float32), header=header)
        cubes.append(gl.add_noise(cube, peak_snr=peak_snr, rng=rng + k))
    return cubes, disk


def test_density_and_field_maps_come_back_from_noisy_cubes():
    yy, xx = np.mgrid[:32, :32] / 31.0
    truth = np.stack([2.5 + 2.0 * xx, 1.5 + 2.5 * yy])          # log n 2.5-4.5, log G0 1.5-4
    cubes, disk = line_cubes(truth, redshift=4.5, peak_snr=30.0, rng=7)
    mask = np.broadcast_to(cubes[0].clean > 0, cubes[0].shape)   # the same channels for every line
    maps = [from_cube(c, line, mask=mask, redshift=4.5) for c, line in zip(cubes, LINES)]
    intensity, sigma, _ = common_grid(maps)
    grid = load_grid("wk2020").select(LINES)
    result = parameter_maps(intensity, sigma, ParameterGrid(GridInterpolator(grid, "cubic")),
                            progress=False)
    scored = disk & result.good
    assert scored.sum() > 0.5 * disk.sum()
    error = (result.median - truth)[:, scored]
    assert np.all(np.abs(np.median(error, 1)) < 0.1), np.median(error, 1)
    covered = ((result.lower <= truth) & (truth <= result.upper))[:, scored].mean(1)
    # pixels share the beam's noise: about 25 independent beams, so coverage is known to +-0.2
    assert np.all(np.abs(covered - 0.68) < 0.2), covered
    assert np.abs(np.median(result.log_scale[scored])) < 0.1     # the (1+z)^4 and units are right
