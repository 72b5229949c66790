"""The deep methods on lazy cubes, in passes: the in-memory answer, sampled statistics of big
cubes, blanks and gain, resuming, workers, and what needs the cube in memory."""
import functools
import json

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.denoise import blockwise
from galcube_lib.denoise.deep import lcae, passes

pytestmark = pytest.mark.deep

OPTIONS = {"unet": {}, "unet_family": {"weights": "unet3d_family"},
           "unet_blend": {"weights": "unet3d_blend"}, "spectral": {},
           "noise2self": {"steps": 3}, "noise2self_family": {"steps": 3,
                                                             "weights": "unet3d_family"},
           "lcae": {"epochs": 4}}


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    """A noisy disk (24 x 64 x 64, beam 4 px) and its truth, as a lazy FITS cube: 4 tiles of
    32 px."""
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=2.0),
                        gl.Observation(n_pix=64, n_chan=24, channel_kms=30.0))
    noisy = gl.add_noise(clean, peak_snr=4, rng=0)
    path = noisy.to_fits(tmp_path_factory.mktemp("disk") / "disk.fits")
    return clean, noisy, gl.read_fits(path, lazy=True)


def method_of(name):
    return name.split("_")[0]


def in_passes(cube, name, out, **kwargs):
    kwargs = {"tile_px": 32, "progress": False, **kwargs}
    return blockwise.denoise_blocks(cube, method_of(name), out, options=OPTIONS[name],
                                    **kwargs).data.compute()


def in_memory(noisy, name):
    return gl.denoise(noisy, method_of(name), null_check=0, **OPTIONS[name]).data


def rmse(data, truth):
    return float(np.sqrt(np.mean((data - truth) ** 2)))


@pytest.mark.parametrize("name", list(OPTIONS))
def test_passes_equal_the_in_memory_method_to_round_off(tmp_path, disk, name):
    # the cube is below SAMPLE_VOXELS: every statistic sees the whole cube, the U-Net's tiles
    # are the whole cube's, noise2self's crops are the same draws and lcae trains on the same
    # spectra in the same order
    _, noisy, cube = disk
    whole = in_memory(noisy, name)
    got = in_passes(cube, name, tmp_path / "r.zarr")
    np.testing.assert_allclose(got, whole, rtol=0, atol=1e-6 * np.abs(whole).max())
    record = gl.denoise(cube, method_of(name), out=tmp_path / "r.fits", **OPTIONS[name]).record
    assert record["denoise"]["blockwise"]["passes"] is True


@pytest.mark.parametrize("name, tolerance", [("unet_family", 0.15), ("noise2self_family", 0.15),
                                             ("noise2self", 0.1)])
def test_big_cubes_measure_the_noise_on_a_sample(tmp_path, disk, monkeypatch, name, tolerance):
    # with the limit lowered to 24^3 voxels the level map comes from every 8th channel and the
    # spectral correlation from the central 24 x 24 spaxels: close to the in-memory answer
    clean, noisy, cube = disk
    monkeypatch.setattr(passes, "SAMPLE_VOXELS", 24 ** 3)
    whole = in_memory(noisy, name)
    got = in_passes(cube, name, tmp_path / "r.zarr")
    assert rmse(got, whole) <= tolerance * rmse(whole, clean.data)


def test_lcae_trains_on_a_sample_of_the_spectra_of_big_cubes(tmp_path, disk, monkeypatch):
    clean, noisy, cube = disk
    monkeypatch.setattr(passes, "SAMPLE_VOXELS", 24 ** 3)
    trained_on = []
    real = lcae.train_autoencoder

    def recording(spectra, inside, **kwargs):
        trained_on.append(spectra.shape)
        return real(spectra, inside, **kwargs)
    monkeypatch.setattr(lcae, "train_autoencoder", recording)
    got = in_passes(cube, "lcae", tmp_path / "r.zarr")
    assert trained_on == [(24 ** 3 // 24, 24)]
    assert rmse(got, clean.data) <= 1.25 * rmse(in_memory(noisy, "lcae"), clean.data)
    assert rmse(got, clean.data) < rmse(noisy.data, clean.data)


def test_blanks_and_gain_are_handled_per_tile(tmp_path, disk):
    _, noisy, _ = disk
    data = noisy.data.copy()
    data[:, :32, :32] = np.nan                     # a whole tile blank, and part of others
    data[:, 40:44, 50:] = np.nan
    gain = np.full(noisy.shape, 0.8, np.float32)
    gain[:, 40:, :] = 0.5
    cube = noisy.replace(data=data, gain=gain)
    for name in ("unet", "spectral"):
        whole = gl.denoise(cube, name, null_check=0).data
        got = in_passes(cube, name, tmp_path / f"{name}.zarr")
        assert np.array_equal(np.isnan(got), np.isnan(whole))
        np.testing.assert_allclose(got, whole, rtol=0, atol=1e-6 * np.nanmax(np.abs(whole)))


def test_a_killed_run_resumes_without_training_again(tmp_path, disk, monkeypatch):
    _, _, cube = disk
    reference = in_passes(cube, "lcae", tmp_path / "ref.zarr")
    calls = []
    real = passes._predict

    @functools.wraps(real)
    def dying(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(*args)
    monkeypatch.setattr(passes, "_predict", dying)
    out = tmp_path / "run.zarr"
    with pytest.raises(KeyboardInterrupt):
        in_passes(cube, "lcae", out)
    work = tmp_path / ".run.zarr.partial"
    assert len(list((work / "done").iterdir())) == 2
    assert json.loads((work / "state.json").read_text())["model"]["weights"] == "model.pt"
    monkeypatch.undo()

    def no_training(*args, **kwargs):
        raise AssertionError("the resumed run trained again")
    monkeypatch.setattr(lcae, "train_autoencoder", no_training)
    assert np.array_equal(in_passes(cube, "lcae", out), reference)
    assert not work.exists()


def test_two_workers_give_the_same_result_to_round_off(tmp_path, disk):
    # a worker runs torch on one thread, this process on two: the convolutions sum in another
    # order (measured: 1.7e-7 of the peak, on most voxels)
    _, _, cube = disk
    one = in_passes(cube, "unet", tmp_path / "1.zarr")
    two = in_passes(cube, "unet", tmp_path / "2.fits", workers=2)
    np.testing.assert_allclose(two, one, rtol=0, atol=1e-6 * np.abs(one).max())


@pytest.mark.parametrize("options, match", [({"uncertainty": 2}, "uncertainty=2 is not taken"),
                                            ({"adapt": 5}, "adapt=5 is not taken"),
                                            ({"tile": (16, 64, 64)}, "tile"),
                                            ({"weights": "nope"}, "nope")])
def test_what_needs_the_cube_in_memory_is_refused_by_name(tmp_path, disk, options, match):
    _, _, cube = disk
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        gl.denoise(cube, "unet", out=tmp_path / "x.zarr", **options)
    with pytest.raises(ValueError, match="window"):
        gl.denoise(cube, "lcae", out=tmp_path / "x.zarr", window=0)
