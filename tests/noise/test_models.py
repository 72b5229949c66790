"""The noise family: each property of a NoiseModel measured on its realisations against the
value it was asked for."""
import math

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.noise.correlation import (correlation_fwhm_px, spatial_autocorrelation,
                                           spectral_correlation)
from galcube_lib.noise.models import FAMILY, SPECTRAL, NoiseModel, draw_noise_model

SHAPE = (32, 96, 96)
BEAM = (5.0, 4.0)


@pytest.mark.parametrize("beams", [0.7, 1.0, 1.5])
def test_the_correlation_is_as_wide_as_asked(beams):
    noise = NoiseModel(correlation_beams=beams).draw(SHAPE, BEAM, 30.0, rng=1)
    fwhm_major, fwhm_minor, _ = correlation_fwhm_px(spatial_autocorrelation(noise, 20))
    assert fwhm_major == pytest.approx(beams * BEAM[0], rel=0.08)
    assert fwhm_minor == pytest.approx(beams * BEAM[1], rel=0.08)


def test_the_beam_kind_of_add_noise_is_the_model_of_sqrt2_beams():
    acf = spatial_autocorrelation(NoiseModel(correlation_beams=math.sqrt(2)).draw(
        SHAPE, BEAM, 0.0, rng=2), 20)
    assert correlation_fwhm_px(acf)[0] == pytest.approx(math.sqrt(2) * BEAM[0], rel=0.08)


def test_sidelobes_dig_a_negative_bowl_that_plain_noise_has_not():
    from scipy import fft

    plain = spatial_autocorrelation(NoiseModel().draw(SHAPE, BEAM, rng=3), 30)
    model = NoiseModel(sidelobe=0.8)
    dirty = spatial_autocorrelation(model.draw(SHAPE, BEAM, rng=3), 30)
    assert plain.min() > -0.03
    assert dirty.min() < -0.04
    # Wiener-Khinchin: the realisations' autocorrelation is the transform of the power asked for
    expected = fft.fftshift(fft.irfft2(model.spatial_power(SHAPE[1:], BEAM), s=SHAPE[1:]))
    expected = expected / expected.max()
    centre = SHAPE[1] // 2
    expected = expected[centre - 30:centre + 31, centre - 30:centre + 31]
    assert dirty.min() == pytest.approx(expected.min(), abs=0.02)
    assert np.abs(dirty - expected).max() < 0.05


@pytest.mark.parametrize("model,lag,expected", [
    (NoiseModel(spectral="hanning"), 1, 2 / 3), (NoiseModel(spectral="hanning"), 2, 1 / 6),
    (NoiseModel(spectral="lag", lag=3, lag_correlation=0.4), 3, 0.4),
    (NoiseModel(spectral="lag", lag=3, lag_correlation=0.4), 1, 0.0),
    (NoiseModel(spectral="measured", spectral_acf=(0.5, 0.2, 0.05)), 1, 0.5),
    (NoiseModel(spectral="measured", spectral_acf=(0.5, 0.2, 0.05)), 2, 0.2),
    (NoiseModel(), 1, 0.0)])
def test_the_spectral_correlation_is_as_asked(model, lag, expected):
    noise = model.draw((64, 48, 48), (2.0, 2.0), rng=4)
    assert spectral_correlation(noise, 4)[lag - 1] == pytest.approx(expected, abs=0.03)


def test_the_level_follows_one_over_the_primary_beam_gain():
    model = NoiseModel(primary_beam_fields=1.0)
    noise = model.draw((64, 96, 96), (3.0, 3.0), rng=5)
    level = model.level_map((96, 96))
    assert level.min() == pytest.approx(1.0, rel=1e-3)
    centre, corner = noise[:, 40:56, 40:56], noise[:, :12, :12]
    assert centre.std() == pytest.approx(1.0, rel=0.1)
    assert corner.std() / centre.std() == pytest.approx(level[:12, :12].mean(), rel=0.15)


def test_add_noise_takes_a_model_at_the_centre_level_and_records_it():
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=1.0), gl.Observation(n_pix=48, n_chan=16,
                                                                 channel_kms=40.0))
    model = NoiseModel(correlation_beams=1.2, spectral="hanning", primary_beam_fields=2.0)
    noisy = gl.add_noise(clean, peak_snr=4.0, kind=model, rng=0)
    record = noisy.record["noise"]
    assert record["kind"] == "model" and record["model"]["spectral"] == "hanning"
    unit = model.draw(clean.shape, clean.beam_fwhm_px, clean.beam_pa_deg, rng=0)
    np.testing.assert_allclose(noisy.noise, unit * clean.data.max() / 4.0, rtol=1e-5)


def test_the_family_spans_its_ranges_and_repeats_from_rng():
    models = [draw_noise_model(seed, spectral_acfs=[(0.6, 0.2)]) for seed in range(200)]
    assert draw_noise_model(7) == draw_noise_model(7)
    beams = [m.correlation_beams for m in models]
    assert FAMILY["correlation_beams"][0] <= min(beams) and max(beams) <= FAMILY["correlation_beams"][1]
    assert {m.spectral for m in models} == set(SPECTRAL)
    assert 0.3 < np.mean([m.sidelobe > 0 for m in models]) < 0.7
    assert 0.3 < np.mean([m.primary_beam_fields is not None for m in models]) < 0.7
    assert "measured" not in {draw_noise_model(s).spectral for s in range(50)}


@pytest.mark.parametrize("kwargs,match", [({"correlation_beams": 5.0}, "correlation_beams"),
                                          ({"sidelobe": -0.1}, "sidelobe"),
                                          ({"spectral": "pink"}, "spectral"),
                                          ({"lag_correlation": 0.7}, "lag_correlation"),
                                          ({"spectral": "measured"}, "spectral_acf"),
                                          ({"spectral_acf": (1.2,)}, "spectral_acf"),
                                          ({"primary_beam_fields": 0.1}, "primary_beam_fields")])
def test_bad_models_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NoiseModel(**kwargs)


@pytest.mark.slow
def test_the_family_spans_the_noise_of_the_shipped_cubes():
    """Every shipped cube's measured correlation width falls in the family's range, and a
    'measured' model drawn from its spectral correlation reproduces it."""
    from galcube_lib.bench.real_noise import NOISE_SOURCES, noise_cube
    from galcube_lib.noise.estimate import describe_noise

    for source in NOISE_SOURCES:
        cube = noise_cube(source)[0]
        described = describe_noise(cube.data, beam_fwhm_px=cube.beam_fwhm_px)
        low, high = FAMILY["correlation_beams"]
        assert low <= described["correlation_fwhm_over_beam"] <= high, source
        acf = spectral_correlation(cube.data, 4)
        model = NoiseModel(spectral="measured", spectral_acf=tuple(acf))
        drawn = spectral_correlation(model.draw((64, 48, 48), (2.0, 2.0), rng=0), 4)
        np.testing.assert_allclose(drawn[:2], acf[:2], atol=0.04, err_msg=source)
