"""Masked moment maps, moment masks and truth masks of lazy cubes, block-wise: the in-memory
numpy result (the independent expectation) on small cubes cut into tiny chunks."""
import dask.array as da
import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.denoise import flat_input, smooth_clip_passes
from galcube_lib.denoise.smooth_clip import smooth_clip_mask
from galcube_lib.metrics import morphology as M
from galcube_lib.metrics.real import moment_images

CHUNKS = (12, 4, 5)        # whole spectra over 4 x 5 spaxels
SPLIT = (5, 4, 5)          # the channel axis cut in three: moments rechunk it


@pytest.fixture(scope="module")
def noisy():
    """A noisy disk (12 x 13 x 17, a Cube) with a blank spaxel, a blank row, partly blank
    spectra, a velocity axis that falls, and a (v, y, x) mask of the brightest fifth of the voxels."""
    obs = gl.Observation(n_pix=17, n_chan=12, channel_kms=25.0, beam_fwhm_px=2.5)
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=1.5, inclination_deg=60.0), obs)
    cube = gl.add_noise(clean, peak_snr=5, rng=4).crop(((0, 12), (2, 15), (0, 17)))
    data = cube.data.copy()
    data[:, 3, 7] = np.nan
    data[:, 9, :] = np.nan
    data[:6, 5, 2] = np.nan
    data[4, 6:9, 10:12] = np.nan
    vel = np.linspace(150.0, -125.0, 12)
    return cube.replace(data=data), vel, data > np.nanpercentile(data, 80)


def close(got, want):
    assert all(isinstance(g, np.ndarray) and g.dtype == np.float64 for g in got)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=0)
        assert np.array_equal(np.isnan(g), np.isnan(w))


@pytest.mark.parametrize("chunks", [CHUNKS, SPLIT, (3, 13, 17)])
def test_lazy_moments_equal_the_in_memory_ones(noisy, chunks):
    cube, vel, mask = noisy
    data = cube.data
    lazy = da.from_array(data, chunks=chunks)
    want = M.moments(data, vel)
    got = M.moments(lazy, vel)
    close(got, want)
    assert np.array_equal(got[0], want[0], equal_nan=True)   # plain sums over the channels
    assert np.isnan(got[0][3, 7]) and np.isnan(got[0][9]).all() and np.isfinite(got[0][5, 2])
    # a (v, y, x) mask, in memory or lazy in other chunks
    want = M.moments(data, vel, mask)
    close(M.moments(lazy, vel, mask), want)
    close(M.moments(lazy, vel, da.from_array(mask, chunks=(4, 6, 6))), want)
    # a (y, x) mask, in memory or lazy; a lazy mask on a cube in memory
    spaxels = mask.any(axis=0) & (np.arange(17) % 3 > 0)
    want = M.moments(data, vel, spaxels)
    close(M.moments(lazy, vel, spaxels), want)
    close(M.moments(lazy, vel, da.from_array(spaxels, chunks=(5, 7))), want)
    close(M.moments(data, vel, da.from_array(spaxels, chunks=(5, 7))), want)


def test_the_blocks_are_whole_spectra_of_bounded_size(noisy, monkeypatch):
    cube, vel, mask = noisy
    data = cube.data
    seen = []
    block = M._block_moments

    def recorded(values, *args):
        seen.append(values.shape)
        return block(values, *args)

    monkeypatch.setattr(M, "_block_moments", recorded)
    close(M.moments(da.from_array(data, chunks=SPLIT), vel, mask), M.moments(data, vel, mask))
    assert set(seen) >= {(12, 4, 5), (12, 1, 2)} and len(seen) == 4 * 4
    # blocks larger than MOMENT_BLOCK_BYTES are cut into tiles of at most that many bytes
    seen.clear()
    monkeypatch.setattr(M, "MOMENT_BLOCK_BYTES", 12 * 8 * 9)        # 3 x 3 spectra
    close(M.moments(da.from_array(data, chunks=(4, 13, 17)), vel, mask),
          M.moments(data, vel, mask))
    assert all(v == 12 and y * x <= 9 for v, y, x in seen) and len(seen) == 5 * 6


