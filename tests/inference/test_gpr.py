"""The spaxel SVGP learns a known smooth function and says how uncertain it is."""
import numpy as np
import pytest

pytest.importorskip("gpytorch")
from galcube_lib.inference.models import SpaxelGPR  # noqa: E402

pytestmark = pytest.mark.deep


def test_svgp_learns_a_smooth_function_with_calibrated_sigma():
    gen = np.random.default_rng(0)
    X = gen.uniform(-3, 3, size=(3000, 2))
    y = np.sin(X[:, 0]) + 0.2 * gen.normal(size=len(X))      # column 1 is irrelevant
    model = SpaxelGPR(n_inducing=32, iterations=2000, batch_size=512, progress=False).fit(X[:2000], y[:2000], ["a", "b"])
    mean, sigma = model.predict(X[2000:])
    truth = np.sin(X[2000:, 0])
    assert np.sqrt(np.mean((mean - truth) ** 2)) < 0.08
    inside = np.abs(mean - y[2000:]) <= sigma
    assert inside.mean() == pytest.approx(0.683, abs=0.05)
    assert np.median(sigma) == pytest.approx(0.2, rel=0.2)


def test_spectrum_columns_go_through_pca():
    gen = np.random.default_rng(1)
    signal = gen.normal(size=(800, 1))
    spectra = signal * np.linspace(1, 2, 20) + 0.01 * gen.normal(size=(800, 20))
    X = np.concatenate([gen.normal(size=(800, 1)), spectra], axis=1)
    names = ["x"] + [f"ch{k}" for k in range(20)]
    model = SpaxelGPR(n_inducing=16, n_pca=2, iterations=1500, progress=False).fit(X[:600], signal[:600, 0], names)
    assert model._pca.n_components_ == 2
    assert model._pca.explained_variance_ratio_[0] > 0.99
    mean, _ = model.predict(X[600:])
    assert np.sqrt(np.mean((mean - signal[600:, 0]) ** 2)) < 0.1


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_inducing"):
        SpaxelGPR(n_inducing=2)
    with pytest.raises(ValueError, match="iterations"):
        SpaxelGPR(iterations=0)


def test_saved_model_predicts_the_same(tmp_path):
    gen = np.random.default_rng(2)
    X = gen.normal(size=(500, 12))
    y = X[:, 0] + 0.1 * gen.normal(size=500)
    names = ["a", "b"] + [f"ch{k}" for k in range(10)]
    model = SpaxelGPR(n_inducing=16, n_pca=3, iterations=50, progress=False).fit(X, y, names)
    model.save(tmp_path / "svgp.pt")
    loaded = SpaxelGPR.load(tmp_path / "svgp.pt")
    for a, b in zip(model.predict(X[:50]), loaded.predict(X[:50])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert loaded.names == names
