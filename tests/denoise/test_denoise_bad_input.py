"""Denoisers under bad or unusual input (issue 12): every option's type, empty or tiny cubes,
garbage weights files, unavailable devices, and the direction of the axes."""
import inspect
import re

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.denoise.deep import weights as _models
from galcube_lib.denoise import METHODS, method_function
from galcube_lib.denoise.ist import ist
from galcube_lib.denoise.deep.noise2self import noise2self
from galcube_lib.denoise.deep.spectral import spectral
from galcube_lib.denoise.deep.unet import load_unet, unet
from galcube_lib.noise.estimate import noise_level, spatial_autocorrelation, spectral_correlation
from galcube_lib.training.unet import train

#: a value of the wrong type for each simple annotation
WRONG = {"bool": "no", "int": 2.5, "float": "1.0", "str": 3}


@pytest.fixture(scope="module")
def noisy():
    obs = gl.Observation(n_pix=32, n_chan=16, channel_kms=60.0, beam_fwhm_px=3.0)
    clean = gl.simulate([gl.Galaxy(r_eff_kpc=2.0, inclination_deg=50.0, pa_deg=30.0)], obs)
    return gl.add_noise(clean, peak_snr=6.0, kind="beam", rng=3)


def typed_options():
    out = []
    for method in METHODS:
        for p in inspect.signature(method_function(method)).parameters.values():
            kind = str(p.annotation).split("|")[0].strip()
            if p.kind == p.KEYWORD_ONLY and kind in WRONG and p.name not in (
                    "beam_fwhm_px", "beam_pa_deg", "channel_kms"):
                out.append((method, p.name, kind))
    return out


# ------------------------------------------------------------------ option types (case 1)

def test_positivity_no_is_an_error_not_true(noisy):
    with pytest.raises(TypeError, match=r"positivity must be True or False, got 'no'"):
        gl.denoise(noisy, "ist", positivity="no")
    with pytest.raises(TypeError, match="positivity"):
        ist(noisy.data, positivity="no")


@pytest.mark.parametrize("method,name,kind", typed_options(),
                         ids=[f"{m}.{n}" for m, n, _ in typed_options()])
def test_every_annotated_option_is_type_checked(noisy, method, name, kind):
    with pytest.raises(TypeError, match=rf"^{name} must be"):
        gl.denoise(noisy, method, **{name: WRONG[kind]})


def test_every_simple_option_of_every_method_is_annotated():
    """The dispatcher checks types from the annotations: an option without one would escape
    (``rng`` aside: it also takes a numpy Generator, and the methods check it)."""
    bare = [f"{m}.{p.name}" for m in METHODS
            for p in inspect.signature(method_function(m)).parameters.values()
            if p.annotation is p.empty and p.name != "rng"
            and isinstance(p.default, (bool, int, float, str))]
    assert bare == []


@pytest.mark.parametrize("call,name", [
    (lambda d: noise_level(d, per_channel="no"), "per_channel"),
    (lambda d: spatial_autocorrelation(d, negative="yes"), "negative"),
])
def test_flags_of_the_public_noise_functions_are_booleans(noisy, call, name):
    with pytest.raises(TypeError, match=rf"{name} must be True or False"):
        call(noisy.data)


def test_method_must_be_a_string(noisy):
    with pytest.raises(TypeError, match=r"method must be a string, one of 'gaussian'.*\['ist'\]"):
        gl.denoise(noisy, ["ist"])
    with pytest.raises(TypeError, match="method must be a string"):   # before the box is sought
        gl.denoise(noisy, ["ist"], box="auto")


# ------------------------------------------------------------------ empty and tiny cubes

@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("fill,match", [(np.nan, "cube has no finite voxel"),
                                        (0.0, r"cube is constant \(every finite voxel is 0\)"),
                                        (2.5, r"cube is constant \(every finite voxel is 2.5\)")])
def test_a_cube_with_nothing_to_denoise_is_named(noisy, method, fill, match):
    cube = noisy.replace(data=np.full(noisy.shape, fill, np.float32), clean=None, noise=None)
    with pytest.raises(ValueError, match=match):
        gl.denoise(cube, method)


