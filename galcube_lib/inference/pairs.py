"""Simulated (cube, property maps) pairs, several views of each galaxy, split by galaxy."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib._util import rng as _rng
from galcube_lib.io.cube import Cube
from galcube_lib.noise.level import sigma_mad
from galcube_lib.noise.realise import add_noise
from galcube_lib.sim.prior import BenchmarkPrior
from galcube_lib.sim.properties import LABEL_MODELS, PropertyMaps, property_maps
from galcube_lib.sim.simulate import simulate

#: the population of the property pairs: one resolved disk (R_e of 1-4 beam radii) per cube
PAIR_PRIOR = BenchmarkPrior(n_pix=64, n_chan=40, channel_kms=30.0, n_galaxies=(1, 1),
                            r_eff_beam_radii=(1.0, 4.0), v_max_kms=(80.0, 350.0),
                            r_turn_over_r_eff=(0.05, 1.0), peak_snr=(3.0, 10.0))
FLUX_RANGE = (0.3, 3.0)   # line flux of a galaxy in Jy km/s, drawn log-uniformly


@dataclass(frozen=True)
class Pair:
    """One view of one galaxy: its noisy cube and its true property maps.

    Attributes
    ----------
    galaxy : int
        Index of the galaxy; its views share it (and must share a split).
    noisy : Cube
        The cube with noise (``noisy.clean`` is the truth).
    maps : PropertyMaps
        The true property maps on the cube's sky grid.
    peak_snr : float
        The noisy cube's peak SNR.
    noise_sigma : float or None
        The noise level per voxel of the observed cube when ``noisy`` is a denoised one
        (:func:`denoised_pairs`); None: measured on ``noisy`` itself.
    """

    galaxy: int
    noisy: Cube
    maps: PropertyMaps
    peak_snr: float
    noise_sigma: float | None = None


def draw_pairs(n_galaxies: int, *, label_model: str = "kinematic", views: int = 2,
               prior: BenchmarkPrior = PAIR_PRIOR, peak_snr=None, rng=0, progress: bool = True) -> list[Pair]:
    """Draw galaxies and observe each at ``views`` inclinations and position angles.

    Parameters
    ----------
    n_galaxies : int
        Number of galaxies, >= 1.
    label_model : str
        How Sigma_SFR follows from the gas: one of ``LABEL_MODELS`` of :func:`property_maps`
        ("kinematic", "moment0", "delooze2014-...").
    views : int
        Views per galaxy, >= 1: the same disk (profile, flux, rotation curve, dispersion) at a
        new isotropic inclination and position angle, with its own scatter and noise.
    prior : BenchmarkPrior
        The population (default ``PAIR_PRIOR``); its first disk is used, its flux drawn in
        ``FLUX_RANGE``.
    peak_snr : float, optional
        Peak SNR of every cube; default drawn from the prior per view.
    rng : int, None or numpy.random.SeedSequence
        Randomness (docs/conventions.md, Randomness); galaxy k is drawn from child k.
    progress : bool
        Show a progress bar (default True).

    Returns
    -------
    list of Pair
        ``n_galaxies * views`` pairs, galaxy by galaxy.
    """
    from tqdm.auto import tqdm
    n_galaxies = check.integer("n_galaxies", n_galaxies, 1, None)
    views = check.integer("views", views, 1, None)
    if label_model not in LABEL_MODELS:
        raise ValueError(f"label_model={label_model!r} is not one of {', '.join(map(repr, LABEL_MODELS))}")
    root = _rng.seed_sequence(rng)
    pairs = []
    for k, seed in enumerate(tqdm(root.spawn(n_galaxies), desc="galaxies", disable=not progress)):
        gen = np.random.default_rng(seed)
        scene = prior.draw(gen)
        flux = math.exp(gen.uniform(*np.log(FLUX_RANGE)))
        disk = scene.components[0].replace(flux_jy_kms=flux)
        for view in range(views):
            if view:
                disk = disk.replace(inclination_deg=math.degrees(math.acos(gen.uniform(0.0, 1.0))),
                                    pa_deg=float(gen.uniform(-180.0, 180.0)))
            snr = float(gen.uniform(*prior.peak_snr)) if peak_snr is None else float(peak_snr)
            clean = simulate([disk], scene.observation)
            maps = property_maps([disk], scene.observation, label_model=label_model, rng=gen)
            pairs.append(Pair(k, add_noise(clean, peak_snr=snr, rng=gen), maps, snr))
    return pairs


def store_pairs(store, indices) -> list[Pair]:
    """Pairs from a dataset made with ``generate_dataset(..., properties=...)``.

    Parameters
    ----------
    store : CubeStore
        The dataset (``gl.open_dataset``); its cubes are different galaxies.
    indices : sequence of int
        The cubes to read.

    Returns
    -------
    list of Pair
        ``galaxy`` = the cube's index; the cube on the prior's observation (its header, beam
        and channels), its truth as ``clean``, and its stored maps.
    """
    obs = store.prior.observation()
    pairs = []
    for i in indices:
        noisy, clean = store.pair(i)
        maps = store.maps(i)
        cube = Cube(noisy, obs.header, clean=clean)
        record = {"dataset": store.path, "index": int(i), "label_model": store.meta["properties"]}
        property_maps = PropertyMaps(*(maps[k].astype(np.float64) for k in ("sigma_line", "sigma_gas", "sigma_sfr")),
                                     np.zeros(maps["sigma_sfr"].shape), record)
        pairs.append(Pair(int(i), cube, property_maps, float(store.params["peak_snr"].iloc[i])))
    return pairs


def denoised_pairs(pairs: list[Pair], method: str, *, progress: bool = True, **options) -> list[Pair]:
    """The pairs with their cubes denoised, to infer properties from denoised cubes.

    Parameters
    ----------
    pairs : list of Pair
        Pairs with noisy cubes.
    method : str
        A ``gl.denoise`` method ("ist", "unet", ...).
    progress : bool
        Show a progress bar (default True).
    **options
        Options of the method.

    Returns
    -------
    list of Pair
        The same galaxies, maps and peak SNRs; each cube denoised by ``gl.denoise`` (with its
        default null check: none for a simulated cube, one own-noise null for a real one, in
        the cube's record) and ``noise_sigma`` the noisy cube's noise level (median absolute
        deviation), so that the features keep their units.
    """
    from tqdm.auto import tqdm
    from galcube_lib.denoise import denoise
    return [replace(p, noisy=denoise(p.noisy, method, **options),
                    noise_sigma=sigma_mad(p.noisy.data) if p.noise_sigma is None else p.noise_sigma)
            for p in tqdm(pairs, desc=f"{method} denoising", disable=not progress)]


def split_by_galaxy(pairs: list[Pair], test_fraction: float = 0.3, rng=0) -> tuple[list[Pair], list[Pair]]:
    """Split pairs into training and test sets with no galaxy in both.

    Parameters
    ----------
    pairs : list of Pair
        The pairs.
    test_fraction : float
        Fraction of the galaxies held out, in (0, 1).
    rng : int, None, SeedSequence or Generator
        Randomness of the split.

    Returns
    -------
    train, test : list of Pair
        Every view of a galaxy falls in one of them; each has at least one galaxy.

    Raises
    ------
    ValueError
        Fewer than two galaxies, or ``test_fraction`` outside (0, 1).
    """
    check.number("test_fraction", test_fraction, 0.0, 1.0, lo_open=True, hi_open=True)
    galaxies = sorted({p.galaxy for p in pairs})
    if len(galaxies) < 2:
        raise ValueError(f"pairs hold {len(galaxies)} galaxy: a split by galaxy needs at least 2")
    gen, _ = _rng.generator(rng)
    n_test = min(len(galaxies) - 1, max(1, round(test_fraction * len(galaxies))))
    test = set(gen.permutation(galaxies)[:n_test].tolist())
    return [p for p in pairs if p.galaxy not in test], [p for p in pairs if p.galaxy in test]