def test_a_lazy_cube_and_its_moment_images(noisy, tmp_path):
    cube, _, mask = noisy
    path = cube.to_fits(tmp_path / "c.fits")
    eager, lazy = gl.read_fits(path), gl.read_fits(path, lazy=True)
    lazy = lazy.replace(data=lazy.data.rechunk(CHUNKS))
    assert lazy.lazy
    vel = eager.velocity_kms
    close(M.moments(lazy, vel), M.moments(eager, vel))
    images = moment_images(lazy, mask.any(axis=0))
    want = moment_images(eager, mask.any(axis=0))
    for got, ref in zip(images, want):
        assert np.array_equal(got.data, ref.data, equal_nan=True)   # float32 images
    assert lazy.lazy                                                # nothing was loaded


def test_bad_lazy_input_is_refused(noisy):
    cube, vel, mask = noisy
    data = cube.data
    lazy = da.from_array(data, chunks=CHUNKS)
    with pytest.raises(ValueError, match="mask is empty"):
        M.moments(lazy, vel, da.zeros(data.shape, dtype=bool, chunks=CHUNKS))
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        M.moments(lazy, vel, da.from_array(mask.astype(np.uint8)))
    with pytest.raises(ValueError, match="mask has shape"):
        M.moments(lazy, vel, da.from_array(mask[:, :5]))
    with pytest.raises(ValueError, match="velocity_kms has shape"):
        M.moments(lazy, vel[:-1])
    with pytest.raises(ValueError, match="data must be a 3-D"):
        M.moments(lazy[0], vel)
    with pytest.raises(TypeError, match="data must be a real numeric array"):
        M.moments(lazy.astype(np.complex64), vel)


def test_lazy_moment_and_truth_masks_equal_the_in_memory_ones(noisy, monkeypatch):
    data = noisy[0].data
    lazy = da.from_array(data, chunks=SPLIT)
    got = M.moment_mask(lazy, 2.0)
    assert isinstance(got, da.Array) and np.array_equal(got.compute(), M.moment_mask(data, 2.0))
    assert np.array_equal(M.moment_mask(lazy, 2.0, sigma=0.3).compute(),
                          M.moment_mask(data, 2.0, sigma=0.3))
    got = M.truth_mask(lazy, 0.2)
    assert isinstance(got, da.Array) and np.array_equal(got.compute(), M.truth_mask(data, 0.2))
    # larger than MAD_SAMPLES: the noise of every 2nd spaxel in y and x
    monkeypatch.setattr(M, "MAD_SAMPLES", data.size // 3)
    sample = data[:, ::2, ::2].astype(np.float64)
    sample = sample[np.isfinite(sample)]
    sigma = 1.4826 * np.median(np.abs(sample - np.median(sample)))
    assert np.array_equal(M.moment_mask(lazy, 2.0).compute(), M.moment_mask(data, 2.0, sigma))


def test_moments_with_the_lazy_smooth_clip_mask(tmp_path):
    """The smooth_clip mask made in passes over a lazy cube, used lazily, gives the moments of
    the in-memory mask on the cube in memory."""
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=2.0),
                        gl.Observation(n_pix=48, n_chan=12, channel_kms=40.0))
    noisy = gl.add_noise(clean, peak_snr=6, rng=0)
    data = noisy.data.copy()
    data[:, 30:40, 36:] = np.nan
    cube = noisy.replace(data=data)
    lazy_cube = gl.read_fits(cube.to_fits(tmp_path / "c.fits"), lazy=True)
    mask = smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, tmp_path / "m.zarr",
                                                      tile_px=16, progress=False)
    assert isinstance(mask, da.Array)
    want_mask = smooth_clip_mask(flat_input(cube.data, None)[0], beam_fwhm_px=cube.beam_fwhm_px,
                                 beam_pa_deg=cube.beam_pa_deg)
    assert want_mask.any() and not want_mask.all()
    vel = cube.velocity_kms
    want = M.moments(cube.data, vel, want_mask)
    close(M.moments(lazy_cube.data.rechunk((6, 10, 10)), vel, mask), want)
    close(M.moments(lazy_cube, vel, mask), want)
