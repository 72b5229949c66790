"""The state of the PropertyExplorer: test galaxies, their true property maps and each method's
predicted maps with their sigma (plain Python, no widgets)."""
from __future__ import annotations

import numpy as np

from galcube_lib.inference.features import scored_spaxels
from galcube_lib.inference.scores import scatter_dex

MAPS = ("true log Sigma_SFR", "predicted", "sigma", "(predicted - true) / sigma")


class PropertyModel:
    """Which test view and which method is shown, and the maps and figures of that choice.

    Parameters
    ----------
    pairs : list of Pair
        The test views (``galcube_lib.inference.pairs``).
    predictions : dict
        Method name -> one ``(mean, sigma)`` pair of (y, x) maps (dex) per view of ``pairs``.

    Raises
    ------
    ValueError
        No pairs, no methods, or a method without one prediction per view of the right shape.
    """

    def __init__(self, pairs, predictions: dict):
        if not pairs or not predictions:
            raise ValueError("PropertyModel needs at least one pair and one method's predictions")
        for name, maps in predictions.items():
            if len(maps) != len(pairs) or any(np.shape(m) != p.maps.sigma_sfr.shape or np.shape(s) != m.shape
                                              for (m, s), p in zip(maps, pairs)):
                raise ValueError(f"predictions[{name!r}] must hold one (mean, sigma) pair of maps per "
                                 f"pair ({len(pairs)}), each of the pair's map shape")
        self.pairs, self.predictions = list(pairs), dict(predictions)
        self.methods = list(predictions)
        self.method, self.index = self.methods[0], 0

    @property
    def labels(self) -> list[str]:
        """One label per view: its galaxy, its inclination and its peak SNR."""
        out = []
        for p in self.pairs:
            inc = (p.noisy.record or {}).get("components", [{}])[0].get("inclination_deg", float("nan"))
            out.append(f"galaxy {p.galaxy} · i = {inc:.0f} deg · peak SNR {p.peak_snr:.1f}")
        return out

    def select(self, index: int | None = None, method: str | None = None) -> None:
        """Show another view or method.

        Parameters
        ----------
        index : int, optional
            The view, in [0, len(pairs)).
        method : str, optional
            One of ``methods``.

        Raises
        ------
        ValueError
            An index or method out of range.
        """
        if index is not None:
            if not 0 <= index < len(self.pairs):
                raise ValueError(f"index={index!r} is outside the valid range [0, {len(self.pairs) - 1}]")
            self.index = int(index)
        if method is not None:
            if method not in self.predictions:
                raise ValueError(f"method={method!r} is not one of {self.methods}")
            self.method = method

    def _scored(self):
        return scored_spaxels(self.pairs[self.index].maps)

    def maps(self) -> dict:
        """The four maps of the shown view and method, NaN outside the scored spaxels.

        Returns
        -------
        dict
            ``MAPS`` names -> (y, x) float arrays.
        """
        on = self._scored()
        mean, sigma = self.predictions[self.method][self.index]
        true = np.full(on.shape, np.nan)
        true[on] = np.log10(self.pairs[self.index].maps.sigma_sfr[on])
        shown = [true, np.where(on, mean, np.nan), np.where(on, sigma, np.nan)]
        return dict(zip(MAPS, [*shown, (shown[1] - true) / shown[2]]))

    def summary(self) -> list[dict]:
        """Every method's figures on the shown view.

        Returns
        -------
        list of dict
            ``method``, ``scatter_dex`` and ``coverage`` (fraction of scored spaxels with the
            truth inside +- sigma).
        """
        on = self._scored()
        true = np.log10(self.pairs[self.index].maps.sigma_sfr[on])
        rows = []
        for name in self.methods:
            mean, sigma = (np.asarray(a)[on] for a in self.predictions[name][self.index])
            rows.append({"method": name, "scatter_dex": scatter_dex(mean, true),
                         "coverage": float(np.mean(np.abs(mean - true) <= sigma))})
        return rows
