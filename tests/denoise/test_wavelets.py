"""Wavelets: exact reconstruction, starlet properties, noise per band against explicit kernels."""
import math

import numpy as np
import pytest

from galcube_lib.denoise import wavelets as wv

B3 = np.array([1, 4, 6, 4, 1]) / 16.0


@pytest.mark.parametrize("shape", [(37, 45, 53), (40, 96, 96)])
@pytest.mark.parametrize("spectral", ["bior", "starlet"])
@pytest.mark.parametrize("generation", [1, 2])
def test_2d1d_reconstruction_is_exact(shape, spectral, generation):
    cube = np.random.default_rng(0).standard_normal(shape)
    bands = wv.forward_2d1d(cube, 4, 3, spectral, generation=generation)
    back = wv.inverse_2d1d(bands)
    assert back.shape == shape and back.dtype == np.float64
    assert np.max(np.abs(back - cube)) < 1e-10


def test_band_layout():
    cube = np.random.default_rng(1).standard_normal((37, 20, 21))
    b = wv.forward_2d1d(cube, 3, 2, "bior")
    assert len(b.blocks) == 3 and len(b.keys) == 4 * 3
    # decimated spectral levels: ceil(37/2) = 19, ceil(19/2) = 10 details, 10 approximation,
    # each twice (the spectrum and the reversed spectrum)
    assert [blk.shape for blk in b.blocks] == [(4, 38, 20, 21), (4, 20, 20, 21), (4, 20, 20, 21)]
    assert b[3, 2].shape == (20, 20, 21) and b.is_coarse((3, 2)) and not b.is_coarse((3, 1))
    s = wv.forward_2d1d(cube, 3, 2, "starlet")
    assert all(blk.shape == (4, 37, 20, 21) for blk in s.blocks)


@pytest.mark.parametrize("n_chan", [40, 37])
def test_reversing_the_spectrum_swaps_the_bior_halves(n_chan):
    """A decimated transform alone depends on the direction of the axis; the pair does not."""
    cube = np.random.default_rng(4).standard_normal((n_chan, 12, 13)).astype(np.float32)
    bands = wv.forward_2d1d(cube, 2, 3, "bior")
    flipped = wv.forward_2d1d(cube[::-1], 2, 3, "bior")
    for block, other in zip(bands.blocks, flipped.blocks):
        first, second = np.split(block, 2, axis=1)
        np.testing.assert_array_equal(np.concatenate([second, first], axis=1), other)
    np.testing.assert_array_equal(wv.inverse_2d1d(flipped), wv.inverse_2d1d(bands)[::-1])
    single, reversed_single = wv.bior1d(cube, 3), wv.bior1d(cube[::-1], 3)
    assert not np.allclose(single[0][::-1], reversed_single[0], atol=0.1)


def test_no_spectral_scales_is_a_starlet_per_channel():
    cube = np.random.default_rng(2).standard_normal((1, 33, 40))
    bands = wv.forward_2d1d(cube, 3, 0)
    assert len(bands.blocks) == 1 and bands.is_coarse((3, 0))
    np.testing.assert_array_equal(bands.blocks[0], wv.starlet2d(cube, 3))
    assert np.max(np.abs(wv.inverse_2d1d(bands) - cube)) < 1e-10


@pytest.mark.parametrize("generation", [1, 2])
def test_starlet_of_a_constant_has_zero_details(generation):
    img = np.full((3, 33, 40), 2.5)
    w = wv.starlet2d(img, 4, generation=generation)
    assert w.shape == (5, 3, 33, 40)
    assert np.max(np.abs(w[:-1])) < 1e-12
    assert np.allclose(w[-1], 2.5, atol=1e-12)
    w1 = wv.starlet1d(np.full((40, 2, 2), -1.0), 3, generation=generation)
    assert np.max(np.abs(w1[:-1])) < 1e-12


def test_first_generation_details_sum_to_the_image():
    img = np.random.default_rng(2).standard_normal((30, 31))
    w = wv.starlet2d(img, 4, generation=1)
    assert np.allclose(w.sum(axis=0), img, atol=1e-12)


def test_transforms_are_linear_and_keep_float32():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, 16, 24, 24))
    for g in (1, 2):
        lhs = wv.starlet2d(2 * x - 3 * y, 3, generation=g)
        rhs = 2 * wv.starlet2d(x, 3, generation=g) - 3 * wv.starlet2d(y, 3, generation=g)
        assert np.allclose(lhs, rhs, atol=1e-12)
    b = wv.forward_2d1d(x.astype(np.float32), 3, 2)
    assert all(blk.dtype == np.float32 for blk in b.blocks)
    assert wv.inverse_2d1d(b).dtype == np.float32


