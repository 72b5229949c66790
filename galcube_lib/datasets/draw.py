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
from galcube_lib.sim.properties import property_maps
from galcube_lib.sim.simulate import simulate

PROPERTY_MAPS = ("sigma_line", "sigma_gas", "sigma_sfr")   # the maps a dataset may store


def check_prior(prior):
    """Check a dataset's prior.

    Workers rebuild it from ``to_dict()``, so it must be one of the registered priors
    (``galcube_lib.sim.prior.PRIORS``).

    Parameters
    ----------
    prior : BenchmarkPrior or None
        The population; None for ``BenchmarkPrior()``.

    Returns
    -------
    BenchmarkPrior
        The prior.

    Raises
    ------
    TypeError
        Anything that is not a registered prior.
    """
    if prior is None:
        return BenchmarkPrior()
    if not isinstance(prior, tuple(PRIORS.values())):
        raise TypeError(f"prior must be a population such as gl.BenchmarkPrior(), got "
                        f"{prior!r} ({type(prior).__name__})")
    return prior


def seed_to_json(seed: np.random.SeedSequence) -> dict:
    """A SeedSequence as a JSON-able dict; :func:`seed_from_json` rebuilds it.

    Parameters
    ----------
    seed : numpy.random.SeedSequence
        The seed.

    Returns
    -------
    dict
        ``entropy`` (as JSON text: it may exceed 64 bits), ``spawn_key`` and ``pool_size``.
    """
    return {"entropy": json.dumps(seed.entropy),
            "spawn_key": list(seed.spawn_key), "pool_size": seed.pool_size}


def seed_from_json(d: dict) -> np.random.SeedSequence:
    """Rebuild a SeedSequence from :func:`seed_to_json` output.

    Parameters
    ----------
    d : dict
        ``entropy`` (JSON text), ``spawn_key`` and ``pool_size``.

    Returns
    -------
    numpy.random.SeedSequence
        The seed, drawing the same numbers as the one recorded.
    """
    return np.random.SeedSequence(json.loads(d["entropy"]), spawn_key=tuple(d["spawn_key"]),
                                  pool_size=d["pool_size"])


def cube_seeds(root: np.random.SeedSequence, index: int):
    """The seeds of cube ``index``.

    Parameters
    ----------
    root : numpy.random.SeedSequence
        The dataset's root seed.
    index : int
        The cube's index, >= 0.

    Returns
    -------
    child, scene, noise : numpy.random.SeedSequence
        Child ``index`` of ``root`` (spawn key ``(*root.spawn_key, index)``) and its first
        two spawned children, which seed the scene and the noise.
    """
    child = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, index),
                                   pool_size=root.pool_size)
    return child, *child.spawn(2)


def simulate_cube(prior, root, index, with_noise=True):
    """Draw and simulate cube ``index`` of a dataset.

    Parameters
    ----------
    prior : BenchmarkPrior
        The population.
    root : numpy.random.SeedSequence
        The dataset's root seed.
    index : int
        The cube's index, >= 0.
    with_noise : bool, optional
        Also draw the noisy cube (default True).

    Returns
    -------
    row : dict
        ``index``, every drawn parameter (:meth:`Scene.params`) and the child seed
        (``seed_entropy``, ``seed_spawn_key``).
    clean : Cube
        The noise-free cube.
    noisy : Cube or None
        ``clean`` with its noise; None without ``with_noise``.
    """
    child, scene_seed, noise_seed = cube_seeds(root, index)
    scene = prior.draw(np.random.default_rng(scene_seed))
    clean = simulate(scene.components, scene.observation)
    noisy = noisy_cube(clean, scene, noise_seed) if with_noise else None
    row = {"index": index, **scene.params(max_galaxies=prior.n_galaxies[1]), "peak_snr": scene.peak_snr,
           "seed_entropy": json.dumps(child.entropy),
           "seed_spawn_key": ",".join(map(str, child.spawn_key))}
    return row, clean, noisy


def cube_property_maps(prior, root, index, label_model: str) -> dict:
    """The property maps of cube ``index`` of a dataset (:func:`galcube_lib.property_maps`).

    The scene is drawn again from the cube's seed; the maps' scatter is seeded by the cube's
    child SeedSequence with spawn key ``(..., index, 2)``, beside the scene's and the noise's.

    Parameters
    ----------
    prior : BenchmarkPrior
        The population.
    root : numpy.random.SeedSequence
        The dataset's root seed.
    index : int
        The cube's index, >= 0.
    label_model : str
        How Sigma_SFR follows from the gas: one of ``LABEL_MODELS`` of
        :func:`galcube_lib.property_maps` ("kinematic", "moment0", "delooze2014-...").

    Returns
    -------
    dict
        ``PROPERTY_MAPS`` names -> (y, x) float32 maps.
    """
    child, scene_seed, _ = cube_seeds(root, index)
    scene = prior.draw(np.random.default_rng(scene_seed))
    scatter_seed = np.random.SeedSequence(child.entropy, spawn_key=(*child.spawn_key, 2),
                                          pool_size=child.pool_size)
    maps = property_maps(scene.components, scene.observation, label_model=label_model, rng=scatter_seed)
    return {name: getattr(maps, name).astype(np.float32) for name in PROPERTY_MAPS}


def noisy_cube(clean, scene, noise_seed):
    """A clean cube with the noise of its scene.

    Parameters
    ----------
    clean : Cube
        The noise-free cube.
    scene : Scene
        Its scene: ``peak_snr`` and ``noise_kind`` set the noise.
    noise_seed : numpy.random.SeedSequence
        The cube's noise seed (:func:`cube_seeds`).

    Returns
    -------
    Cube
        :func:`add_noise` of ``clean``.
    """
    return add_noise(clean, peak_snr=scene.peak_snr, kind=scene.noise_kind,
                     rng=np.random.default_rng(noise_seed))
