"""Training: data, normalisation, checkpoints, resuming and DistributedDataParallel."""
import numpy as np
import pytest
import torch

from galcube_lib.training import unet as tr
from galcube_lib.denoise.deep.unet import load_unet

pytestmark = pytest.mark.deep

TINY = dict(steps=4, width=2, batch_size=1, crop=(32, 32, 32), val_size=1, val_every=2, seed=3)


def weights(path):
    return torch.load(path, weights_only=False)["model"]


def test_pairs_are_normalised_by_the_noise_and_reproducible():
    seq = np.random.SeedSequence(5)
    noisy, clean = tr.simulated_pair(seq)
    noise = noisy - clean
    # in noise units: the noise has unit spread, the peak is the drawn peak SNR (2.5 - 10)
    assert 0.9 < noise.std() < 1.1
    assert 2.2 < clean.max() < 11
    again = tr.simulated_pair(np.random.SeedSequence(5))
    np.testing.assert_array_equal(noisy, again[0])


def test_empty_samples_have_no_signal():
    noisy, clean = tr.simulated_pair(np.random.SeedSequence(0), empty_fraction=1.0)
    assert not clean.any() and 0.9 < noisy.std() < 1.1


def test_training_samples_follow_the_configured_peak_snr():
    # a full-size crop keeps the brightest voxel, whose value in noise units is the peak SNR
    config = tr.TrainConfig(**{**TINY, "crop": (40, 96, 96), "batch_size": 4,
                               "peak_snr": (3.0, 3.0), "empty_fraction": 0.0})
    _, clean = tr.batch(config, step=0, first=0, count=4)
    np.testing.assert_allclose(clean.max(axis=(1, 2, 3, 4)), 3.0, rtol=0.08)


def test_batches_crop_and_flip_both_cubes_alike():
    config = tr.TrainConfig(**TINY)
    x, y = tr.batch(config, step=0, first=0, count=2)
    assert x.shape == y.shape == (2, 1, 32, 32, 32) and x.dtype == np.float32
    assert 0.8 < (x - y).std() < 1.2  # the crop of the noise is still unit noise
    x1, _ = tr.batch(config, step=0, first=1, count=1)
    np.testing.assert_array_equal(x1[0], x[1])  # sample j depends on (seed, step, j) only


def test_flux_loss_penalises_a_uniform_offset_more_than_mse():
    target = torch.zeros(2, 1, 8, 8, 8)
    pred = target + 0.1
    mse = tr.loss_fn(pred, target, 0.0)
    assert float(mse) == pytest.approx(0.01)
    # summed flux error 0.1 * 512 per sample, squared / 512 voxels = 5.12
    assert float(tr.loss_fn(pred, target, 1.0)) == pytest.approx(0.01 + 5.12, rel=1e-5)


def test_runs_are_reproducible_and_keep_their_best_checkpoint(tmp_path):
    best = tr.train(tmp_path / "a", progress=False, **TINY)
    tr.train(tmp_path / "b", progress=False, **TINY)
    a, b = weights(tmp_path / "a" / "last.pt"), weights(tmp_path / "b" / "last.pt")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    history = tr.history(tmp_path / "a")
    assert list(history.columns) == ["step", "train_loss", "val_loss", "best_val", "lr",
                                     "elapsed_s", "cpu_s"]
    assert best.name == "best.pt"
    assert torch.load(best, weights_only=False)["best_val"] == pytest.approx(history["val_loss"].min())
    model, card = load_unet(best)
    assert card["network"]["width"] == 2 and card["training"]["steps"] == 4


def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path):
    tr.train(tmp_path / "full", progress=False, **TINY)
    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        _interrupt_after_step(out, 3)
    assert torch.load(out / "last.pt", weights_only=False)["step"] == 2
    tr.train(out, progress=False, **TINY)
    a, b = weights(tmp_path / "full" / "last.pt"), weights(out / "last.pt")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    history = tr.history(out)
    assert list(history["step"]) == [2, 4]


def _interrupt_after_step(out, n):
    """Run TINY but raise KeyboardInterrupt when step ``n`` asks for its batch."""
    original = tr.batch

    def batch(config, step, *args):
        if step == n - 1:
            raise KeyboardInterrupt
        return original(config, step, *args)

    tr.batch = batch
    try:
        tr.train(out, progress=False, **TINY)
    finally:
        tr.batch = original


