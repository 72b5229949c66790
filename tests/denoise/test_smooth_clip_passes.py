"""The smooth-and-clip mask and smooth_clip denoising of lazy cubes, in passes: the in-memory
mask voxel for voxel, labelled across tiles, resumable, atomic."""
import functools
import json

import numpy as np
import pytest
from scipy import ndimage

import galcube_lib as gl
from galcube_lib.denoise import blockwise, flat_input, smooth_clip_passes
from galcube_lib.denoise.smooth_clip import smooth_clip_mask

TILE = 24   # 96 x 96 px cubes: 4 x 4 tiles; the disk (43 to 53 px) straddles the border at 48


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    """A noisy disk across the tile borders, with blanks and a gain that varies; in memory and
    as a lazy FITS cube."""
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=2.0),
                        gl.Observation(n_pix=96, n_chan=16, channel_kms=40.0))
    noisy = gl.add_noise(clean, peak_snr=6, rng=0)
    data = noisy.data.copy()
    data[:, 30:50, 60:] = np.nan                    # a blank band, across tile borders
    y, x = np.mgrid[:96, :96]
    gain = np.broadcast_to(0.5 + 0.5 * np.exp(-((y - 48) ** 2 + (x - 40) ** 2) / 3000.0),
                           noisy.shape).astype(np.float32)
    cube = noisy.replace(data=data, gain=gain)
    path = noisy.replace(data=data).to_fits(tmp_path_factory.mktemp("disk") / "disk.fits")
    return cube, gl.read_fits(path, gain=gain, lazy=True)


def in_memory_mask(cube, **options):
    return smooth_clip_mask(flat_input(cube.data, cube.gain)[0], beam_fwhm_px=cube.beam_fwhm_px,
                            beam_pa_deg=cube.beam_pa_deg, **options)


@pytest.mark.parametrize("options", [{}, {"noise_statistic": "mad"}, {"replace": None},
                                     {"noise_statistic": "mad", "replace": None, "dilate_xy": 2}])
def test_the_mask_equals_the_in_memory_one(tmp_path, disk, options):
    cube, lazy_cube = disk
    assert lazy_cube.lazy
    got = smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, tmp_path / "m.zarr",
                                                     options=options, tile_px=TILE,
                                                     progress=False)
    assert got.dtype == bool and got.chunks[1][0] == TILE
    mask = got.compute()
    want = in_memory_mask(cube, **options)
    assert np.array_equal(mask, want)
    # the source straddles the borders: it lies in the four tiles around the cube's centre
    for y, x in ((1, 1), (1, 2), (2, 1), (2, 2)):
        assert mask[:, y * TILE:(y + 1) * TILE, x * TILE:(x + 1) * TILE].any()
    assert [p.name for p in tmp_path.iterdir()] == ["m.zarr"]    # the work folder is gone


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    """White noise (sigma 1) with two bright blobs of diagonal neighbours across tile borders:
    6 voxels over the corner of four tiles (3 in each of two), 5 across the border x = 64."""
    rng = np.random.default_rng(1)
    cube = gl.simulate(gl.Galaxy(r_eff_kpc=1.0),
                       gl.Observation(n_pix=96, n_chan=16, channel_kms=40.0))
    data = rng.normal(size=cube.shape).astype(np.float32)
    kept = np.zeros(cube.shape, bool)
    for i in range(6):
        kept[5 + i // 2, 29 + i, 29 + i] = True
    dropped = np.zeros(cube.shape, bool)
    for i in range(5):
        dropped[9 + i // 2, 70 + i, 61 + i] = True
    data[kept | dropped] = 50.0
    path = cube.replace(data=data).to_fits(tmp_path_factory.mktemp("blobs") / "blobs.fits")
    return gl.read_fits(path, lazy=True), kept


@pytest.mark.parametrize("dilate_xy", [0, 2])
def test_the_size_filter_counts_a_group_over_all_its_tiles(tmp_path, blobs, dilate_xy):
    """Tiles of 32 px: the kept blob has 3 voxels in each of two tiles, fewer than min_size."""
    cube, kept = blobs
    options = {"spatial_kernels_beams": (0,), "spectral_kernels_channels": (0,), "min_size": 6,
               "dilate_xy": dilate_xy, "dilate_v": 0}
    mask = smooth_clip_passes.smooth_clip_mask_blocks(cube, tmp_path / "m.zarr", options=options,
                                                      tile_px=32, progress=False).compute()
    y, x = np.mgrid[-dilate_xy:dilate_xy + 1, -dilate_xy:dilate_xy + 1]
    disk = (x * x + y * y <= dilate_xy * dilate_xy)[None]
    want = ndimage.binary_dilation(kept, structure=disk) if dilate_xy else kept
    assert np.array_equal(mask, want)


def test_smooth_clip_in_passes_equals_the_in_memory_denoise(tmp_path, disk):
    cube, lazy_cube = disk
    want = gl.denoise(cube, "smooth_clip").data
    tiled = blockwise.denoise_blocks(lazy_cube, "smooth_clip", tmp_path / "s.zarr",
                                     tile_px=TILE, progress=False)
    assert tiled.record["denoise"]["blockwise"] == {"tile_px": TILE, "passes": True}
    assert np.array_equal(tiled.data.compute(), want, equal_nan=True)
    whole = gl.denoise(lazy_cube, "smooth_clip", out=tmp_path / "w.fits", n_sigma=4.0)
    assert np.array_equal(whole.data.compute(), gl.denoise(cube, "smooth_clip", n_sigma=4.0).data,
                          equal_nan=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr", "w.fits"]


def test_two_workers_give_the_same_result(tmp_path, disk):
    cube, lazy_cube = disk
    two = blockwise.denoise_blocks(lazy_cube, "smooth_clip", tmp_path / "2.zarr", tile_px=TILE,
                                   workers=2, progress=False)
    assert np.array_equal(two.data.compute(), gl.denoise(cube, "smooth_clip").data,
                          equal_nan=True)


def test_the_mad_noise_is_sampled_on_large_cubes(tmp_path, disk, monkeypatch):
    cube, lazy_cube = disk
    want = in_memory_mask(cube, noise_statistic="mad")
    monkeypatch.setattr(smooth_clip_passes, "MAD_SAMPLES", 2 ** 13)   # every 18th voxel
    options = {"noise_statistic": "mad"}
    sampled = [smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, tmp_path / f"{k}.zarr",
                                                          options=options, tile_px=TILE,
                                                          progress=False).compute()
               for k in range(2)]
    assert np.array_equal(*sampled)                                 # deterministic
    assert np.sum(sampled[0] != want) <= 0.1 * want.sum()


def test_a_killed_run_resumes_at_its_stage(tmp_path, disk, monkeypatch):
    _, lazy_cube = disk
    reference = smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, tmp_path / "ref.zarr",
                                                           tile_px=TILE, progress=False).compute()
    real, calls = smooth_clip_passes._detect_tiles, []

    @functools.wraps(real)
    def dying(*args):
        calls.append(1)
        if len(calls) == 4:                     # the detections of the fourth kernel
            raise KeyboardInterrupt("killed")
        return real(*args)

    monkeypatch.setattr(smooth_clip_passes, "_detect_tiles", dying)
    out = tmp_path / "run.zarr"
    with pytest.raises(KeyboardInterrupt):
        smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, out, tile_px=TILE, progress=False)
    work = tmp_path / ".run.zarr.partial"
    assert not out.exists()
    assert json.loads((work / "state.json").read_text())["stage"] == "detect"
    assert json.loads((work / "state.json").read_text())["kernel"] == 3
    with pytest.raises(ValueError, match=r"unfinished run with other arguments \(tile differ\)"):
        smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, out, tile_px=48, progress=False)
    monkeypatch.undo()
    calls.clear()
    done = smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, out, tile_px=TILE, progress=False)
    assert np.array_equal(done.compute(), reference)
    assert not work.exists()


