"""Block-wise denoising of lazy cubes: the same answer as in memory, resumable, atomic."""
import functools
import importlib

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.denoise import blockwise

denoise_package = importlib.import_module("galcube_lib.denoise")   # gl.denoise is the function


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    """A noisy disk wider than the IST halo (160 px, beam 4 px), as a lazy FITS cube."""
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=2.0),
                        gl.Observation(n_pix=160, n_chan=16, channel_kms=40.0))
    noisy = gl.add_noise(clean, peak_snr=4, rng=0)
    path = noisy.to_fits(tmp_path_factory.mktemp("disk") / "disk.fits")
    return noisy, gl.read_fits(path, lazy=True)


def test_tiles_cover_the_cube_once_with_their_halos():
    layout = blockwise.tiles((5, 70, 45), tile=32, halo=10)
    cover = np.zeros((70, 45), int)
    for core_y, core_x, read_y, read_x in layout:
        cover[core_y, core_x] += 1
        assert read_y.start == max(0, core_y.start - 10) and read_y.stop == min(70, core_y.stop + 10)
        assert read_x.start == max(0, core_x.start - 10) and read_x.stop == min(45, core_x.stop + 10)
    assert np.all(cover == 1) and len(layout) == 3 * 2


def test_gaussian_tiles_equal_the_whole_cube_to_round_off(tmp_path, disk):
    noisy, cube = disk
    whole = gl.denoise(noisy, "gaussian", spectral_fwhm_channels=3.0)
    tiled = gl.denoise(cube, "gaussian", out=tmp_path / "g.zarr", spectral_fwhm_channels=3.0)
    assert tiled.lazy and tiled.record["denoise"]["blockwise"]["tile_px"] == 160
    small = blockwise.denoise_blocks(cube, "gaussian", tmp_path / "g16.fits", tile_px=16,
                                     options={"spectral_fwhm_channels": 3.0}, progress=False)
    for result in (tiled, small):
        diff = np.abs(result.data.compute() - whole.data)
        assert diff.max() <= 1e-5 * np.abs(whole.data).max()
    assert small.record["denoise"]["options"] == {"spectral_fwhm_channels": 3.0}
    assert small.record["denoise"]["blockwise"] == {"tile_px": 16, "halo_px": 7}


def test_ist_tiles_use_the_whole_cubes_noise_and_agree_within_a_thousandth_sigma(tmp_path, disk):
    noisy, cube = disk
    sigma = noisy.noise.std()
    whole = gl.denoise(noisy, "ist", n_scales_xy=3)   # halo 36 px: tiles see part of the cube

    def tiled(halo):
        result = blockwise.denoise_blocks(cube, "ist", tmp_path / f"ist{halo}.zarr", tile_px=40,
                                          halo=halo, options={"n_scales_xy": 3}, progress=False)
        diff = np.abs(result.data.compute() - whole.data) / sigma
        return result.record["denoise"]["blockwise"]["halo_px"], diff.max(), np.sqrt(np.mean(diff ** 2))

    # each residual iteration reaches beyond the halo: measured max 0.0012, rms 0.00013 sigma;
    # with 60 px, 1e-5 sigma; with 20 px, 0.02 sigma
    halo, worst, rms = tiled(None)
    assert halo == 36 and worst < 0.003 and rms < 3e-4
    assert tiled(60)[1] < 1e-4
    assert tiled(20)[1] > 0.01


def test_ist_band_sigmas_of_tiles_are_the_whole_cubes(disk):
    from galcube_lib.denoise.ist import band_sigmas_of_tiles, default_scales, _band_samples, _sigmas_of
    from galcube_lib.denoise.wavelets import forward_2d1d

    noisy, _ = disk
    j_xy, j_v = default_scales(noisy.shape, noisy.beam_fwhm_px)
    expected = _sigmas_of(_band_samples(forward_2d1d(noisy.data, j_xy, j_v, "bior"),
                                        np.ones(noisy.shape[1:], bool)), robust=True)
    halo = blockwise.starlet_reach(j_xy)[0]
    layout = blockwise.tiles(noisy.shape, 40, halo)
    pieces = ((noisy.data[:, ry, rx], (slice(cy.start - ry.start, cy.stop - ry.start),
                                       slice(cx.start - rx.start, cx.stop - rx.start)))
              for cy, cx, ry, rx in layout)
    got = band_sigmas_of_tiles(pieces, j_xy, j_v)
    assert np.array_equal(np.concatenate([e.ravel() for e in expected]), np.concatenate(got))


