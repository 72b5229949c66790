"""The 3D U-Net: the published architecture, tiled inference, scale equivariance, and what the
shipped weights do on the benchmark population."""
import numpy as np
import pytest
import torch

from galcube_lib.denoise.deep import weights as _models
from galcube_lib.denoise.deep.uncertainty import Denoised
from galcube_lib.denoise.deep.unet import load_unet, predict_region, predict_tiled, unet
from galcube_lib.denoise.deep.networks.unet3d import UNet3D

pytestmark = pytest.mark.deep


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    return _models.save(UNet3D(width=2), path, {"network": {"width": 2, "dropout": 0.0}})


def test_architecture_is_the_published_one():
    net = UNet3D(width=16)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    ups = [m for m in net.modules() if isinstance(m, torch.nn.ConvTranspose3d)]
    # two 3x3x3 convolutions at each of 4 levels down, the bottleneck and 4 levels up, + head
    assert sum(c.kernel_size == (3, 3, 3) for c in convs) == 2 * (4 + 1 + 4)
    assert all(c.padding_mode == "reflect" for c in convs if c.kernel_size == (3, 3, 3))
    assert len(ups) == 4 and all(u.stride == (2, 2, 2) for u in ups)
    assert max(c.out_channels for c in convs) == 16 * 16
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in net.modules()) == 2 * 9


@pytest.mark.parametrize("shape", [(40, 96, 96), (5, 33, 47), (17, 16, 70)])
def test_any_shape_goes_through(shape):
    net = UNet3D(width=2).eval()
    with torch.inference_mode():
        out = net(torch.randn(1, 1, *shape))
    assert out.shape == (1, 1, *shape)


class Doubler(torch.nn.Module):
    """A 'network' whose right answer is known everywhere: 2 x."""

    def forward(self, x):
        return 2 * x


