"""Models from spaxel features to log Sigma_SFR: the moment-0 power law and a spaxel SVGP."""
from __future__ import annotations

import numpy as np

from galcube_lib._util import checks as check


class PowerLaw:
    """The standard practice: log Sigma_SFR = a log(moment 0) + b, least squares on training.

    Its predictive sigma is the training residuals' standard deviation, the same everywhere.
    """

    def fit(self, log_m0: np.ndarray, y: np.ndarray) -> "PowerLaw":
        """Fit the slope and intercept.

        Parameters
        ----------
        log_m0 : numpy.ndarray
            log10 of moment 0 per training row.
        y : numpy.ndarray
            True log10 Sigma_SFR per row.

        Returns
        -------
        PowerLaw
            Itself, with ``slope``, ``intercept`` and ``sigma`` set.
        """
        self.slope, self.intercept = np.polyfit(log_m0, y, 1)
        self.sigma = float(np.std(y - self.predict(log_m0)[0]))
        return self

    def predict(self, log_m0: np.ndarray):
        """Predicted log10 Sigma_SFR and its sigma per row.

        Parameters
        ----------
        log_m0 : numpy.ndarray
            log10 of moment 0 per row.

        Returns
        -------
        mean, sigma : numpy.ndarray
            Per row, in dex.
        """
        mean = self.slope * np.asarray(log_m0) + self.intercept
        return mean, np.full_like(mean, getattr(self, "sigma", np.nan))


class IntervalScale:
    """Rescales predictive sigmas so that +-1 sigma covers 68.27 % in every bin of a measured SNR.

    Fitted on validation rows (galaxies the model was not trained on): in each of ``n_bins``
    quantile bins of the SNR (an observable: the cube's measured peak SNR, or a spaxel's
    moment-0 SNR), the factor is the 68.27th percentile of |residual| / sigma.

    Parameters
    ----------
    n_bins : int
        Bins of the SNR, >= 1 (default 6).
    """

    def __init__(self, n_bins: int = 6):
        self.n_bins = check.integer("n_bins", n_bins, 1, None)

    def fit(self, residual, sigma, snr) -> "IntervalScale":
        """Find the factor of each SNR bin.

        Parameters
        ----------
        residual, sigma, snr : numpy.ndarray
            Per validation row: prediction minus truth, predictive sigma, measured SNR.

        Returns
        -------
        IntervalScale
            Itself, with ``edges`` (inner bin edges) and ``factors``.
        """
        self.edges = np.quantile(snr, np.linspace(0, 1, self.n_bins + 1)[1:-1])
        which = np.searchsorted(self.edges, snr)
        ratio = np.abs(residual) / sigma
        self.factors = np.array([np.quantile(ratio[which == b], 0.6827) if np.any(which == b) else 1.0
                                 for b in range(self.n_bins)])
        return self

    def __call__(self, sigma, snr):
        """The calibrated sigma.

        Parameters
        ----------
        sigma, snr : numpy.ndarray
            Predictive sigma and measured SNR per row.

        Returns
        -------
        numpy.ndarray
            ``sigma`` times its bin's factor.
        """
        return sigma * self.factors[np.searchsorted(self.edges, snr)]


