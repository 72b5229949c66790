"""Adapting the U-Net to a cube's own noise: emission-free blocks, injected disks, the switch."""
import numpy as np
import pytest
import torch

import galcube_lib as gl
from galcube_lib.denoise.deep import weights as _models
from galcube_lib.denoise.deep.adapt import adapt, emission_free_blocks
from galcube_lib.sim.prior import draw_disk
from galcube_lib.denoise.deep.networks.unet3d import UNet3D
from galcube_lib.denoise.deep.unet import load_unet, unet

pytestmark = pytest.mark.deep

BEAM = (3.0, 3.0)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    return _models.save(UNet3D(width=2), path, {"network": {"width": 2, "dropout": 0.0}})


def noise_cube(shape=(40, 96, 96), seed=0):
    noise = gl.noise.models.NoiseModel().draw(shape, BEAM[0], rng=seed)
    return noise / np.sqrt(np.mean(noise[noise < 0] ** 2))


def test_blocks_stay_clear_of_the_emission():
    x = noise_cube()
    x[10:20, 40:56, 40:56] += 8.0          # a bright source
    corners = emission_free_blocks(x, (16, 32, 32), BEAM, 0.0, np.random.default_rng(1))
    assert len(corners) > 20
    for v, y, xx in corners:               # no block reaches the source, grown by a beam
        overlap_v = v < 20 + 1 and v + 16 > 10 - 1
        overlap_y = y < 56 + 3 and y + 32 > 40 - 3
        overlap_x = xx < 56 + 3 and xx + 32 > 40 - 3
        assert not (overlap_v and overlap_y and overlap_x)


def test_disks_have_the_lines_and_sizes_asked_for():
    gen = np.random.default_rng(2)
    disks = [draw_disk(gen, BEAM, 20.0, (0.5, 3.0), (2.0, 38.4)) for _ in range(300)]
    r_eff = np.array([d.r_eff_kpc for d in disks])   # kpc = px
    assert r_eff.min() >= 0.5 * 1.5 and r_eff.max() <= 3.0 * 1.5
    # the integrated line's FWHM: 2 v sin i = width, dispersion FWHM width / 2
    width = np.array([2 * d.v_max_kms * max(np.sin(np.radians(d.inclination_deg)), 0.2)
                      for d in disks]) / 20.0
    assert width.min() >= 2.0 - 1e-9 and width.max() <= 38.4 + 1e-9
    assert width.max() > 30 and width.min() < 2.5


def test_adaptation_learns_the_injected_disks_and_is_reproducible(tiny_weights):
    x = noise_cube()
    runs = []
    for _ in range(2):
        model, _ = load_unet(tiny_weights)
        torch.manual_seed(0)
        info = adapt(model, x, beam_fwhm_px=BEAM, channel_kms=30.0, steps=40, crop=(32, 32, 32),
                     lr=3e-3, empty_fraction=0.0, gen=np.random.default_rng(3))
        runs.append((info, [p.detach().clone() for p in model.parameters()]))
    info = runs[0][0]
    assert info["noise"] == "emission-free blocks of the cube" and info["blocks"] > 20
    assert info["loss_last"] < info["loss_first"]
    for a, b in zip(runs[0][1], runs[1][1]):
        torch.testing.assert_close(a, b)


def test_a_cube_full_of_emission_adapts_on_drawn_noise(tiny_weights):
    x = noise_cube((32, 40, 40))
    x[:, 4:36, 4:36] += 6.0                 # emission in every block
    model, _ = load_unet(tiny_weights)
    info = adapt(model, x, beam_fwhm_px=BEAM, channel_kms=30.0, steps=2, crop=(32, 32, 32),
                 gen=np.random.default_rng(0))
    assert info["noise"] == "drawn like its emission-free voxels" and info["blocks"] == 0