@pytest.mark.parametrize("n", [40, 37, 64, 9])
def test_bior1d_exact_for_any_length(n):
    x = np.random.default_rng(n).standard_normal((n, 5))
    levels = int(math.log2(n))
    c = wv.bior1d(x, levels, axis=0)
    assert len(c) == levels + 1
    m = n
    for j in range(levels):
        m = math.ceil(m / 2)
        assert c[j].shape == (m, 5)
    assert np.max(np.abs(wv.ibior1d(c, n, axis=0) - x)) < 1e-10


def test_starlet1d_exact_on_other_axis():
    x = np.random.default_rng(4).standard_normal((6, 29, 7))
    w = wv.starlet1d(x, 3, axis=1)
    assert np.max(np.abs(wv.istarlet1d(w, axis=1) - x)) < 1e-12


def _upsampled(j):
    h = np.zeros(4 * 2 ** j + 1)
    h[:: 2 ** j] = B3
    return h


def _kernel_norms(n_scales, generation):
    """L2 norms of the 2D starlet analysis kernels, built from explicit 1D convolutions."""
    norms = []
    phi = np.array([1.0])                      # scaling kernel of c_j (1D factor)
    for j in range(n_scales):
        phi_next = np.convolve(phi, _upsampled(j))
        if generation == 1:
            a, b = phi, phi_next
        else:
            a, b = phi, np.convolve(phi_next, _upsampled(j))
        pad = (len(b) - len(a)) // 2
        a = np.pad(a, pad)
        psi = np.outer(a, a) - np.outer(b, b)  # separable 2D kernels, difference of two
        norms.append(np.sqrt(np.sum(psi ** 2)))
        phi = phi_next
    return np.array(norms)


def test_white_noise_per_scale_matches_kernel_norms():
    # Published values for the first-generation B3 starlet (Starck & Murtagh).
    published = np.array([0.890, 0.200, 0.086, 0.041, 0.020])
    assert np.allclose(_kernel_norms(5, 1), published, rtol=0.03)
    noise = np.random.default_rng(5).standard_normal((8, 256, 256))
    for g in (1, 2):
        w = wv.starlet2d(noise, 5, generation=g)
        inner = w[:-1, :, 64:-64, 64:-64]   # away from the mirror boundary
        measured = inner.reshape(5, -1).std(axis=1)
        assert np.allclose(measured, _kernel_norms(5, g), rtol=0.04), (g, measured)


def test_bad_arguments():
    x = np.zeros((8, 16, 16))
    with pytest.raises(ValueError, match="spectral"):
        wv.forward_2d1d(x, 2, 1, "haar")
    with pytest.raises(ValueError, match="n_scales"):
        wv.bior1d(x, 4)
    with pytest.raises(ValueError, match="n_scales"):
        wv.starlet2d(x, 0)
    with pytest.raises(ValueError, match="generation"):
        wv.starlet2d(x, 2, generation=3)
    with pytest.raises(ValueError, match="cube"):
        wv.forward_2d1d(x[0], 2, 1)
    with pytest.raises(TypeError):
        wv.inverse_2d1d([x])


@pytest.mark.parametrize("n_chan, n_scales_v", [(40, 3), (37, 2), (9, 3)])
def test_the_matrix_form_is_the_filter_bank(monkeypatch, n_chan, n_scales_v):
    """Up to MATRIX_CHANNELS the spectral CDF 9/7 pair runs as matrix products: the same
    coefficients and reconstruction as PyWavelets' filter bank, to float32 round-off."""
    planes = np.random.default_rng(5).standard_normal((3, n_chan, 6, 7)).astype(np.float32)
    matrix = wv.spectral_forward(planes, n_scales_v)
    monkeypatch.setattr(wv, "MATRIX_CHANNELS", 0)
    bank = wv.spectral_forward(planes, n_scales_v)
    assert [b.shape for b in matrix.blocks] == [b.shape for b in bank.blocks]
    for got, want in zip(matrix.blocks, bank.blocks):
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max())
        assert got.dtype == np.float32
    np.testing.assert_allclose(wv.spectral_inverse(bank), planes, atol=3e-6)
    monkeypatch.undo()
    np.testing.assert_allclose(wv.spectral_inverse(matrix), planes, atol=3e-6)
    np.testing.assert_allclose(wv.spectral_inverse(bank), wv.spectral_inverse(matrix), atol=3e-6)


def test_the_filter_bank_beyond_matrix_channels_is_symmetric_too(monkeypatch):
    monkeypatch.setattr(wv, "MATRIX_CHANNELS", 16)      # 40 channels: the filter bank
    test_reversing_the_spectrum_swaps_the_bior_halves(40)


def test_integer_planes_are_transformed_as_float64():
    planes = np.random.default_rng(6).integers(-5, 5, (2, 16, 3, 3))
    got = wv.spectral_forward(planes, 2)
    want = wv.spectral_forward(planes.astype(np.float64), 2)
    for a, b in zip(got.blocks, want.blocks):
        assert a.dtype == np.float64
        np.testing.assert_array_equal(a, b)
