"""display.emission_mask of a lazy cube, block-wise: the in-memory mask voxel for voxel."""
import dask.array as da
import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.report import display as D


@pytest.fixture(scope="module")
def cubes(tmp_path_factory):
    """A noisy disk without a record (a foreign file), in memory and lazy, with a blank band;
    and a simulated one that carries its truth."""
    obs = gl.Observation(n_pix=64, n_chan=16, channel_kms=20.0, beam_fwhm_px=3.0)
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=2.0, inclination_deg=50.0), obs)
    noisy = gl.add_noise(clean, peak_snr=6, rng=2)
    data = noisy.data.copy()
    data[:, 40:44, :] = np.nan
    folder = tmp_path_factory.mktemp("emission")
    plain = noisy.replace(data=data, record={}, clean=None, noise=None).to_fits(folder / "p.fits")
    truth = noisy.to_fits(folder / "t.fits")
    return plain, truth


@pytest.mark.parametrize("chunks", [None, (16, 9, 11), (5, 16, 16)])
def test_the_lazy_emission_mask_equals_the_in_memory_one(cubes, chunks):
    plain, _ = cubes
    eager, cube = gl.read_fits(plain), gl.read_fits(plain, lazy=True)
    if chunks is not None:
        cube = cube.replace(data=cube.data.rechunk(chunks))
    want = D.emission_mask(eager)
    got = D.emission_mask(cube)
    assert isinstance(got, da.Array)
    got = got.compute()
    # the brightest region, across chunk borders; the noise makes other regions above 3 sigma
    assert want.sum() > 100 and np.array_equal(got, want)
    above = gl.metrics.moment_mask(np.nan_to_num(eager.data), 3.0)
    assert above.sum() > want.sum()


def test_the_lazy_emission_mask_of_a_cube_with_its_truth(cubes):
    _, truth = cubes
    eager, cube = gl.read_fits(truth), gl.read_fits(truth, lazy=True)
    assert eager.clean is not None and cube.lazy
    got = D.emission_mask(cube)
    assert isinstance(got, da.Array) and np.array_equal(got.compute(), D.emission_mask(eager))


def test_a_lazy_cube_without_emission_gives_an_empty_mask(tmp_path):
    obs = gl.Observation(n_pix=32, n_chan=8, channel_kms=20.0, beam_fwhm_px=3.0)
    flat = gl.simulate(gl.Galaxy(r_eff_kpc=2.0), obs)
    flat = flat.replace(data=-np.ones(flat.shape, np.float32), record={}, clean=None)
    cube = gl.read_fits(flat.to_fits(tmp_path / "f.fits"), lazy=True)
    assert not D.emission_mask(cube).compute().any() and not D.emission_mask(
        gl.read_fits(tmp_path / "f.fits")).any()
