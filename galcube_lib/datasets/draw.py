"""Cube ``i`` of a dataset: drawn from child ``i`` of the root SeedSequence.

The child's first spawned SeedSequence seeds the scene, the second the noise, so a cube depends
only on (prior, root seed, i): the same whatever the workers, batches or restarts, and its noise
can be re-created from its clean cube.
"""
from __future__ import annotations

import json

import numpy as np

from galcube_lib.noise.realise import add_noise
from galcube_lib.sim.prior import PRIORS, BenchmarkPrior
from galcube_lib.sim.simulate import simulate


def check_prior(prior):
    """The prior (default ``BenchmarkPrior()``), or a TypeError: workers rebuild it from
    ``to_dict()``, so it must be one of the registered priors (``galcube_lib.sim.prior.PRIORS``)."""
    if prior is None:
        return BenchmarkPrior()
    if not isinstance(prior, tuple(PRIORS.values())):
        raise TypeError(f"prior must be a population such as gl.BenchmarkPrior(), got "
                        f"{prior!r} ({type(prior).__name__})")
    return prior


def seed_to_json(seed: np.random.SeedSequence) -> dict:
    return {"entropy": json.dumps(seed.entropy),
            "spawn_key": list(seed.spawn_key), "pool_size": seed.pool_size}


def seed_from_json(d: dict) -> np.random.SeedSequence:
    return np.random.SeedSequence(json.loads(d["entropy"]), spawn_key=tuple(d["spawn_key"]),
                                  pool_size=d["pool_size"])


def cube_seeds(root: np.random.SeedSequence, index: int):
    """Child ``index`` of ``root`` and its (scene, noise) SeedSequences."""
    child = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, index),
                                   pool_size=root.pool_size)
    return child, *child.spawn(2)


def simulate_cube(prior, root, index, with_noise=True):
    """Cube ``index``: its parameter row, clean and noisy Cubes (noisy None without
    ``with_noise``)."""
    child, scene_seed, noise_seed = cube_seeds(root, index)
    scene = prior.draw(np.random.default_rng(scene_seed))
    clean = simulate(scene.components, scene.observation)
    noisy = noisy_cube(clean, scene, noise_seed) if with_noise else None
    row = {"index": index, **scene.params(max_galaxies=prior.n_galaxies[1]), "peak_snr": scene.peak_snr,
           "seed_entropy": json.dumps(child.entropy),
           "seed_spawn_key": ",".join(map(str, child.spawn_key))}
    return row, clean, noisy


def noisy_cube(clean, scene, noise_seed):
    """``clean`` with the noise of ``scene``, drawn from ``noise_seed``."""
    return add_noise(clean, peak_snr=scene.peak_snr, kind=scene.noise_kind,
                     rng=np.random.default_rng(noise_seed))
