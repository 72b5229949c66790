"""The benchmark in real noise: simulated sources injected into shipped telescope cubes.

The simulated benchmark (:mod:`galcube_lib.bench.protocol`) adds noise that galcube itself
draws. Here the noise is taken as it is from real cubes: a simulated disk is added to a real
cube at a place that its own emission leaves free (the 5-sigma smooth-and-clip mask grown by one
beam FWHM, :func:`galcube_lib.metrics.real.emission_zone`), with the cube's own beam, channels,
blanks and header, and no model of the noise. Every method denoises the whole cube, and the
figures are measured in the injected disk's aperture against what was injected. The null test
is the same aperture at another emission-free place of the same cube, denoised without any
injection: the flux a method puts into pure real noise, in units of the aperture-flux noise of
the real cube there (the spread of the aperture's flux over emission-free places).

Sources come in two families (docs/conventions.md, Benchmark protocol):

- ``population``: the benchmark population (:class:`~galcube_lib.BenchmarkPrior`) in the cube's
  units: R_e in 0.25-4 beam radii of the cube's beam, dispersion and rotation in units of 30 km/s
  channels carried over to the cube's channels;
- ``disk``: single disks of R_e 0.5-3 beam radii whose line is 3-40 channels wide (at most 60%
  of the band).

A disk that finds no room in a cube is shrunk by steps of 0.8 until it fits; the row records
the R_e that was injected.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import tempfile
from pathlib import Path

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib._util import rng as _rng
from galcube_lib._util.parallel import check_workers, run_batches
from galcube_lib.bench.protocol import SNR_BINS, _methods, _per_method

#: the shipped cubes whose noise the benchmark uses: name -> file under data/real
NOISE_SOURCES = {
    "alma_iras07454": "iras07454_alma_hc3n_agb.fits.gz",
    "carma_ngc4324": "ngc4324_carma_co10.fits.gz",
    "carma_ngc4710": "ngc4710_carma_co10.fits.gz",
    "wsrt_ngc2903": "ngc2903_wsrt_hi_whisp.fits.gz",
}
REAL_DIR = Path(__file__).resolve().parents[2] / "data" / "real"
#: R_e range of each family, in beam radii (FWHM / 2) of the cube's beam
FAMILIES = {"population": (0.25, 4.0), "disk": (0.5, 3.0)}
#: line FWHM of the ``disk`` family, in channels (and at most LINE_BAND_FRACTION of the band)
DISK_LINE_CHANNELS = (3.0, 40.0)
LINE_BAND_FRACTION = 0.6
#: methods that always run beside the others, as references
REFERENCES = ("gaussian", "ist")
#: figures of the real-noise benchmark (docs/conventions.md, Benchmark protocol)
FIGURES = ("nrmse", "flux_conservation", "snr_gain", "spectrum_pearson", "null_flux_sigma",
           "coverage", "time_s")


def plan(n_per_bin: int = 10, sources=tuple(NOISE_SOURCES), snr_bins=SNR_BINS) -> list[dict]:
    """The injections of the benchmark: per noise source and SNR bin, ``n_per_bin`` sources
    split evenly between the families.

    Parameters
    ----------
    n_per_bin : int, optional
        Injections per (noise source, SNR bin), 2 to 10,000 (default 10); an odd number gives
        the ``population`` family the extra one.
    sources : sequence of str or os.PathLike, optional
        Names in :data:`NOISE_SOURCES` (default all) or FITS cubes (with a beam) of your own.
    snr_bins : sequence of (float, float), optional
        The peak-SNR bins: the benchmark's seven (:data:`SNR_BINS`, the default) or some of
        them.

    Returns
    -------
    list of dict
        One task per injection: ``noise_source`` (its label), ``file``, ``snr_bin``, ``snr_range``, ``class`` (the
        family), ``rank`` (within its source, bin and family) and ``index`` (its position, which
        seeds it).
    """
    n_per_bin = check.integer("n_per_bin", n_per_bin, 2, 10_000)
    files = _source_files(sources)
    snr_bins = [tuple(float(v) for v in b) for b in snr_bins]
    if not snr_bins or any(b not in SNR_BINS for b in snr_bins):
        raise ValueError(f"snr_bins must be some of the benchmark's bins {SNR_BINS}, got "
                         f"{snr_bins!r}")
    tasks = []
    for source, path in files.items():
        for snr in snr_bins:
            for c, family in enumerate(FAMILIES):
                count = n_per_bin // 2 + (n_per_bin % 2 if c == 0 else 0)
                tasks += [{"noise_source": source, "file": str(path), "snr_bin": f"({snr[0]:g},{snr[1]:g}]",
                           "snr_range": snr, "class": family, "rank": k} for k in range(count)]
    for i, task in enumerate(tasks):
        task["index"] = i
    return tasks


def _source_files(sources) -> dict:
    """``sources`` as {label: FITS path}: a name of :data:`NOISE_SOURCES` keeps its name, a file
    is labelled by its name without .fits(.gz)."""
    import os

    sources = (sources,) if isinstance(sources, (str, os.PathLike)) else tuple(sources)
    if not sources:
        raise ValueError(f"sources is empty; give at least one of {tuple(NOISE_SOURCES)} or a "
                         "FITS file")
    files = {}
    for source in sources:
        if isinstance(source, str) and source in NOISE_SOURCES:
            files[source] = REAL_DIR / NOISE_SOURCES[source]
            continue
        path = Path(source) if isinstance(source, (str, os.PathLike)) else None
        if path is None or not path.is_file():
            raise ValueError(f"sources has {source!r}, which is neither a noise source of the "
                             f"benchmark ({', '.join(NOISE_SOURCES)}) nor a FITS file")
        files[path.name.removesuffix(".gz").removesuffix(".fits")] = path
    return files


def noise_cube(source):
    """A real cube and the voxels its own emission may touch (read once per process and file
    version).

    Parameters
    ----------
    source : str or os.PathLike
        A name in :data:`NOISE_SOURCES`, or a FITS cube with a beam.

    Returns
    -------
    (Cube, numpy.ndarray, numpy.ndarray)
        The cube as :func:`galcube_lib.read_fits` reads it, its source mask
        (:func:`galcube_lib.denoise.source_mask`) and the footprint of its
        :func:`~galcube_lib.metrics.real.emission_zone` in every channel (boolean (v, y, x)).
    """
    (path,) = _source_files([source]).values()
    stat = path.stat()
    return _prepared(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=None)
def _prepared(path: str, mtime_ns: int, size: int):
    import warnings

    from galcube_lib.denoise import source_mask
    from galcube_lib.io.cube import read_fits
    from galcube_lib.denoise.emission import emission_zone

    with warnings.catch_warnings():  # the readers' notes on old headers are in cube.record
        warnings.simplefilter("ignore", UserWarning)
        cube = read_fits(path)
    mask = source_mask(cube)
    zone = emission_zone(cube, mask, dilate_v=0)
    return cube, mask, np.broadcast_to(zone.any(axis=0), cube.shape)


def draw_galaxy(cube, family: str, rng):
    """A disk of one family in the cube's units (1 kpc = 1 pixel, velocities in km/s of its
    channels), centred on the band.

    Parameters
    ----------
    cube : Cube
        The cube the disk goes into (its beam and channel width set the units).
    family : {"population", "disk"}
        See the module's description.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Randomness (SPEC 7).

    Returns
    -------
    Galaxy
        The disk, flux 1 Jy km/s (the injection scales it to its peak SNR).
    """
    from galcube_lib.sim.prior import BenchmarkPrior, draw_disk

    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not one of {', '.join(map(repr, FAMILIES))}")
    gen, _ = _rng.generator(rng)
    dv = abs(cube.channel_kms)
    beam = math.sqrt(cube.beam_fwhm_px[0] * cube.beam_fwhm_px[1])
    if family == "population":  # 30 km/s channels of the population -> this cube's channels
        scale = dv / 30.0
        # pixels of half the cube's, so that the prior's grid samples any beam; R_e in kpc is
        # then in the cube's pixels, as inject expects
        prior = BenchmarkPrior(n_chan=cube.shape[0], channel_kms=dv, beam_fwhm_px=2.0 * beam,
                               pixel_kpc=0.5, n_galaxies=(1, 1), r_eff_beam_radii=FAMILIES[family],
                               sigma_kms=(30.0 * scale, 50.0 * scale),
                               v_max_kms=(100.0 * scale, 300.0 * scale))
        return prior.draw(gen).components[0]
    top = min(DISK_LINE_CHANNELS[1], LINE_BAND_FRACTION * cube.shape[0])
    return draw_disk(gen, cube.beam_fwhm_px, dv, FAMILIES[family], (DISK_LINE_CHANNELS[0], top))


def _inject(cube, mask, galaxy, peak_snr, rng):
    """:func:`~galcube_lib.metrics.real.inject`, shrinking the disk until it finds room."""
    from galcube_lib.metrics.real import inject

    while True:
        try:
            return (*inject(cube, galaxy, peak_snr=peak_snr, mask=mask, rng=rng), galaxy)
        except ValueError as err:
            if "no emission-free place" not in str(err) or galaxy.r_eff_kpc < 0.5:
                raise
            galaxy = dataclasses.replace(galaxy, r_eff_kpc=0.8 * galaxy.r_eff_kpc,
                                         h_z_kpc=0.8 * galaxy.h_z_kpc,
                                         r_turn_kpc=0.8 * galaxy.r_turn_kpc)


def _evaluate_batch(root, methods, options, tasks) -> list[dict]:
    rows = []
    for task in tasks:
        rows += _evaluate_task(root, methods, options, task)
    return rows


@functools.lru_cache(maxsize=None)
def _denoised_null(path: str, mtime_ns: int, method: str, options_json: str):
    """The real cube denoised without any injection (once per process, file and method)."""
    from galcube_lib.denoise import denoise

    cube = noise_cube(path)[0]
    return denoise(cube, method, null_check=0, **json.loads(options_json)).data


def _evaluate_task(root, methods, options, task) -> list[dict]:
    """One injection: a row per method."""
    import time

    from galcube_lib.denoise import denoise
    from galcube_lib.metrics.apertures import aperture_flux
    from galcube_lib.metrics.errors import flux_conservation, normalised_rmse, pearson_r, snr_gain
    from galcube_lib.metrics.morphology import truth_mask
    from galcube_lib.metrics.offsource import offsource_flux_noise, offsource_shifts
    from galcube_lib.metrics.spectra import aperture_spectrum

    entropy, spawn_key = root
    seq = np.random.SeedSequence(entropy, spawn_key=(*spawn_key, task["index"]))
    galaxy_seed, snr_seed, place_seed, null_seed = seq.spawn(4)
    cube, mask, zone = noise_cube(task["file"])
    galaxy = draw_galaxy(cube, task["class"], galaxy_seed)
    peak_snr = float(np.random.default_rng(snr_seed).uniform(*task["snr_range"]))
    injected, aperture, galaxy = _inject(cube, mask, galaxy, peak_snr, place_seed)
    truth, noisy = injected.clean, injected.data
    filled = np.nan_to_num(truth)
    aperture = line_aperture(truth, aperture)
    invalid = ~np.isfinite(cube.data)
    try:
        shift = offsource_shifts(cube.shape, aperture, 2, null_seed, exclude=zone,
                                 invalid=invalid)[0]
    except ValueError:
        raise ValueError(f"{task['noise_source']}: no emission-free place is left for the null "
                         f"aperture ({int(aperture.any(axis=0).sum())} px) besides the injected "
                         "disk; give a cube with more room around its emission") from None
    null_aperture = np.roll(aperture, tuple(int(s) for s in shift), axis=(1, 2))
    flux_noise = offsource_flux_noise(cube, null_aperture, rng=null_seed, exclude=zone)
    source_voxels = truth_mask(filled) & aperture
    base = {k: v for k, v in task.items() if k not in ("snr_range", "file", "unet_weights",
                                                    "adapt_steps")}
    base.update(peak_snr=peak_snr, r_eff_beams=galaxy.r_eff_kpc / math.sqrt(
        cube.beam_fwhm_px[0] * cube.beam_fwhm_px[1]),
        line_fwhm_channels=_line_fwhm(aperture_spectrum(filled, aperture)),
        beam_fwhm_px=float(cube.beam_fwhm_px[0]), channel_kms=abs(float(cube.channel_kms)),
        sigma=float(injected.record["injection"]["sigma"]))
    version = Path(task["file"]).stat().st_mtime_ns
    rows = []
    for method in methods:
        opts = options.get(method, {})
        if method == "unet" and task.get("unet_weights"):
            opts = {**opts, "weights": task["unet_weights"]}
        start = time.perf_counter()
        den = denoise(injected, method, **opts)
        elapsed = time.perf_counter() - start
        coverage = math.nan
        if den.uncertainty is not None:
            error = np.abs(den.data - truth)[source_voxels]
            coverage = float(np.mean(error <= den.uncertainty[source_voxels]))
        null = _denoised_null(task["file"], version, method, json.dumps(opts, sort_keys=True))
        adapted = task.get("adapt_steps", 0) if method == "unet" else 0
        rows.append({**base, "method": method, "adapt_steps": adapted, "time_s": elapsed,
                     "nrmse": normalised_rmse(den.data, truth, noisy, aperture),
                     "flux_conservation": flux_conservation(den.data, truth, aperture),
                     "snr_gain": snr_gain(den.data, truth, noisy, aperture),
                     "spectrum_pearson": pearson_r(aperture_spectrum(den.data, aperture),
                                                   aperture_spectrum(truth, aperture)),
                     "null_flux_sigma": aperture_flux(
                         null, null_aperture, channel_kms=cube.channel_kms,
                         beam_area_px=cube.beam_area_px) / flux_noise,
                     "coverage": coverage})
    return rows


def line_aperture(truth, aperture, frac: float = 0.01, grow_channels: int = 2) -> np.ndarray:
    """The injected disk's aperture over the channels of its line only.

    A cylinder over the whole band would sum the noise of every line-free channel (113 on the
    WSRT cube, against lines of 3-40), and its flux would then measure the noise, not the
    method. The channels kept are those where the true aperture spectrum exceeds ``frac`` of
    its peak, grown by ``grow_channels`` on each side (docs/conventions.md, Benchmark protocol).

    Parameters
    ----------
    truth : numpy.ndarray
        The injected (v, y, x) cube alone (NaN on blanks).
    aperture : numpy.ndarray
        Boolean (v, y, x) cylinder around it.
    frac : float, optional
        Fraction of the spectrum's peak that marks the line, in (0, 1) (default 0.01).
    grow_channels : int, optional
        Channels added on each side, >= 0 (default 2).

    Returns
    -------
    numpy.ndarray
        Boolean (v, y, x): ``aperture`` in the line's channels.
    """
    from scipy.ndimage import binary_dilation

    from galcube_lib.metrics.spectra import aperture_spectrum

    frac = check.number("frac", frac, 0.0, 1.0, lo_open=True, hi_open=True)
    grow_channels = check.integer("grow_channels", grow_channels, 0)
    spectrum = aperture_spectrum(np.nan_to_num(truth), aperture)
    line = spectrum > frac * spectrum.max()
    if grow_channels:
        line = binary_dilation(line, iterations=grow_channels)
    return aperture & line[:, None, None]


def _line_fwhm(spectrum) -> float:
    """Channels where the spectrum is at or above half its peak."""
    spectrum = np.asarray(spectrum, dtype=float)
    return float(np.count_nonzero(spectrum >= 0.5 * spectrum.max()))


def run(n_per_bin: int = 10, methods=("unet",), sources=tuple(NOISE_SOURCES), rng=0,
        workers: int = 2, client=None, options: dict | None = None, progress: bool = True,
        snr_bins=SNR_BINS, adapt: int = 0, calibrate: bool = False):
    """Run the benchmark in real noise; one row per (injection, method).

    Parameters
    ----------
    n_per_bin : int, optional
        Injections per (noise source, peak-SNR bin), 2 to 10,000 (default 10), half per family.
    methods : str or sequence of str, optional
        Methods of :func:`galcube_lib.denoise`; gaussian and IST (:data:`REFERENCES`) always
        run beside them (default ("unet",)).
    sources : sequence of str or os.PathLike, optional
        Names in :data:`NOISE_SOURCES` (default all) or FITS cubes (with a beam) of your own:
        how the methods do in your cube's noise.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Root of the seeds (SPEC 7); injection ``i`` uses child ``i`` of its SeedSequence, so
        the results do not depend on the number of workers.
    workers : int, optional
        Processes of a local dask cluster (0 or 1: this process). Ignored with ``client``.
    client : dask.distributed.Client, optional
        An existing cluster (left open).
    options : dict, optional
        ``{method: {option: value}}`` passed to :func:`galcube_lib.denoise`; with
        ``{"unet": {"uncertainty": 8}}`` the U-Net's uncertainty is scored (``coverage``).
    progress : bool, optional
        Show a progress bar over injections.
    snr_bins : sequence of (float, float), optional
        The peak-SNR bins, as :func:`plan` (a subset measures a costly option on fewer
        injections; the seeds then differ from a run over all bins).
    adapt : int, optional
        Steps of the U-Net's adaptation to each noise source (0, the default: none). The U-Net
        ("unet" in ``methods``, with its ``weights`` and ``uncertainty`` options) is then
        adapted once per source by :func:`galcube_lib.denoise.deep.adapt.adapt_weights` on the
        real cube before any injection (source ``k`` seeded by child ``2**32 + k`` of the
        root), and those weights denoise every injection into it and its null: the
        adaptation sees the cube's noise and emission, never an injected disk. The weights
        are written to a temporary folder, which the workers must be able to read (this
        machine's, or a file system they share).
    calibrate : bool, optional
        Without ``adapt``: calibrate the U-Net's uncertainty floor in each source's own noise
        once, on the real cube before any injection (``adapt_weights`` with 0 steps; needs
        the ``uncertainty`` option of "unet"), instead of taking its model card's. ``adapt``
        with ``uncertainty`` calibrates so anyway.

    Returns
    -------
    pandas.DataFrame
        Task columns (index, noise_source, snr_bin, class, peak_snr, r_eff_beams,
        line_fwhm_channels, beam_fwhm_px, channel_kms, sigma), ``method`` and :data:`FIGURES`:
        ``nrmse``, ``flux_conservation`` (per cent), ``snr_gain``, ``spectrum_pearson`` in the
        injected disk's aperture against the injected truth; ``null_flux_sigma`` (the
        aperture's flux at another emission-free place of the cube denoised without injection,
        over the real aperture-flux noise there); ``coverage`` (fraction of the disk's voxels
        whose error is within the ±1 sigma uncertainty; NaN for a method that gives none);
        ``time_s`` (without the adaptation); ``adapt_steps`` (the U-Net's adaptation, 0 for
        the other methods).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    methods = tuple(dict.fromkeys((*_methods(methods), *REFERENCES)))
    root = _rng.seed_sequence(rng, draw_from_generator=True)
    workers = check_workers(workers, client)
    progress = check.boolean("progress", progress)
    options = _per_method("options", {} if options is None else options)
    adapt = check.integer("adapt", adapt, 0)
    calibrate = check.boolean("calibrate", calibrate)
    if calibrate and not options.get("unet", {}).get("uncertainty"):
        raise ValueError("calibrate calibrates the U-Net's uncertainty: give options="
                         "{'unet': {'uncertainty': n}} with n >= 2 (and 'unet' in methods)")
    tasks = plan(n_per_bin, sources, snr_bins)
    rows = []
    with contextlib.ExitStack() as stack:
        if (adapt or calibrate) and "unet" in methods:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            adapted = _adapted_weights(tasks, folder, adapt, options.get("unet", {}), root,
                                       progress)
            for task in tasks:
                task.update(unet_weights=adapted[task["noise_source"]], adapt_steps=adapt)
        with tqdm(total=len(tasks), unit="cube", desc="real-noise benchmark",
                  disable=not progress) as bar:
            def collect(batch_rows):
                rows.extend(batch_rows)
                bar.update(len({row["index"] for row in batch_rows}))
            run_batches(_evaluate_batch, ((root.entropy, tuple(root.spawn_key)), methods,
                                          options), tasks, workers=workers, client=client,
                        on_result=collect)
    return pd.DataFrame(rows).sort_values(["index", "method"]).reset_index(drop=True)


def _adapted_weights(tasks, folder: Path, steps: int, unet_options: dict, root,
                     progress: bool) -> dict:
    """{noise source: the U-Net adapted to its real cube}, written under ``folder``."""
    from galcube_lib.denoise.deep.adapt import adapt_weights
    from galcube_lib.denoise.deep.unet import DEFAULT_WEIGHTS

    files = dict.fromkeys((t["noise_source"], t["file"]) for t in tasks)
    adapted = {}
    for k, (source, path) in enumerate(files):
        seed = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 2 ** 32 + k))
        adapted[source] = str(adapt_weights(
            noise_cube(path)[0], folder / f"unet_adapted_{k}.pt",
            weights=unet_options.get("weights", DEFAULT_WEIGHTS), steps=steps,
            uncertainty=unet_options.get("uncertainty", 0), rng=np.random.default_rng(seed),
            device=unet_options.get("device", "cpu"), progress=progress))
    return adapted
