"""Block-wise denoising of lazy cubes: the same answer as in memory, resumable, atomic."""
import functools
import importlib
import json

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


@pytest.mark.parametrize("options", [{}, {"keep_coarse": False, "positivity": True},
                                     {"spectral": "starlet", "inherit_support": False}])
def test_ist_in_passes_equals_the_whole_cube_to_the_bit(tmp_path, disk, options):
    noisy, cube = disk
    whole = gl.denoise(noisy, "ist", **options)
    for tile in (48, None):
        result = blockwise.denoise_blocks(cube, "ist", tmp_path / f"ist{tile}.zarr", tile_px=tile,
                                          options=options, progress=False)
        assert result.record["denoise"]["blockwise"]["passes"]
        assert np.array_equal(result.data.compute(), whole.data)
    # the work store, with its scratch arrays, is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ist48.zarr", "istNone.zarr"]


def test_ist_in_passes_samples_the_noise_of_large_cubes(tmp_path, disk, monkeypatch):
    from galcube_lib.denoise import ist_passes

    noisy, cube = disk
    whole = gl.denoise(noisy, "ist").data
    monkeypatch.setattr(ist_passes, "SIGMA_SAMPLES", 2 ** 14)   # every 50th coefficient
    sampled = blockwise.denoise_blocks(cube, "ist", tmp_path / "s.zarr", progress=False)
    sampled = sampled.data.compute()
    assert not np.array_equal(sampled, whole)       # other sigmas, a slightly other support

    def rmse(x):
        return np.sqrt(np.mean((x - noisy.clean) ** 2))
    assert abs(rmse(sampled) / rmse(whole) - 1) < 0.03
    assert abs(sampled.sum() / whole.sum() - 1) < 0.03


def test_ist_in_passes_takes_the_hard_mode_only(tmp_path, disk):
    _, cube = disk
    for bad in ({"mode": "soft"}, {"debias": True}):
        with pytest.raises(ValueError, match="hard mode without debias"):
            blockwise.denoise_blocks(cube, "ist", tmp_path / "x.zarr", options=bad)
    with pytest.raises(ValueError, match="noise= .* is not taken for a lazy cube"):
        blockwise.denoise_blocks(cube, "ist", tmp_path / "x.zarr",
                                 options={"noise": np.zeros(cube.shape, np.float32)})
    with pytest.raises(ValueError, match="n_sigma"):
        blockwise.denoise_blocks(cube, "ist", tmp_path / "x.zarr", options={"n_sigma": -1})


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


@pytest.mark.parametrize("method, victim, dies", [("gaussian", None, 3), ("ist", "_project", 2)])
def test_a_killed_run_resumes_and_ends_bit_identical(tmp_path, disk, monkeypatch, method, victim,
                                                     dies):
    from galcube_lib.denoise import ist_passes

    _, cube = disk
    reference = blockwise.denoise_blocks(cube, method, tmp_path / "ref.zarr", tile_px=80,
                                         progress=False).data.compute()
    calls = []

    def dying(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            calls.append(1)
            if len(calls) == dies:
                raise KeyboardInterrupt("killed")
            return func(*args, **kwargs)
        return run

    if victim is None:   # the gaussian tiles: the third tile dies
        real = denoise_package.method_function
        monkeypatch.setattr(denoise_package, "method_function", lambda m: dying(real(m)))
    else:                # IST: the second projection pass (the second iteration) dies
        monkeypatch.setattr(ist_passes, victim, dying(getattr(ist_passes, victim)))
    out = tmp_path / "run.zarr"
    with pytest.raises(KeyboardInterrupt):
        blockwise.denoise_blocks(cube, method, out, tile_px=80, progress=False)
    work = tmp_path / ".run.zarr.partial"
    assert not out.exists() and work.is_dir()
    if victim is None:
        assert len(list((work / "done").iterdir())) == 2
    else:
        assert json.loads((work / "state.json").read_text())["completed"] == 1
    # other arguments are refused, naming the folder
    with pytest.raises(ValueError, match=r"unfinished run with other arguments \(tile differ\)"):
        blockwise.denoise_blocks(cube, method, out, tile_px=96, progress=False)
    monkeypatch.undo()
    done = blockwise.denoise_blocks(cube, method, out, tile_px=80, progress=False)
    assert np.array_equal(done.data.compute(), reference)
    assert not work.exists()


def test_two_workers_give_the_same_result(tmp_path, disk):
    _, cube = disk
    for method in ("gaussian", "ist"):
        one = blockwise.denoise_blocks(cube, method, tmp_path / f"1{method}.zarr", tile_px=40,
                                       progress=False)
        two = blockwise.denoise_blocks(cube, method, tmp_path / f"2{method}.fits", tile_px=40,
                                       workers=2, progress=False)
        assert np.array_equal(one.data.compute(), two.data.compute())


def test_bad_arguments_are_named(tmp_path, disk):
    noisy, cube = disk
    with pytest.raises(ValueError, match="give out="):
        gl.denoise(cube, "ist")
    with pytest.raises(ValueError, match="box= needs the cube in memory"):
        gl.denoise(cube, "ist", box="auto", out=tmp_path / "x.zarr")
    with pytest.raises(ValueError, match="method"):
        gl.denoise(cube, "no_such_method", out=tmp_path / "x.zarr")
    with pytest.raises(ValueError, match="out must end in .zarr or .fits"):
        gl.denoise(cube, "ist", out=tmp_path / "x.h5")
    with pytest.raises(ValueError, match="tile_px"):
        blockwise.denoise_blocks(cube, "gaussian", tmp_path / "x.zarr", tile_px=4)
    with pytest.raises(ValueError, match="unknown option"):
        gl.denoise(cube, "gaussian", out=tmp_path / "x.zarr", nope=1)