def test_bad_options_are_named(tmp_path, disk):
    _, lazy_cube = disk
    with pytest.raises(ValueError, match="n_sigma"):
        blockwise.denoise_blocks(lazy_cube, "smooth_clip", tmp_path / "x.zarr",
                                 options={"n_sigma": 0})
    with pytest.raises(ValueError, match="noise_statistic"):
        smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, tmp_path / "x.zarr",
                                                   options={"noise_statistic": "std"})
    with pytest.raises(ValueError, match="unknown option"):
        smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, tmp_path / "x.zarr",
                                                   options={"nope": 1})
    with pytest.raises(ValueError, match="boxcar widths must be 0 or odd"):
        smooth_clip_passes.smooth_clip_mask_blocks(
            lazy_cube, tmp_path / "x.zarr", options={"spectral_kernels_channels": (0, 4)})


@pytest.mark.parametrize("fraction", [0.0, 100.0])
def test_pass_b_smooths_again_where_the_candidates_fall_short(tmp_path, disk, monkeypatch,
                                                              fraction):
    """Candidates kept beyond 100x the threshold of a tile's own noise never reach down to
    the cube's threshold: every tile is smoothed again; beyond 0, every voxel is a candidate
    and none is."""
    cube, lazy_cube = disk
    monkeypatch.setattr(smooth_clip_passes, "CANDIDATE_FRACTION", fraction)
    resmoothed = []
    real = smooth_clip_passes._smoothed

    def counted(*args):
        resmoothed.append(1)
        return real(*args)

    monkeypatch.setattr(smooth_clip_passes, "_smoothed", counted)
    mask = smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, tmp_path / "m.zarr",
                                                      tile_px=TILE, progress=False).compute()
    assert np.array_equal(mask, in_memory_mask(cube))
    # 16 tiles, each smoothed in pass A for the noise of the unsmoothed cube and of the 8
    # smoothed kernels, in pass B for the unsmoothed kernel, and for the 8 smoothed kernels
    # only where the candidates fall short
    expected = 16 * (1 + 8 + 1 + (8 if fraction > 1 else 0))
    assert len(resmoothed) == expected


def test_a_blank_tile_core_is_smoothed_again(tmp_path, disk):
    """A core with no measured voxel has no noise of its own: it keeps no candidates, and
    pass B smooths it again (its halo's emission spreads into it)."""
    cube, _ = disk
    data = cube.data.copy()
    data[:, 24:48, 72:96] = np.nan                   # the core of tile (1, 3), blank
    blank = cube.replace(data=data)
    path = cube.replace(data=data, gain=None).to_fits(tmp_path / "blank.fits")
    lazy_cube = gl.read_fits(path, gain=cube.gain, lazy=True)
    mask = smooth_clip_passes.smooth_clip_mask_blocks(lazy_cube, tmp_path / "m.zarr",
                                                      tile_px=TILE, progress=False).compute()
    assert np.array_equal(mask, in_memory_mask(blank))
