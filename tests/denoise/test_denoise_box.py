"""Denoising part of a cube (a box around the source) and padding the result back."""
import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.io.crop import crop
from galcube_lib.denoise import source_box


@pytest.fixture(scope="module")
def noisy():
    gal = gl.Galaxy(r_eff_kpc=1.5, flux_jy_kms=1.0, v_max_kms=150.0, offset_kpc=(-8.0, 5.0))
    obs = gl.Observation(n_pix=160, n_chan=80, channel_kms=20.0, beam_fwhm_px=4.0)
    return gl.add_noise(gl.simulate([gal], obs), peak_snr=6.0, rng=1)


def test_a_cropped_cube_keeps_its_sky_and_velocity_coordinates(noisy):
    box = ((10, 50), (20, 90), (30, 100))
    part = noisy.crop(box)
    assert part.shape == (40, 70, 70)
    full = noisy.wcs.pixel_to_world_values(35, 25, 12)        # (x, y, v) of a voxel
    inner = part.wcs.pixel_to_world_values(5, 5, 2)
    np.testing.assert_allclose(inner, full, rtol=1e-12)
    np.testing.assert_allclose(part.velocity_kms, noisy.velocity_kms[10:50])
    np.testing.assert_array_equal(part.clean, noisy.clean[10:50, 20:90, 30:100])


def test_a_box_is_denoised_alone_and_padded_with_zero_and_blanks(noisy):
    data = noisy.data.copy()
    data[:, :5, :] = np.nan                                   # a blank strip inside the box
    cube = noisy.replace(data=data)
    box = ((10, 70), (0, 100), (20, 120))
    out = gl.denoise(cube, "gaussian", box=box)
    alone = gl.denoise(crop(cube, box), "gaussian")
    inside = out.data[10:70, 0:100, 20:120]
    np.testing.assert_array_equal(inside, alone.data)
    outside = out.data.copy()
    outside[10:70, 0:100, 20:120] = 0.0
    assert np.all(outside[np.isfinite(data)] == 0.0)
    assert np.isnan(out.data[:, :5]).all() and np.isfinite(out.data[:, 5:]).all()
    assert out.record["denoise"]["box"] == [(10, 70), (0, 100), (20, 120)]
    assert "only box" in str(out.header["HISTORY"])


@pytest.mark.slow
def test_the_automatic_box_holds_all_the_emission(noisy):
    box = source_box(noisy)
    truth = noisy.clean
    assert truth[box].sum() > 0.999 * truth.sum()
    assert all(s.stop - s.start >= 64 for s in box)
    assert box[1].stop - box[1].start < noisy.shape[1]        # it did crop
    out = gl.denoise(noisy, "ist", box="auto")
    assert out.shape == noisy.shape


def test_no_emission_means_no_automatic_box(noisy):
    empty = noisy.replace(data=noisy.noise, clean=None, noise=None)
    with pytest.raises(ValueError, match="box=None"):
        gl.denoise(empty, "ist", box="auto")


@pytest.mark.parametrize("box", ["middle", ((0, 10), (0, 10)), ((5, 2), (0, 10), (0, 10)),
                                 ((0, 10), (0, 10), (0, 999))])
def test_bad_boxes_are_named(noisy, box):
    with pytest.raises(ValueError, match="box"):
        gl.denoise(noisy, "gaussian", box=box)


def test_a_primary_beam_corrected_cube_is_denoised_in_flat_noise_units(noisy):
    yy, xx = np.indices(noisy.shape[1:]) - 80.0
    gain = np.broadcast_to(np.exp(-(xx ** 2 + yy ** 2) / (2 * 60.0 ** 2)), noisy.shape)
    corrected = noisy.replace(data=noisy.data / gain, gain=gain)
    out = gl.denoise(corrected, "gaussian")
    flat = gl.denoise(noisy, "gaussian")          # the same data before the gain correction
    np.testing.assert_allclose(out.data * gain, flat.data, rtol=1e-5, atol=1e-7)
    assert out.gain is not None


def test_the_source_mask_cuts_blobs_the_size_of_the_measured_noise_correlation(noisy):
    from galcube_lib.noise.estimate import noise_blob_pixels
    from galcube_lib.denoise.gaussian import beam_kernel, smooth_spatial

    beam_area = np.pi * 4.0 * 4.0 / (4 * np.log(2))
    # simulated beam noise: its blobs cover twice the beam area (smooth_clip's own default)
    assert noise_blob_pixels(noisy.data) == pytest.approx(2 * beam_area, rel=0.15)
    # noise correlated on a 2.5 px kernel under a 4 px header beam: smaller blobs
    white = np.random.default_rng(5).standard_normal(noisy.shape).astype(np.float32)
    narrow = smooth_spatial(white, beam_kernel(2.5, 2.5))
    assert noise_blob_pixels(narrow) == pytest.approx(2 * np.pi * 2.5 ** 2 / (4 * np.log(2)),
                                                      rel=0.15)
    assert noise_blob_pixels(white) is None or noise_blob_pixels(white) < 3