@pytest.mark.parametrize("method", ["pca", "ica"])
@pytest.mark.parametrize("box,counts", [(((0, 1), (0, 32), (0, 32)), "1 channel(s) and 1024"),
                                        (((0, 16), (5, 6), (7, 8)), "16 channel(s) and 1 ")])
def test_a_cube_too_small_for_pca_or_ica_says_so(noisy, method, box, counts):
    """Not "max_components=15 is outside the valid range [1, 1]", an option nobody set."""
    with pytest.raises(ValueError, match=rf"too small for {method}: it has {re.escape(counts)}") as err:
        gl.denoise(noisy.crop(box), method)
    assert "max_components" not in str(err.value) and "n_sources" not in str(err.value)


@pytest.mark.parametrize("method", ["pca", "ica"])
def test_one_spaxel_with_data_is_too_few(noisy, method):
    data = np.full(noisy.shape, np.nan, np.float32)
    data[:, 10, 12] = noisy.data[:, 10, 12]
    with pytest.raises(ValueError, match=r"1 spaxel\(s\) with data"):
        gl.denoise(noisy.replace(data=data, clean=None, noise=None), method)


@pytest.mark.slow
def test_few_channels_clip_the_default_counts_and_keep_the_users(noisy):
    small = noisy.crop(((0, 5), (0, 32), (0, 32)))
    for method in ("pca", "ica"):
        assert np.isfinite(gl.denoise(small, method).data).all()
    with pytest.raises(ValueError, match=r"max_components=9 is more than the cube's 5 channels"):
        gl.denoise(small, "pca", max_components=9)
    with pytest.raises(ValueError, match=r"n_components=4 is more than the n_sources=3"):
        gl.denoise(small, "ica", n_sources=3, n_components=4)


def test_spectral_correlation_of_a_short_cube(noisy):
    """Not "max_lag=3 is outside the valid range [1, 0]"."""
    with pytest.raises(ValueError, match="data has 1 channel: the spectral correlation"):
        spectral_correlation(noisy.data[:1])
    assert spectral_correlation(noisy.data[:3]).shape == (2,)
    with pytest.raises(ValueError, match=r"needs a \(v, y, x\) cube with at least 2 channels"):
        noise2self(noisy.data[:1])
    with pytest.raises(ValueError, match=r"too small for noise2self: it has 3 channels, and "
                                         r"holding out every 4-th channel"):
        noise2self(noisy.data[:3], steps=0)


def test_an_automatic_box_on_a_single_spectrum_finds_no_emission(noisy):
    with pytest.raises(ValueError, match="box='auto' found no emission"):
        gl.denoise(noisy.crop(((0, 16), (5, 6), (7, 8))), "gaussian", box="auto")


# ------------------------------------------------------------------ weights and devices

