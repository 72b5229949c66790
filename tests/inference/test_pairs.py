"""Property pairs: views of one galaxy share it, splits never mix a galaxy, draws repeat."""
import numpy as np
import pytest

from galcube_lib.inference import pairs as P


@pytest.fixture(scope="module")
def pairs():
    return P.draw_pairs(6, views=3, rng=5, progress=False)


def test_views_share_the_galaxy_and_differ_in_orientation(pairs):
    assert len(pairs) == 18 and [p.galaxy for p in pairs] == [k for k in range(6) for _ in range(3)]
    for k in range(6):
        disks = [p.noisy.record["components"][0] for p in pairs if p.galaxy == k]
        for field in ("r_eff_kpc", "flux_jy_kms", "v_max_kms", "r_turn_kpc", "sigma_kms", "sersic_n"):
            assert len({d[field] for d in disks}) == 1
        assert len({d["inclination_deg"] for d in disks}) == 3
        flux = disks[0]["flux_jy_kms"]
        assert P.FLUX_RANGE[0] <= flux <= P.FLUX_RANGE[1]


def test_draws_repeat(pairs):
    again = P.draw_pairs(2, views=3, rng=5, progress=False)
    for a, b in zip(again, pairs[:6]):
        np.testing.assert_array_equal(a.noisy.data, b.noisy.data)
        np.testing.assert_array_equal(a.maps.sigma_sfr, b.maps.sigma_sfr)


@pytest.mark.parametrize("seed", range(5))
def test_split_never_puts_a_galaxy_on_both_sides(pairs, seed):
    train, test = P.split_by_galaxy(pairs, 0.3, rng=seed)
    assert len(train) + len(test) == len(pairs)
    assert not {p.galaxy for p in train} & {p.galaxy for p in test}
    assert len({p.galaxy for p in test}) == 2     # round(0.3 * 6)


def test_bad_arguments_are_named(pairs):
    with pytest.raises(ValueError, match="test_fraction"):
        P.split_by_galaxy(pairs, 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        P.split_by_galaxy(pairs[:3])
    with pytest.raises(ValueError, match="label_model"):
        P.draw_pairs(1, label_model="sfr")
    with pytest.raises(ValueError, match="views"):
        P.draw_pairs(1, views=0)


def test_denoised_pairs_keep_the_truth_and_the_observed_noise_level(pairs):
    from galcube_lib.inference import features as F
    from galcube_lib.noise.level import sigma_mad
    observed = pairs[:2]
    denoised = P.denoised_pairs(observed, "ist", progress=False)
    for before, after in zip(observed, denoised):
        assert (after.galaxy, after.peak_snr, after.maps) == (before.galaxy, before.peak_snr, before.maps)
        assert after.noisy.record["denoise"]["method"] == "ist"
        assert after.noise_sigma == pytest.approx(sigma_mad(before.noisy.data))
        # the noise level the features use is the observed one: the denoised peak in those units
        # is near the observed peak SNR, while the denoised cube's own spread would inflate it
        own = F.feature_maps(after.noisy)["cube_snr"].max()
        kept = F.feature_maps(after.noisy, after.noise_sigma)["cube_snr"].max()
        assert 0.5 * before.peak_snr < kept < 1.5 * before.peak_snr
        assert own > 3 * kept