def test_calibration_places_are_the_cubes_own_noise_off_its_emission():
    from galcube_lib.denoise.deep.adapt import CALIBRATION_FREE_SHARE, _noise_draws

    x = noise_cube((32, 96, 96))
    emission = np.zeros(x.shape, bool)
    for y in range(6, 96, 24):              # a compact source in every 32 x 32 block
        for xx in range(6, 96, 24):
            emission[12:20, y:y + 4, xx:xx + 4] = True
    x[emission] += 40.0
    draws = _noise_draws(x, (32, 32, 32), BEAM, 0.0, np.random.default_rng(0))
    assert draws["noise"] == "drawn like its emission-free voxels"   # no free block to adapt on
    assert draws["calibration"].startswith("the cube's noise")       # but real noise to calibrate
    for _ in range(20):
        block, free = draws["calibrate"]()
        assert free.mean() >= CALIBRATION_FREE_SHARE
        # the block is the cube's own: find it, and check that no source voxel counts as free
        _, y, xx = np.argwhere(x == block[0, 0, 0])[0]    # noise values are all distinct
        np.testing.assert_array_equal(block, x[:, y:y + 32, xx:xx + 32])
        assert not (free & emission[:, y:y + 32, xx:xx + 32]).any()


def test_each_calibration_disk_counts_once():
    from galcube_lib.denoise.deep.uncertainty import calibrate_floor

    # a big disk well covered (need 1) and a small one missed (need 9): voxel by voxel the big
    # one decides; disk by disk, 68% coverage needs the small one covered too
    errors, sigmas = np.array([1.0, 1.0, 1.0, 3.0]), np.zeros(4)
    # need = [1, 1, 1, 9]: its 68% quantile (linear, position 2.04) is 1 + 0.04 * 8
    assert calibrate_floor(errors, sigmas, np.ones(4)) == pytest.approx(np.sqrt(1 + 0.04 * 8))
    weights = np.array([1 / 3, 1 / 3, 1 / 3, 1.0])
    assert calibrate_floor(errors, sigmas, np.ones(4), weights=weights) == pytest.approx(3.0)
    for bad in (np.ones(3), -weights, np.zeros(4)):
        with pytest.raises(ValueError, match="weights"):
            calibrate_floor(errors, sigmas, np.ones(4), weights=bad)


def test_denoise_passes_the_beam_and_the_switch_works(tiny_weights):
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=1.5), gl.Observation(n_pix=64, n_chan=32,
                                                                  beam_fwhm_px=3.0))
    noisy = gl.add_noise(clean, peak_snr=5.0, rng=1)
    before = torch.get_rng_state()
    off = gl.denoise(noisy, "unet", weights=tiny_weights).data
    on = gl.denoise(noisy, "unet", weights=tiny_weights, adapt=3).data
    assert torch.equal(torch.get_rng_state(), before)
    assert np.abs(on - off).max() > 0       # adapted weights
    np.testing.assert_array_equal(on, gl.denoise(noisy, "unet", weights=tiny_weights,
                                                 adapt=3).data)
    with pytest.raises(ValueError, match="adapt"):
        unet(noisy.data, weights=tiny_weights, adapt=3)
    with pytest.raises(ValueError, match="adapt"):
        unet(noisy.data, weights=tiny_weights, adapt=-1)


def test_the_uncertainty_floor_is_calibrated_on_held_out_blocks_of_the_cubes_noise(tiny_weights):
    from galcube_lib.denoise.deep.uncertainty import calibrate_floor

    x = noise_cube()
    model, _ = load_unet(tiny_weights)
    info = adapt(model, x, beam_fwhm_px=BEAM, channel_kms=30.0, steps=2, crop=(32, 32, 32),
                 calibration_blocks=4, n_samples=2, gen=np.random.default_rng(5))
    # an untrained network returns ~nothing: its error on the disks is the disks themselves,
    # and the floor must grow to cover 68% of them (re-sampling sees no spread in ~0 outputs)
    assert info["uncertainty_floor"] > 0.3
    assert calibrate_floor(np.array([1.0, 2.0, 3.0]), np.zeros(3), np.ones(3), 0.5) == 2.0