@pytest.mark.parametrize("tile,overlap", [((32, 32, 32), (8, 8, 8)), ((40, 64, 48), (0, 16, 5))])
def test_tiles_blend_to_the_untiled_answer(tile, overlap):
    x = np.random.default_rng(0).standard_normal((45, 70, 81)).astype(np.float32)
    out = predict_tiled(Doubler(), x, tile, overlap)
    np.testing.assert_allclose(out, 2 * x, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("region", [(slice(None), slice(30, 61), slice(7, 50)),
                                    (slice(3, 20), slice(0, 70), slice(80, 81)),
                                    (slice(None),) * 3])
def test_a_region_is_predicted_as_in_the_whole_cube(tiny_weights, region):
    # block-wise denoising predicts a lazy cube one region at a time: each region must hold the
    # whole cube's blended answer, to the bit
    net = load_unet(tiny_weights)[0]
    x = np.random.default_rng(1).standard_normal((45, 70, 81)).astype(np.float32)
    reads = []

    def read(box):
        reads.append(box)
        return x[None][(slice(None),) + box]

    whole = predict_tiled(net, x, (32, 32, 32), (4, 8, 8))
    part = predict_region(net, read, x.shape, region, (32, 32, 32), (4, 8, 8))
    assert np.array_equal(part, whole[region])
    if region[2] == slice(80, 81):      # only the tiles that meet the region are read
        assert all(box[2].stop == 81 for box in reads)


def test_scale_equivariant_and_matches_the_network(tiny_weights):
    gen = np.random.default_rng(1)
    x = gen.standard_normal((24, 40, 40)).astype(np.float32)
    out = unet(x, weights=tiny_weights).data
    np.testing.assert_allclose(unet(x * 1e-3, weights=tiny_weights).data, out * 1e-3, rtol=1e-4,
                               atol=1e-6 * np.abs(out).max())
    model, _ = load_unet(tiny_weights)
    s = np.sqrt(np.mean(x[x < 0] ** 2))
    with torch.inference_mode():
        direct = model(torch.from_numpy(x / s)[None, None])[0, 0].numpy() * s
    np.testing.assert_allclose(out, direct, rtol=1e-5, atol=1e-5 * np.abs(direct).max())


def test_the_result_is_a_denoised_pair_whatever_the_uncertainty(tiny_weights):
    x = np.random.default_rng(2).standard_normal((16, 32, 32)).astype(np.float32)
    plain = unet(x, weights=tiny_weights)
    assert isinstance(plain, Denoised) and plain.uncertainty is None
    assert plain.data.shape == x.shape and plain.data.dtype == np.float32
    out, sigma = unet(x, weights=tiny_weights, uncertainty=2, rng=1)
    np.testing.assert_array_equal(out, plain.data)  # re-sampling leaves the denoised cube alone
    assert sigma.shape == x.shape and sigma.dtype == np.float32 and (sigma > 0).all()


def test_denoise_puts_the_uncertainty_on_the_cube(tiny_weights):
    import galcube_lib as gl

    obs = gl.Observation(n_pix=32, n_chan=16, channel_kms=30.0, beam_fwhm_px=3.0)
    noisy = gl.add_noise(gl.simulate([gl.Galaxy(r_eff_kpc=1.0)], obs), peak_snr=5.0, rng=0)
    expected = unet(noisy.data, weights=tiny_weights, uncertainty=2, rng=3)
    den = gl.denoise(noisy, "unet", weights=tiny_weights, uncertainty=2, rng=3)
    np.testing.assert_array_equal(den.data, expected.data)
    np.testing.assert_array_equal(den.uncertainty, expected.uncertainty)
    assert gl.denoise(noisy, "unet", weights=tiny_weights).uncertainty is None


def test_fp16_shipping_keeps_the_weights(tiny_weights):
    torch.manual_seed(0)
    state, card = _models.load(tiny_weights)
    original = UNet3D(width=2).state_dict()
    assert card["network"]["width"] == 2
    for k, v in original.items():
        np.testing.assert_allclose(state[k].numpy(), v.numpy(), rtol=1e-3, atol=1e-4)


def test_options_are_checked(tiny_weights):
    x = np.zeros((8, 8, 8), np.float32)
    with pytest.raises(ValueError, match="tile"):
        unet(x, weights=tiny_weights, tile=(16, 64, 64))
    with pytest.raises(ValueError, match="uncertainty"):
        unet(x, weights=tiny_weights, uncertainty=1)
    with pytest.raises(ValueError, match="weights='no_such_model' is not a shipped model name"):
        unet(x, weights="no_such_model")
    with pytest.raises(FileNotFoundError, match="no weights file at"):
        unet(x, weights="no_such_file.pt")


class LevelReader(torch.nn.Module):
    """A 'network' told the noise that returns what it was told: the level channel."""

    in_channels = 2

    def forward(self, x):
        return x[:, 1:2]


def test_a_network_told_the_noise_reads_the_cubes_noise_level_map():
    from galcube_lib.denoise.deep.unet import network_input
    from galcube_lib.noise.models import NoiseModel

    model = NoiseModel(primary_beam_fields=1.2)
    noise = model.draw((32, 96, 96), 3.0, rng=4)
    level = network_input(LevelReader(), noise / np.sqrt(np.mean(noise[noise < 0] ** 2)))[1]
    truth = model.level_map((96, 96))
    ratio = level[0] / truth
    # boxes of one to two beams follow 1 / gain: the same shape to a few per cent
    assert np.std(ratio) / np.mean(ratio) < 0.08
    out = predict_tiled(LevelReader(), network_input(LevelReader(), noise), (32, 48, 48), (4, 8, 8))
    np.testing.assert_allclose(out, network_input(LevelReader(), noise)[1], rtol=1e-5)


def test_blank_pixels_get_the_median_level():
    from galcube_lib.denoise.deep.unet import level_channel

    x = np.random.default_rng(0).standard_normal((16, 48, 48)).astype(np.float32)
    x[:, :, :16] = 0.0   # a blanked strip: no negative voxel to measure
    level = level_channel(x)
    assert np.all(np.isfinite(level)) and np.all(level > 0)
    np.testing.assert_allclose(level[0, :, :8], np.median(level[0, :, 24:]), rtol=0.1)