def test_two_processes_equal_one_with_twice_the_batch(tmp_path):
    one = tmp_path / "one"
    tr.train(one, progress=False, **{**TINY, "batch_size": 2, "steps": 2})
    ddp = tmp_path / "ddp"
    tr.train(ddp, processes=2, progress=False, **{**TINY, "batch_size": 1, "steps": 2},
             device="cpu")
    a, b = weights(one / "last.pt"), weights(ddp / "last.pt")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)


def test_a_different_configuration_in_the_same_folder_is_refused(tmp_path):
    tr.train(tmp_path, progress=False, **TINY)
    with pytest.raises(ValueError, match="width"):
        tr.train(tmp_path, progress=False, **{**TINY, "width": 4})


@pytest.mark.parametrize("bad,match", [({"crop": (16, 32, 32)}, "crop"), ({"steps": 0}, "steps"),
                                       ({"lr": -1.0}, "lr"), ({"clip_grad": 0.0}, "clip_grad"),
                                       ({"peak_snr": (5.0, 2.0)}, "peak_snr")])
def test_bad_configuration_is_named(bad, match):
    with pytest.raises(ValueError, match=match):
        tr.TrainConfig(**{**TINY, **bad})


def test_device_must_exist():
    with pytest.raises(ValueError, match="device"):
        tr.train("unused", device="tpu", **TINY)


def test_export_ships_the_best_checkpoint_with_its_card(tmp_path, monkeypatch):
    monkeypatch.setenv("GALCUBE_MODELS", str(tmp_path / "models"))
    tr.train(tmp_path / "run", progress=False, **TINY)
    with pytest.warns(DeprecationWarning, match="run_dir= is deprecated, use run="):
        path = tr.export(run_dir=tmp_path / "run", name="tiny", figures={"nrmse": 0.5},
                         n_calibration=2,
                         previous={"name": "earlier", "best_step": 7, "figures": {"x": 1}})
    assert path == tmp_path / "models" / "tiny.pt"
    model, card = load_unet("tiny")
    assert card["initialised_from"] == {"name": "earlier", "best_step": 7}
    assert "peak SNR drawn in 2.5-10" in card["data"]
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert card["best_step"] == best["step"] and card["training"]["width"] == 2
    assert card["figures"] == {"nrmse": 0.5} and card["wall_time_s"] > 0
    assert card["uncertainty_floor"] >= 0
    for k, v in best["model"].items():  # half precision keeps the weights to ~1e-3
        torch.testing.assert_close(model.state_dict()[k], v, rtol=2e-3, atol=1e-4)


def test_training_can_start_from_earlier_weights(tmp_path):
    first = tr.train(tmp_path / "first", progress=False, **TINY)
    tr.train(tmp_path / "again", progress=False, **{**TINY, "steps": 1, "lr": 1e-7,
                                                     "init": str(first)})
    a, b = weights(first), weights(tmp_path / "again" / "last.pt")
    for k in a:  # one step at a tiny learning rate barely moves the starting weights
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_calibration_seeds_follow_spec_7(tmp_path, monkeypatch):
    from galcube_lib.denoise.deep import weights as _models
    from galcube_lib.denoise.deep.networks.unet3d import UNet3D

    pair = tr.simulated_pair   # the same seeds, a small part of each cube: fast
    monkeypatch.setattr(tr, "simulated_pair",
                        lambda seq, **kw: [a[:32, 32:64, 32:64] for a in pair(seq, **kw)])
    torch.manual_seed(0)
    path = _models.save(UNet3D(width=2), tmp_path / "tiny.pt", {"network": {"width": 2}})
    beta = tr.calibrate_uncertainty(path, n_cubes=1, rng=4, n_samples=2, progress=False)
    assert beta >= 0
    with pytest.warns(DeprecationWarning, match="seed= is deprecated, use rng="):
        assert tr.calibrate_uncertainty(path, n_cubes=1, seed=4, n_samples=2,
                                        progress=False) == beta
    assert tr.calibrate_uncertainty(path, n_cubes=1, rng=np.random.SeedSequence(4), n_samples=2,
                                    progress=False) == beta
    assert tr.calibrate_uncertainty(path, n_cubes=1, rng=5, n_samples=2, progress=False) != beta


# ------------------------------------------------ the interferometric noise family (issue 14) ----

def test_family_scenes_span_the_channel_widths_and_beams_of_the_family():
    priors = [tr.family_prior(k) for k in range(300)]
    channels = np.array([p.channel_kms for p in priors])
    beams = np.array([p.beam_fwhm_px for p in priors])
    lo, hi = tr.FAMILY_SCENES["channel_kms"]
    assert channels.min() >= lo and channels.max() <= hi
    # log-uniform: the geometric midpoint splits the draws in half
    assert 0.4 < np.mean(channels < np.sqrt(lo * hi)) < 0.6
    assert beams.min() >= 2.5 and beams.max() <= 6.0
    assert all(p.n_chan == 96 for p in priors)