@pytest.fixture(scope="module")
def garbage(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    (folder / "garbage.pt").write_bytes(b"\x80\x04not a pickle at all" * 10)
    (folder / "text.bin").write_text("hello")
    import torch

    torch.save({"a": [1, 2]}, folder / "no_tensors.pt")
    return folder


@pytest.mark.parametrize("name", ["garbage.pt", "text.bin", "no_tensors.pt"])
@pytest.mark.parametrize("method", [unet, spectral])
def test_a_garbage_weights_file_is_named(noisy, garbage, name, method):
    path = garbage / name
    with pytest.raises(ValueError, match=rf"{path} is not a galcube weights file .* corrupt"):
        method(noisy.data, weights=path)


def test_weights_of_another_network_are_named(noisy):
    with pytest.raises(ValueError, match=r"spectral.pt do not fit the UNet3D network"):
        unet(noisy.data, weights="spectral")


def test_weights_must_be_a_name_or_a_path(noisy):
    with pytest.raises(TypeError, match="weights must be a shipped model name"):
        unet(noisy.data, weights=3)
    with pytest.raises(ValueError, match=r"not a shipped model name: .*\(spectral, unet3d, unet3d_blend, unet3d_family\)"):
        unet(noisy.data, weights="no_such_model")
    with pytest.raises(FileNotFoundError, match=r"no weights file at .*nowhere.pt"):
        unet(noisy.data, weights="nowhere.pt")


@pytest.mark.skipif("cuda" in _models.available_devices(), reason="this machine has CUDA")
def test_cuda_without_cuda_names_the_devices(noisy, tmp_path):
    for call in (lambda: load_unet(device="cuda"),
                 lambda: gl.denoise(noisy, "unet", device="cuda"),
                 lambda: train(tmp_path, device="cuda:0", steps=1)):
        with pytest.raises(ValueError, match=r"device='cuda(:0)?' is not available on this "
                                             r"machine; use one of 'cpu'"):
            call()


@pytest.mark.parametrize("method", ["ica", "lcae", "unet"])
def test_rng_is_a_seed_not_a_bool(noisy, method):
    """rng=True was taken as the seed 1 (unet ignored any rng without uncertainty)."""
    with pytest.raises(TypeError, match="rng must be an int"):
        gl.denoise(noisy, method, rng=True)
    with pytest.raises(ValueError, match=r"rng=-1 is outside the valid range \[0, inf\)"):
        gl.denoise(noisy, method, rng=-1)


@pytest.mark.parametrize("value,error", [("gpu", ValueError), ("cuda:99", ValueError),
                                         ("", ValueError), (0, TypeError)])
def test_invalid_devices_are_named(noisy, value, error):
    with pytest.raises(error, match="device"):
        gl.denoise(noisy, "unet", device=value)


@pytest.mark.parametrize("options,match", [
    ({"tile": 64}, r"tile must be a tuple of 3 values"),
    ({"overlap": (8, 8)}, r"overlap=\(8, 8\) must have 3 values"),
    ({"uncertainty": 1}, r"uncertainty=1 is outside the valid range: 0"),
])
def test_unet_sequences_and_counts_are_named(noisy, options, match):
    with pytest.raises((TypeError, ValueError), match=match):
        gl.denoise(noisy, "unet", **options)


@pytest.mark.parametrize("options,match", [
    ({"crop": 32}, r"crop must be a tuple of 3 values"),
    ({"uncertainty": 1}, r"uncertainty=1 is outside the valid range: 0"),
])
def test_noise2self_sequences_and_counts_are_named(noisy, options, match):
    with pytest.raises((TypeError, ValueError), match=match):
        gl.denoise(noisy, "noise2self", steps=0, **options)


# ------------------------------------------------------------------ direction of the axes

def reverse_channels(cube):
    """The cube with its channels in the other order and the header saying so."""
    header = cube.header.copy()
    header["CDELT3"] = -header["CDELT3"]
    header["CRPIX3"] = cube.shape[0] + 1 - header["CRPIX3"]
    return cube.replace(data=cube.data[::-1], header=header, clean=None, noise=None)


@pytest.mark.parametrize("method", ["ist", "gaussian", "pca", "smooth_clip"])
def test_reversing_the_channels_reverses_the_result(noisy, method):
    """IST used to differ by 3.4 sigma (its decimated spectral wavelet); now bit for bit."""
    back = reverse_channels(noisy)
    np.testing.assert_allclose(back.velocity_kms, noisy.velocity_kms[::-1], atol=1e-6)
    forward = gl.denoise(noisy, method).data
    np.testing.assert_array_equal(gl.denoise(back, method).data[::-1], forward)


@pytest.mark.parametrize("method", ["ist", "gaussian", "pca", "smooth_clip"])
@pytest.mark.parametrize("axis", [1, 2])
def test_spatial_flips_flip_the_result(noisy, method, axis):
    """With a round beam a flip of the image is a flip of the sky: the result follows it (the
    Gaussian's FFT convolution to float32 round-off). ica and unet do not, nor spectral under
    a reversal of the channels: their docstrings say by how much."""
    func = method_function(method)
    data = noisy.data[:, 6:26, 8:24]
    flipped = np.ascontiguousarray(np.flip(data, axis))
    a = func(data, beam_fwhm_px=(3.0, 3.0))
    b = np.flip(func(flipped, beam_fwhm_px=(3.0, 3.0)), axis)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-6 * np.abs(data).max())


