"""The property U-Net: it learns (beats the target's mean on held-out galaxies), resumes
instead of training again, and refuses cubes it cannot read."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from galcube_lib.inference import pairs as P, unet as U  # noqa: E402
from galcube_lib.inference.features import evaluated_spaxels  # noqa: E402
from galcube_lib.io.crop import crop  # noqa: E402

pytestmark = [pytest.mark.deep, pytest.mark.slow]


@pytest.fixture(scope="module")
def split():
    pairs = P.draw_pairs(20, views=2, rng=7, progress=False)
    return P.split_by_galaxy(pairs, 0.25, rng=0)


def _scored(pair, mean):
    on = evaluated_spaxels(pair.maps.sigma_line)
    return mean[on], np.log10(pair.maps.sigma_sfr[on])


def test_maps_network_learns_and_resumes(split, tmp_path):
    train, test = split
    config = U.PropertyUNetConfig(steps=150, val_every=50, batch_size=8)
    net = U.train_property_unet(train, test, tmp_path, config, progress=False)
    predicted, true = map(np.concatenate, zip(*(_scored(p, U.predict_property_map(net, p.noisy)[0]) for p in test)))
    assert np.sqrt(np.mean((predicted - true) ** 2)) < true.std()     # better than the mean
    assert np.corrcoef(predicted, true)[0, 1] > 0.4   # a misaligned augmentation gives about 0
    history = (tmp_path / "history.csv").read_text().splitlines()
    again = U.train_property_unet(train, test, tmp_path, config, progress=False)
    assert (tmp_path / "history.csv").read_text().splitlines() == history   # nothing retrained
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="different configuration"):
        U.train_property_unet(train, test, tmp_path, U.PropertyUNetConfig(steps=300), progress=False)


def test_spectral_network_reads_its_channels_only(split, tmp_path):
    train, test = split
    net = U.train_property_unet(train[:4], test[:2], tmp_path,
                                U.PropertyUNetConfig(steps=2, val_every=2, batch_size=2, spectral=True),
                                progress=False)
    mean, sigma = U.predict_property_map(net, test[0].noisy)
    assert mean.shape == sigma.shape == test[0].noisy.shape[1:]
    assert np.all(np.isfinite(mean)) and np.all(sigma > 0)
    with pytest.raises(ValueError, match="n_chan=40"):
        U.predict_property_map(net, crop(test[0].noisy, (slice(0, 32), slice(None), slice(None))))