def _line_channels(clean):
    """FWHM, in channels, of the integrated spectrum."""
    spectrum = clean.sum(axis=(1, 2))
    return int(np.sum(spectrum >= spectrum.max() / 2))


def test_family_scenes_have_lines_of_2_to_60_channels():
    from galcube_lib.sim.simulate import simulate

    widths = []
    for k in range(150):
        scene = tr.family_prior(k).draw(k)
        widths.append(_line_channels(simulate(scene.components[:1], scene.observation).data))
    assert min(widths) <= 2 and max(widths) >= 60


def test_family_pairs_carry_the_family_noise():
    lag1 = []
    for k in range(16):
        noisy, clean = tr.simulated_pair(np.random.SeedSequence(k), noise="family")
        assert noisy.shape == (96, 96, 96)
        noise = (noisy - clean).astype(np.float64)
        lag1.append(np.mean(noise[1:] * noise[:-1]) / np.mean(noise * noise))
    lag1 = np.array(lag1)
    # white / lag-k spectra (lag-1 correlation near 0) and Hanning ones (2/3) are both drawn
    assert np.any(np.abs(lag1) < 0.1) and np.any(np.abs(lag1 - 2 / 3) < 0.08)
    again = tr.simulated_pair(np.random.SeedSequence(3), noise="family")
    np.testing.assert_array_equal(again[0], tr.simulated_pair(np.random.SeedSequence(3),
                                                              noise="family")[0])


def test_measured_spectral_acfs_reads_a_cubes_spectral_correlation(tmp_path):
    import galcube_lib as gl

    clean = gl.simulate(gl.Galaxy(flux_jy_kms=1e-9), gl.Observation(n_chan=48, n_pix=64))
    noisy = gl.add_noise(clean, rms_jy=1.0, kind="hanning", rng=1)
    (acf,) = tr.measured_spectral_acfs([noisy.to_fits(tmp_path / "hanning.fits")], max_lag=3)
    # Hanning-smoothed white noise: 2/3 at lag 1, 1/6 at lag 2, 0 beyond
    np.testing.assert_allclose(acf, (2 / 3, 1 / 6, 0.0), atol=0.04)
    config = tr.TrainConfig(**TINY, noise="family", spectral_acfs=(acf,))
    assert config.spectral_acfs == (acf,)


def test_a_level_input_network_sees_a_constant_level_along_the_spectrum():
    config = tr.TrainConfig(**TINY, noise="family", level_input=True)
    x, y = tr.batch(config, step=0, first=0, count=2)
    assert x.shape == (2, 2, 32, 32, 32) and y.shape == (2, 1, 32, 32, 32)
    level = x[:, 1]
    np.testing.assert_array_equal(level, np.broadcast_to(level[:, :1], level.shape))
    assert np.all(level > 0) and 0.5 < np.median(level) < 2.0  # in noise units


def test_one_channel_weights_start_a_level_input_network_that_computes_the_same(tmp_path):
    from galcube_lib.denoise.deep import weights as _models
    from galcube_lib.denoise.deep.networks.unet3d import UNet3D

    torch.manual_seed(0)
    path = _models.save(UNet3D(width=2), tmp_path / "one.pt", {"network": {"width": 2}})
    wide = tr.initial_network(tr.TrainConfig(**TINY, init=str(path), level_input=True))
    one, _ = load_unet(path)
    assert wide.in_channels == 2
    x = torch.randn(1, 1, 32, 32, 32)
    level = torch.rand(1, 1, 32, 32, 32) + 0.5
    with torch.inference_mode():
        np.testing.assert_allclose(wide(torch.cat([x, level], 1)).numpy(), one(x).numpy(),
                                   rtol=1e-5, atol=1e-6)
    two = _models.save(wide, tmp_path / "two.pt", {"network": wide.config()})
    with pytest.raises(ValueError, match="level_input"):
        tr.initial_network(tr.TrainConfig(**TINY, init=str(two)))


@pytest.mark.parametrize("bad,match", [({"noise": "pink"}, "noise"),
                                       ({"spectral_acfs": ((1.5, 0.1),)}, "spectral_acfs"),
                                       ({"level_input": "yes"}, "level_input")])
def test_bad_noise_configuration_is_named(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        tr.TrainConfig(**{**TINY, **bad})