class SpaxelGPR:
    """Sparse variational Gaussian process regression (GPyTorch SVGP) on per-spaxel features.

    Features are standardised; spectrum columns ("ch<k>") are reduced to ``n_pca`` principal
    components first. The mean is linear in the features (the power laws of the relations are
    linear in log features), the kernel a scaled RBF with one length scale per feature (ARD), the
    likelihood Gaussian; the predictive sigma includes the likelihood's noise.

    Parameters
    ----------
    n_inducing : int
        Inducing points, >= 8 (default 256), started at random training rows.
    n_pca : int
        Principal components kept of the spectrum columns, >= 1 (default 8).
    iterations : int
        Adam steps on minibatches, >= 1 (default 2000).
    batch_size : int
        Rows per minibatch, >= 16 (default 1024).
    rng : int
        Seed of the inducing points, minibatches and torch.
    progress : bool
        Show a progress bar while training (default True).
    """

    def __init__(self, n_inducing: int = 256, n_pca: int = 8, iterations: int = 2000,
                 batch_size: int = 1024, rng: int = 0, progress: bool = True):
        self.n_inducing = check.integer("n_inducing", n_inducing, 8, None)
        self.n_pca = check.integer("n_pca", n_pca, 1, None)
        self.iterations = check.integer("iterations", iterations, 1, None)
        self.batch_size = check.integer("batch_size", batch_size, 16, None)
        self.rng, self.progress = rng, progress

    def _transform(self, X: np.ndarray) -> np.ndarray:
        parts = [X[:, ~self._spectral]]
        if self._pca is not None:
            parts.append(self._pca.transform(X[:, self._spectral]))
        Z = np.concatenate(parts, axis=1)
        return (Z - self._mean) / self._scale

    def fit(self, X: np.ndarray, y: np.ndarray, names) -> "SpaxelGPR":
        """Train on feature rows and their true log Sigma_SFR.

        Parameters
        ----------
        X : numpy.ndarray
            (rows, features).
        y : numpy.ndarray
            (rows,) targets.
        names : list of str
            Column names of ``X``; "ch<k>" columns are the spectrum.

        Returns
        -------
        SpaxelGPR
            Itself, trained.
        """
        import gpytorch
        import torch
        from sklearn.decomposition import PCA
        from tqdm.auto import trange
        gen = np.random.default_rng(self.rng)
        torch.manual_seed(self.rng)
        self.names = list(names)
        self._spectral = np.array([n.startswith("ch") for n in names])
        self._pca = None
        if self._spectral.any():
            self._pca = PCA(n_components=min(self.n_pca, int(self._spectral.sum())),
                            random_state=self.rng).fit(X[:, self._spectral])
        self._mean, self._scale = 0.0, 1.0
        Z = self._transform(X)
        self._mean, self._scale = Z.mean(axis=0), np.where(Z.std(axis=0) > 0, Z.std(axis=0), 1.0)
        Z = torch.as_tensor((Z - self._mean) / self._scale, dtype=torch.float32)
        self._y_mean, self._y_scale = float(y.mean()), float(y.std() or 1.0)
        t = torch.as_tensor((y - self._y_mean) / self._y_scale, dtype=torch.float32)
        start = Z[gen.choice(len(Z), size=min(self.n_inducing, len(Z)), replace=False)].clone()
        self._model = _SVGP(start)
        self._likelihood = gpytorch.likelihoods.GaussianLikelihood()
        self._model.train(), self._likelihood.train()
        params = list(self._model.parameters()) + list(self._likelihood.parameters())
        optimiser = torch.optim.Adam(params, lr=0.01)
        elbo = gpytorch.mlls.VariationalELBO(self._likelihood, self._model, num_data=len(Z))
        for _ in trange(self.iterations, desc="SVGP", disable=not self.progress):
            rows = torch.as_tensor(gen.integers(0, len(Z), size=min(self.batch_size, len(Z))))
            optimiser.zero_grad()
            loss = -elbo(self._model(Z[rows]), t[rows])
            loss.backward()
            optimiser.step()
        self._model.eval(), self._likelihood.eval()
        return self

    def save(self, path) -> None:
        """Write the trained model to one file, atomically.

        Parameters
        ----------
        path : str or pathlib.Path
            The file (torch format); :meth:`load` reads it.
        """
        import torch
        from galcube_lib.io.files import atomic_path
        state = {"settings": {k: getattr(self, k) for k in ("n_inducing", "n_pca", "iterations", "batch_size", "rng")},
                 "names": self.names, "mean": self._mean, "scale": self._scale,
                 "y": (self._y_mean, self._y_scale), "n_inducing": self._model.variational_strategy.inducing_points.shape[0],
                 "pca": None if self._pca is None else (self._pca.components_, self._pca.mean_),
                 "model": self._model.state_dict(), "likelihood": self._likelihood.state_dict()}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path) -> "SpaxelGPR":
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : str or pathlib.Path
            The file.

        Returns
        -------
        SpaxelGPR
            Ready to predict.
        """
        import gpytorch
        import torch
        from sklearn.decomposition import PCA
        state = torch.load(path, map_location="cpu", weights_only=False)
        self = cls(**state["settings"], progress=False)
        self.names = state["names"]
        self._spectral = np.array([n.startswith("ch") for n in self.names])
        self._pca = None
        if state["pca"] is not None:
            self._pca = PCA(n_components=len(state["pca"][0]))
            self._pca.components_, self._pca.mean_ = state["pca"]
            self._pca.n_components_ = len(state["pca"][0])
            self._pca.n_features_in_ = state["pca"][0].shape[1]
            self._pca.whiten = False
        self._mean, self._scale = state["mean"], state["scale"]
        self._y_mean, self._y_scale = state["y"]
        dims = len(self._mean)
        self._model = _SVGP(torch.zeros(state["n_inducing"], dims))
        self._model.load_state_dict(state["model"])
        self._likelihood = gpytorch.likelihoods.GaussianLikelihood()
        self._likelihood.load_state_dict(state["likelihood"])
        self._model.eval(), self._likelihood.eval()
        return self

    def predict(self, X: np.ndarray, batch: int = 8192):
        """Predictive mean and sigma of log10 Sigma_SFR per row.

        Parameters
        ----------
        X : numpy.ndarray
            (rows, features), the columns of training.
        batch : int
            Rows per evaluation.

        Returns
        -------
        mean, sigma : numpy.ndarray
            Per row, in dex.
        """
        import gpytorch
        import torch
        Z = torch.as_tensor(self._transform(X), dtype=torch.float32)
        means, sigmas = [], []
        with torch.no_grad(), gpytorch.settings.fast_pred_var():
            for lo in range(0, len(Z), batch):
                out = self._likelihood(self._model(Z[lo:lo + batch]))
                means.append(out.mean.numpy())
                sigmas.append(out.variance.sqrt().numpy())
        mean = np.concatenate(means) * self._y_scale + self._y_mean
        return mean, np.concatenate(sigmas) * self._y_scale


def predict_map(model: SpaxelGPR, cube, noise_sigma: float | None = None) -> tuple:
    """A trained model's maps of log10 Sigma_SFR and its sigma for every spaxel of a cube.

    Parameters
    ----------
    model : SpaxelGPR
        Trained on the columns it holds in ``model.names``.
    cube : Cube
        The cube (its channels as the training cubes' for a model with spectrum columns).
    noise_sigma : float, optional
        The observed cube's noise level when ``cube`` is denoised (``feature_maps``).

    Returns
    -------
    mean, sigma : numpy.ndarray
        (y, x) maps in dex.
    """
    from galcube_lib.inference.features import feature_maps
    feats = feature_maps(cube, noise_sigma)
    columns = [feats[n].ravel() for n in model.names if not n.startswith("ch")]
    if any(n.startswith("ch") for n in model.names):
        columns += list(feats["spectrum"].reshape(cube.shape[0], -1))
    mean, sigma = model.predict(np.stack(columns, axis=1))
    return mean.reshape(cube.shape[1:]), sigma.reshape(cube.shape[1:])


def _SVGP(inducing):
    """A GPyTorch approximate GP: linear mean, scaled ARD RBF kernel, learnt inducing points."""
    import gpytorch

    class SVGP(gpytorch.models.ApproximateGP):
        def __init__(self):
            distribution = gpytorch.variational.CholeskyVariationalDistribution(len(inducing))
            strategy = gpytorch.variational.VariationalStrategy(
                self, inducing, distribution, learn_inducing_locations=True)
            super().__init__(strategy)
            self.mean_module = gpytorch.means.LinearMean(inducing.shape[1])
            self.covar_module = gpytorch.kernels.ScaleKernel(
                gpytorch.kernels.RBFKernel(ard_num_dims=inducing.shape[1]))

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))

    return SVGP()
