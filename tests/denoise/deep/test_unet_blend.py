"""Blends of U-Nets: a card naming weights and shares gives the weighted mean of the networks'
outputs, with its own uncertainty floor, adapted and saved like one network (the block-wise
path: tests/denoise/deep/test_deep_passes.py)."""
import json

import numpy as np
import pytest
import torch

import galcube_lib as gl
from galcube_lib.denoise.deep import weights as _models
from galcube_lib.denoise.deep.networks.unet3d import UNet3D, UNet3DBlend
from galcube_lib.denoise.deep.unet import load_unet, unet

pytestmark = pytest.mark.deep


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two tiny networks, one told the noise level (2 input channels), and a blend card."""
    folder = tmp_path_factory.mktemp("blend")
    torch.manual_seed(1)
    plain = _models.save(UNet3D(width=2), folder / "plain.pt",
                         {"network": {"width": 2, "dropout": 0.0}})
    told = _models.save(UNet3D(width=2, in_channels=2), folder / "told.pt",
                        {"network": {"width": 2, "dropout": 0.0, "in_channels": 2}})
    card = folder / "blend.json"
    card.write_text(json.dumps({"blend": {str(plain): 0.75, str(told): 0.25},
                                "uncertainty_floor": 0.3}))
    return plain, told, card


def _noise(shape=(16, 40, 40), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_a_blend_is_the_weighted_mean_of_its_members(members):
    plain, told, card = members
    x = _noise()
    expected = 0.75 * unet(x, weights=plain).data + 0.25 * unet(x, weights=told).data
    np.testing.assert_allclose(unet(x, weights=card).data, expected, atol=1e-6)
    model, loaded = load_unet(card)
    assert isinstance(model, UNet3DBlend) and model.in_channels == 2
    assert loaded["architecture"] == "UNet3DBlend" and loaded["network"]["shares"] == [0.75, 0.25]


def test_the_blend_takes_its_uncertainty_floor_from_its_own_card(members):
    _, _, card = members
    x = _noise()
    den = unet(x, weights=card, uncertainty=2, rng=0)
    s = _models.normalise(x)
    assert np.all(den.uncertainty >= 0.3 * s * (1 - 1e-6))


def test_an_adapted_blend_is_saved_and_loads_back(members, tmp_path):
    from galcube_lib.denoise.deep.adapt import adapt_weights

    _, _, card = members
    clean = gl.simulate(gl.Galaxy(r_eff_kpc=1.5), gl.Observation(n_pix=64, n_chan=32,
                                                                  beam_fwhm_px=3.0))
    path = adapt_weights(gl.add_noise(clean, peak_snr=5.0, rng=1), tmp_path / "adapted.pt",
                         weights=str(card), steps=2, uncertainty=0, progress=False)
    model, saved = load_unet(path)
    assert isinstance(model, UNet3DBlend) and model.shares == [0.75, 0.25]
    start, _ = load_unet(card)
    changed = [not torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     start.state_dict().values())]
    assert any(changed)   # both members' weights were trained
    x = _noise(seed=6)
    expected = sum(share * unet(x, weights=member).data for member, share in
                   zip(_member_files(model, tmp_path), model.shares))
    np.testing.assert_allclose(unet(x, weights=path).data, expected, atol=1e-5)


def _member_files(blend, folder):
    """Each member of ``blend`` written as its own weights file."""
    return [_models.save(member, folder / f"member{i}.pt", {"network": member.config()})
            for i, member in enumerate(blend.members)]


def test_bad_blends_are_refused(members, tmp_path):
    plain, _, _ = members
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"blend": {str(plain): 1.0}}))
    with pytest.raises(ValueError, match="at least 2"):
        load_unet(one)
    with pytest.raises(ValueError, match="shares must be positive and sum to 1"):
        UNet3DBlend([{"width": 2}, {"width": 2}], [0.5, 0.6])
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"blend": {str(plain): 0.5, "no_such_model": 0.5}}))
    with pytest.raises(ValueError, match="'no_such_model' is not a shipped model name"):
        load_unet(unknown)


def test_the_shipped_blend_loads_with_its_calibrated_floor():
    model, card = load_unet("unet3d_blend")
    assert model.shares == [0.7, 0.3] and card["uncertainty_floor"] > 0
    x = _noise((16, 32, 32), 7)
    expected = 0.7 * unet(x).data + 0.3 * unet(x, weights="unet3d_family").data
    np.testing.assert_allclose(unet(x, weights="unet3d_blend").data, expected, atol=1e-5)