def test_an_adapted_unet_uses_the_floor_it_calibrated(tiny_weights):
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=1.5), gl.Observation(n_pix=64, n_chan=32,
                                                                  beam_fwhm_px=3.0))
    noisy = gl.add_noise(clean, peak_snr=5.0, rng=1).data
    context = {"beam_fwhm_px": (3.0, 3.0), "channel_kms": 30.0, "weights": tiny_weights}
    plain = unet(noisy, uncertainty=2, **context)
    adapted = unet(noisy, uncertainty=2, adapt=2, **context)
    s = np.sqrt(np.mean(noisy[noisy < 0] ** 2))
    assert plain.uncertainty.min() < 0.1 * s      # the tiny card has no floor
    assert adapted.uncertainty.min() > 0.2 * s    # the floors calibrated on the disks have


def test_adapted_weights_written_once_denoise_as_adapting_on_the_call(tiny_weights, tmp_path):
    from galcube_lib.denoise.deep.adapt import adapt_weights

    clean = gl.simulate(gl.Galaxy(r_eff_kpc=1.5), gl.Observation(n_pix=64, n_chan=32,
                                                                  beam_fwhm_px=3.0))
    noisy = gl.add_noise(clean, peak_snr=5.0, rng=1)
    before = torch.get_rng_state()
    path = adapt_weights(noisy, tmp_path / "adapted.pt", weights=tiny_weights, steps=3,
                         uncertainty=2, rng=0, progress=False)
    assert torch.equal(torch.get_rng_state(), before)
    card = _models.load(path)[1]
    assert card["adapted"]["steps"] == 3 and card["adapted_to"]["shape"] == [32, 64, 64]
    assert card["uncertainty_floor"] == card["adapted"]["uncertainty_floor"] > 0
    on_call = gl.denoise(noisy, "unet", weights=tiny_weights, adapt=3, uncertainty=2, rng=0)
    from_file = gl.denoise(noisy, "unet", weights=path, uncertainty=2, rng=0)
    plain = gl.denoise(noisy, "unet", weights=tiny_weights, rng=0)
    s = np.sqrt(np.mean(noisy.data[noisy.data < 0] ** 2))
    # the same adaptation: equal up to the half precision of the written weights
    assert np.abs(from_file.data - on_call.data).max() < 1e-2 * s
    assert np.abs(plain.data - on_call.data).max() > 10 * np.abs(from_file.data
                                                                 - on_call.data).max()
    # the floors calibrated on the cube, one per bin of the denoised cube's local peak
    from galcube_lib.denoise.deep.uncertainty import peak_floor

    table = card["uncertainty_floor_by_peak"]
    assert table == card["adapted"]["uncertainty_floor_by_peak"] and len(table["beta"]) == 4
    scale = _models.normalise(noisy.data)
    floor = peak_floor(table, from_file.data / scale) * scale
    assert (from_file.uncertainty >= 0.999 * floor).all()


@pytest.mark.parametrize("kwargs, match", [({"path": "adapted.npz"}, "path"),
                                           ({"steps": 0, "uncertainty": 0}, "steps"),
                                           ({"uncertainty": 1}, "uncertainty")])
def test_bad_adaptation_arguments_are_named(tiny_weights, tmp_path, kwargs, match):
    from galcube_lib.denoise.deep.adapt import adapt_weights

    cube = gl.add_noise(gl.simulate(gl.Galaxy(), gl.Observation(n_pix=32, n_chan=16)),
                        peak_snr=5.0, rng=0)
    kwargs = {"path": "adapted.pt", **kwargs}
    with pytest.raises(ValueError, match=match):
        adapt_weights(cube, tmp_path / kwargs.pop("path"), weights=tiny_weights, **kwargs)


