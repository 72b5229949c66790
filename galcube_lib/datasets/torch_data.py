"""PyTorch datasets of (noisy, clean) cube pairs, from a store or simulated on the fly.

Both return float32 tensors of shape ``(1, v, y, x)`` (one channel), so a
``DataLoader`` batches them to ``(batch, 1, v, y, x)``.
"""
from __future__ import annotations

import os

import torch
from torch.utils.data import Dataset

from galcube_lib._util import checks as check
from galcube_lib._util.rng import seed_sequence
from galcube_lib.datasets.draw import check_prior, simulate_cube
from galcube_lib.datasets.store import CubeStore, open_dataset


class StoreDataset(Dataset):
    """The (noisy, clean) pairs of a store made by ``generate_dataset``.

    Parameters
    ----------
    path_or_dataset : str, os.PathLike or CubeStore
        The store, or the result of ``open_dataset``.
    transform : callable, optional
        ``transform(noisy, clean) -> (noisy, clean)``, applied to the tensors
        of each item (e.g. the same random flip on both).
    """

    def __init__(self, path_or_dataset, transform=None):
        if not isinstance(path_or_dataset, (CubeStore, str, os.PathLike)):
            raise TypeError(f"path_or_dataset must be a store's path or an open_dataset() "
                            f"result, got {path_or_dataset!r} ({type(path_or_dataset).__name__})")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be a callable (noisy, clean) -> (noisy, clean) or "
                            f"None, got {transform!r} ({type(transform).__name__})")
        self.store = (path_or_dataset if isinstance(path_or_dataset, CubeStore)
                      else open_dataset(path_or_dataset))
        self.transform = transform

    def __len__(self):
        return len(self.store)

    def __getitem__(self, index):
        noisy, clean = self.store.pair(index)
        pair = torch.from_numpy(noisy)[None], torch.from_numpy(clean)[None]
        return self.transform(*pair) if self.transform else pair


class SimulatedDataset(Dataset):
    """(noisy, clean) pairs simulated on the fly, the same for every worker.

    Item ``i`` is cube ``i`` of ``generate_dataset(..., n_cubes=length,
    rng=rng, prior=prior)``: it depends only on ``(rng, i)``.

    Parameters
    ----------
    prior : prior, optional
        Population to draw from (default ``BenchmarkPrior()``).
    length : int
        Number of items, >= 1.
    rng : int, None or numpy.random.SeedSequence
        Root seed; None draws fresh entropy, kept in ``self.seed``. A Generator is refused,
        as by ``generate_dataset``: items must not depend on the order they are read in.
    """

    def __init__(self, prior=None, *, length, rng=0):
        self.length = check.integer("length", length, 1)
        self.seed = seed_sequence(rng)
        self.prior = check_prior(prior)

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        index = check.integer("index", index)
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} "
                             f"items")
        _, clean, noisy = simulate_cube(self.prior, self.seed, index % self.length)
        return (torch.from_numpy(noisy.data)[None],
                torch.from_numpy(clean.data)[None])