def test_blanks_and_gain_are_handled_per_tile(tmp_path, disk):
    noisy, _ = disk
    data = noisy.data.copy()
    data[:, :40, :40] = np.nan                      # a whole tile blank, and part of others
    gain = np.full(noisy.shape, 0.8, np.float32)
    gain[:, 100:, :] = 0.5
    cube = noisy.replace(data=data, gain=gain)
    whole = gl.denoise(cube, "gaussian")
    tiled = blockwise.denoise_blocks(cube, "gaussian", tmp_path / "b.zarr", tile_px=40,
                                     progress=False)
    got = tiled.data.compute()
    assert np.array_equal(np.isnan(got), np.isnan(whole.data))
    assert np.allclose(got, whole.data, rtol=0, atol=1e-5 * np.nanmax(np.abs(whole.data)),
                       equal_nan=True)
    assert np.array_equal(tiled.gain.compute(), gain)


def test_a_killed_run_resumes_and_ends_bit_identical(tmp_path, disk, monkeypatch):
    _, cube = disk
    reference = blockwise.denoise_blocks(cube, "ist", tmp_path / "ref.zarr", tile_px=80,
                                         progress=False).data.compute()
    calls = []
    real = denoise_package.method_function

    def dying(method):
        func = real(method)

        @functools.wraps(func)
        def run(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt("killed")
            return func(*args, **kwargs)
        return run

    monkeypatch.setattr(denoise_package, "method_function", dying)
    out = tmp_path / "run.zarr"
    with pytest.raises(KeyboardInterrupt):
        blockwise.denoise_blocks(cube, "ist", out, tile_px=80, progress=False)
    work = tmp_path / ".run.zarr.partial"
    assert not out.exists() and len(list((work / "done").iterdir())) == 2
    # other arguments are refused, naming the folder
    with pytest.raises(ValueError, match=r"unfinished run with other arguments \(tile differ\)"):
        blockwise.denoise_blocks(cube, "ist", out, tile_px=96, progress=False)
    calls.clear()
    monkeypatch.setattr(denoise_package, "method_function", real)
    done = blockwise.denoise_blocks(cube, "ist", out, tile_px=80, progress=False)
    assert np.array_equal(done.data.compute(), reference, equal_nan=True)
    assert not work.exists()


def test_two_workers_give_the_same_result(tmp_path, disk):
    _, cube = disk
    one = blockwise.denoise_blocks(cube, "gaussian", tmp_path / "1.zarr", tile_px=40,
                                   progress=False)
    two = blockwise.denoise_blocks(cube, "gaussian", tmp_path / "2.zarr", tile_px=40, workers=2,
                                   progress=False)
    assert np.array_equal(one.data.compute(), two.data.compute())


def test_bad_arguments_are_named(tmp_path, disk):
    noisy, cube = disk
    with pytest.raises(ValueError, match="give out="):
        gl.denoise(cube, "ist")
    with pytest.raises(ValueError, match="box= needs the cube in memory"):
        gl.denoise(cube, "ist", box="auto", out=tmp_path / "x.zarr")
    with pytest.raises(ValueError, match="method"):
        gl.denoise(cube, "pca", out=tmp_path / "x.zarr")
    with pytest.raises(ValueError, match="out must end in .zarr or .fits"):
        gl.denoise(cube, "ist", out=tmp_path / "x.h5")
    with pytest.raises(ValueError, match="tile_px"):
        blockwise.denoise_blocks(cube, "gaussian", tmp_path / "x.zarr", tile_px=4)
    with pytest.raises(ValueError, match="unknown option"):
        gl.denoise(cube, "gaussian", out=tmp_path / "x.zarr", nope=1)