def test_smaller_blocks_of_real_noise_are_taken_before_noise_is_drawn(tiny_weights):
    x = noise_cube((32, 96, 96))
    x[:, 40:56, 40:56] += 8.0        # every 64 x 64 block of this 96 px image covers px 32-64
    model, _ = load_unet(tiny_weights)
    info = adapt(model, x, beam_fwhm_px=BEAM, channel_kms=30.0, steps=2, crop=(32, 64, 64),
                 gen=np.random.default_rng(0))
    assert info["noise"] == "emission-free blocks of the cube" and info["block"] == [32, 32, 32]
    assert info["blocks"] >= 20


def test_a_calibration_only_pass_keeps_the_network_and_calibrates_in_the_cubes_noise(tiny_weights):
    from galcube_lib.denoise.deep.adapt import _noise_draws

    x = noise_cube()
    model, _ = load_unet(tiny_weights)
    before = [p.detach().clone() for p in model.parameters()]
    info = adapt(model, x, beam_fwhm_px=BEAM, channel_kms=30.0, steps=0, crop=(32, 32, 32),
                 calibration_blocks=4, n_samples=2, gen=np.random.default_rng(5))
    for a, b in zip(before, model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert info["steps"] == 0 and "loss_first" not in info
    assert info["calibration"].startswith("the cube's noise")
    assert info["uncertainty_floor"] > 0.3           # an untrained network: see above
    # no block is reserved for training: in this small cube the training blocks leave no
    # calibration place, and a calibration-only pass finds places everywhere
    sources = [_noise_draws(x, (32, 32, 32), BEAM, 0.0, np.random.default_rng(0),
                            train=train)["calibration"] for train in (True, False)]
    assert sources[0] == "emission-free blocks of the cube kept from training"
    assert sources[1].startswith("the cube's noise")
    with pytest.raises(ValueError, match="steps"):
        adapt(model, x, beam_fwhm_px=BEAM, channel_kms=30.0, steps=0)


def test_the_plain_unet_calibrated_on_the_call_or_written_once(tiny_weights, tmp_path):
    from galcube_lib.denoise.deep.adapt import adapt_weights
    from galcube_lib.denoise.deep.uncertainty import peak_floor

    clean = gl.simulate(gl.Galaxy(r_eff_kpc=1.5), gl.Observation(n_pix=64, n_chan=32,
                                                                  beam_fwhm_px=3.0))
    noisy = gl.add_noise(clean, peak_snr=5.0, rng=1)
    plain = gl.denoise(noisy, "unet", weights=tiny_weights, uncertainty=2, rng=0)
    calibrated = gl.denoise(noisy, "unet", weights=tiny_weights, uncertainty=2, calibrate=True,
                            rng=0)
    np.testing.assert_array_equal(calibrated.data, plain.data)     # the same network
    s = np.sqrt(np.mean(noisy.data[noisy.data < 0] ** 2))
    assert plain.uncertainty.min() < 0.1 * s                       # the tiny card has no floor
    assert calibrated.uncertainty.min() > 0.2 * s                  # the calibrated one has
    path = adapt_weights(noisy, tmp_path / "calibrated.pt", weights=tiny_weights, steps=0,
                         uncertainty=2, rng=0, progress=False)
    card = _models.load(path)[1]
    assert card["adapted"]["steps"] == 0 and len(card["uncertainty_floor_by_peak"]["beta"]) == 4
    from_file = gl.denoise(noisy, "unet", weights=path, uncertainty=2, rng=0)
    np.testing.assert_array_equal(from_file.data, plain.data)      # weights written unchanged
    scale = _models.normalise(noisy.data)
    floor = peak_floor(card["uncertainty_floor_by_peak"], from_file.data / scale) * scale
    assert (from_file.uncertainty >= 0.999 * floor).all()
    with pytest.raises(ValueError, match="uncertainty"):
        gl.denoise(noisy, "unet", weights=tiny_weights, calibrate=True)
    with pytest.raises(ValueError, match="calibrate"):
        unet(noisy.data, weights=tiny_weights, uncertainty=2, calibrate=True)