# ------------------------------------------------------------------ training configurations

@pytest.mark.parametrize("bad,error,match", [
    ({"crop": 32}, TypeError, r"crop must be a tuple of 3 values"),
    ({"crop": (32, 64)}, ValueError, r"crop=\(32, 64\) must have 3 values"),
    ({"peak_snr": 5.0}, TypeError, r"peak_snr must be a tuple of 2 values"),
    ({"peak_snr": (float("nan"), 5.0)}, ValueError, r"peak_snr=nan is outside"),
    ({"store": 3}, TypeError, r"store must be a string"),
    ({"init": ["unet3d"]}, TypeError, r"init must be a string"),
])
def test_train_config_values_are_named(bad, error, match):
    from galcube_lib.training.unet import TrainConfig

    with pytest.raises(error, match=match):
        TrainConfig(**bad)


def test_spectral_config_heads_must_divide_the_width():
    """Checked with the configuration, before a run folder records it."""
    from galcube_lib.training.spectral import SpectralConfig

    with pytest.raises(ValueError, match=r"heads=5 must divide the transformer width 4 \* width"):
        SpectralConfig(width=4, heads=5)


@pytest.mark.parametrize("kwargs,match", [
    ({"config": {"steps": 3}}, r"config must be a TrainConfig or None, got dict"),
    ({"stepz": 3}, r"unknown training option\(s\) 'stepz'; the fields of TrainConfig are steps"),
    ({"progress": "no"}, r"progress must be True or False"),
])
def test_train_arguments_are_named(tmp_path, kwargs, match):
    with pytest.raises(TypeError, match=match):
        train(tmp_path / "run", **kwargs)
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ noise estimates, uncertainty

def test_images_too_small_for_a_spatial_measurement_say_so(noisy):
    """Not "box_px=1 is outside the valid range [2, 1]" nor a 2 x 2 autocorrelation."""
    from galcube_lib.noise.estimate import describe_noise, noise_map

    with pytest.raises(ValueError, match=r"noise is 1 x 16 px: .* at least 2 x 2 px"):
        spatial_autocorrelation(noisy.data[:, :1, :16])
    with pytest.raises(ValueError, match=r"data is 3 x 3 px: noise_map .* at least 4 x 4 px"):
        noise_map(noisy.data[:, :3, :3])
    one = describe_noise(noisy.data[:, :1, :1])
    assert np.isnan(one["correlation_fwhm_px"]) and one["sigma_negative"] > 0


def test_sigma_mad_center_is_a_number(noisy):
    from galcube_lib.noise.estimate import sigma_mad

    with pytest.raises(TypeError, match="center must be a real number"):
        sigma_mad(noisy.data, center="0")
    with pytest.raises(ValueError, match="center=nan"):
        sigma_mad(noisy.data, center=float("nan"))


def test_resample_names_its_arguments(noisy):
    from galcube_lib.denoise.deep.uncertainty import resample

    data = noisy.data
    with pytest.raises(TypeError, match="denoise_fn must be a function"):
        resample(3, data, data)
    with pytest.raises(ValueError, match=r"denoised has shape \(4, 32, 32\); it must be the data's"):
        resample(lambda a: a, data, data[:4])
    with pytest.raises(TypeError, match="progress must be True or False"):
        resample(lambda a: a, data, data * 0.5, progress="no")


def test_a_garbage_checkpoint_is_named(garbage, tmp_path):
    """Resuming a run or shipping its checkpoint: not an UnpicklingError."""
    from galcube_lib.training.unet import export
    from galcube_lib.training.spectral import export as export_spectral

    (tmp_path / "best.pt").write_bytes((garbage / "garbage.pt").read_bytes())
    for call in (lambda: export(tmp_path), lambda: export_spectral(tmp_path / "best.pt"),
                 lambda: _models.read_checkpoint(garbage / "no_tensors.pt")):
        with pytest.raises(ValueError, match=r"is not a galcube training checkpoint .* delete it"):
            call()
