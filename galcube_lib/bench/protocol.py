"""The published benchmark protocol (Lahiry et al. 2026) on the toy population.

Cubes are drawn from :class:`~galcube_lib.BenchmarkPrior` in peak-SNR bins, half "resolved"
(R_e >= beam/2) and half "unresolved"; every method denoises every cube and a pure-noise cube
of the same noise level (the hallucination test), and :func:`galcube_lib.metrics.evaluate`
measures the result against the truth. Cube ``i`` is seeded by child ``i`` of the
``SeedSequence`` of ``rng``, so the results do not depend on the number of workers
(docs/conventions.md, Benchmark protocol and Randomness).
"""
from __future__ import annotations

import numpy as np

from galcube_lib._util import checks as check
from galcube_lib._util import rng as _rng
from galcube_lib._util.parallel import check_workers, run_batches

SNR_BINS = ((2.5, 3.0), (3.0, 3.5), (3.5, 4.0), (4.0, 5.0), (5.0, 6.0), (6.0, 8.0), (8.0, 10.0))
#: R_e range of each class, in beam radii (FWHM / 2)
CLASSES = {"resolved": (1.0, 4.0), "unresolved": (0.25, 1.0)}
CLASSICAL = ("gaussian", "pca", "ica", "ist", "smooth_clip")
DEEP = ("unet", "spectral", "noise2self", "lcae")
METHODS = CLASSICAL + DEEP
#: methods that cost seconds to minutes per cube (noise2self and lcae train on every cube they
#: denoise; spectral runs a transformer on every spaxel), run by default on the first few
#: cubes of each (SNR bin, class) only: {method: cubes per bin and class}
SUBSAMPLE = {"spectral": 5, "noise2self": 2, "lcae": 2}
#: figures shown in the summary tables and plots
HEADLINE = ("nrmse", "flux_conservation", "snr_gain", "spectrum_pearson", "mom0_ssim",
            "null_flux_sigma", "time_s")


def plan(n_per_bin: int = 50) -> list[dict]:
    """The cubes of the benchmark: per SNR bin, ``n_per_bin`` split evenly between classes.

    Parameters
    ----------
    n_per_bin : int, optional
        Cubes per peak-SNR bin, 2 to 10,000 (default 50); an odd one gives "resolved" the
        extra cube.

    Returns
    -------
    list of dict
        One task per cube, in order: ``snr_bin`` (label, e.g. "(2.5,3]"), ``snr_range``
        (low, high), ``class`` ("resolved" or "unresolved"), ``rank`` (within its bin and
        class) and ``index`` (its position, which seeds it).
    """
    n_per_bin = check.integer("n_per_bin", n_per_bin, 2, 10_000)
    tasks = []
    for b, snr in enumerate(SNR_BINS):
        for c, name in enumerate(CLASSES):
            count = n_per_bin // 2 + (n_per_bin % 2 if c == 0 else 0)
            tasks += [{"snr_bin": f"({snr[0]:g},{snr[1]:g}]", "snr_range": snr, "class": name,
                       "rank": k} for k in range(count)]
    for i, task in enumerate(tasks):
        task["index"] = i
    return tasks


def _evaluate_batch(root, methods, options, subsample, tasks) -> list[dict]:
    """Simulate, denoise and measure a batch of tasks (worker side); ``root`` is the
    (entropy, spawn_key) of the run's SeedSequence."""
    rows = []
    for task in tasks:
        chosen = [m for m in methods if task["rank"] < subsample.get(m, float("inf"))]
        rows += _evaluate_task(root, chosen, options, task)
    return rows


def _evaluate_task(root, methods, options, task) -> list[dict]:
    """One cube: its rows for every method, with its pure-noise twin for the null test."""
    import time
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from galcube_lib.denoise import denoise
    from galcube_lib.metrics.apertures import aperture_flux, aperture_from_record
    from galcube_lib.metrics.evaluation import evaluate
    from galcube_lib.metrics.offsource import offsource_flux_noise
    from galcube_lib.noise.realise import add_noise
    from galcube_lib.sim.prior import BenchmarkPrior
    from galcube_lib.sim.simulate import simulate

    rows = []
    with warnings.catch_warnings():
        # The benchmark runs ICA on pure-noise cubes on purpose: FastICA's noise-only
        # components routinely stop at max_iter, and hundreds of identical warnings would
        # bury real ones. Scoped here, so a caller's warning filters are left alone.
        warnings.simplefilter("ignore", ConvergenceWarning)
        entropy, spawn_key = root
        seq = np.random.SeedSequence(entropy, spawn_key=(*spawn_key, task["index"]))
        scene_seed, noise_seed, null_seed = seq.spawn(3)
        prior = BenchmarkPrior(peak_snr=task["snr_range"], r_eff_beam_radii=CLASSES[task["class"]])
        scene = prior.draw(np.random.default_rng(scene_seed))
        clean = simulate(scene.components, scene.observation)
        noisy = add_noise(clean, peak_snr=scene.peak_snr, kind="beam", rng=np.random.default_rng(noise_seed))
        empty = clean.replace(data=np.zeros(clean.shape, np.float32), clean=np.zeros(clean.shape, np.float32))
        null = add_noise(empty, rms_jy=noisy.record["noise"]["rms_jy"], kind="beam",
                            rng=np.random.default_rng(null_seed))
        aperture = aperture_from_record(clean)
        flux_noise = offsource_flux_noise(null.data, aperture, rng=0)
        base = {k: v for k, v in task.items() if k != "snr_range"}
        base.update(peak_snr=scene.peak_snr, n_galaxies=len(scene.components),
                    r_eff_px=scene.params()["r_eff_px"])
        for method in methods:
            start = time.perf_counter()
            den = denoise(noisy, method, **options.get(method, {}))
            elapsed = time.perf_counter() - start
            figures = evaluate(den, noisy=noisy, aperture=aperture)
            null_den = denoise(null, method, **options.get(method, {}))
            null_flux = aperture_flux(null_den.data, aperture) / flux_noise
            rows.append({**base, "method": method, "time_s": elapsed, **figures,
                         "null_flux_sigma": null_flux})
    return rows


def run(n_per_bin: int = 50, methods=METHODS, rng=0, workers: int = 2, client=None,
        options: dict | None = None, subsample: dict | None = None, progress: bool = True):
    """Run the benchmark; one row per (cube, method).

    Parameters
    ----------
    n_per_bin : int
        Cubes per peak-SNR bin (2 to 10,000), half resolved and half unresolved.
    methods : str or sequence of str
        Methods of :func:`galcube_lib.denoise`.
    rng : None, int, numpy SeedSequence or Generator
        Root of the seeds (SPEC 7); cube ``i`` uses child ``i`` of its SeedSequence
        (``SeedSequence(rng, spawn_key=(i,))`` for an int). None draws fresh entropy; a
        Generator gives the root's entropy (one draw from it).
    workers : int
        Processes of a local dask cluster (0 or 1: this process). Ignored with ``client``.
    client : dask.distributed.Client, optional
        An existing cluster (left open).
    options : dict, optional
        ``{method: {option: value}}`` passed to :func:`galcube_lib.denoise`; every key one of
        ``METHODS``.
    subsample : dict, optional
        ``{method: k}``: run ``method`` on the first ``k`` cubes of each (SNR bin, class) only;
        default ``SUBSAMPLE`` (the methods that train on each cube).
    progress : bool
        Show a progress bar over cubes.

    Returns
    -------
    pandas.DataFrame
        Task columns (index, snr_bin, class, peak_snr, ...), ``method``, ``time_s``, every
        figure of :func:`galcube_lib.metrics.evaluate` and ``null_flux_sigma`` (the aperture
        flux of the denoised pure-noise cube over the noisy cube's aperture-flux noise).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    methods = _methods(methods)
    root = _rng.seed_sequence(rng, draw_from_generator=True)
    workers = check_workers(workers, client)
    progress = check.boolean("progress", progress)
    options = _per_method("options", {} if options is None else options)
    subsample = _per_method("subsample", SUBSAMPLE if subsample is None else subsample)
    for method, k in subsample.items():
        check.integer(f"subsample[{method!r}]", k, 0)
    for method, opts in options.items():
        if not isinstance(opts, dict):
            raise TypeError(f"options[{method!r}] must be a dict of options of that method, "
                            f"got {opts!r} ({type(opts).__name__})")
    tasks = plan(n_per_bin)
    rows = []
    with tqdm(total=len(tasks), unit="cube", desc="benchmark", disable=not progress) as bar:
        def collect(batch_rows):
            rows.extend(batch_rows)
            bar.update(len({row["index"] for row in batch_rows}))
        run_batches(_evaluate_batch, ((root.entropy, tuple(root.spawn_key)), methods, options, subsample), tasks,
                    workers=workers, client=client, on_result=collect)
    return pd.DataFrame(rows).sort_values(["index", "method"]).reset_index(drop=True)


def _methods(methods) -> tuple:
    """``methods`` as a tuple of known method names (one name alone is one method); unknown
    methods fail before any work starts."""
    from galcube_lib.denoise import method_function

    try:
        methods = (methods,) if isinstance(methods, str) else tuple(methods)
    except TypeError:
        raise TypeError(f"methods must be a method name or a sequence of them, e.g. "
                        f"{CLASSICAL}; got {methods!r}") from None
    if not methods:
        raise ValueError(f"methods is empty; give at least one method, e.g. {CLASSICAL}")
    for method in methods:
        method_function(method)
    return methods


def _per_method(name: str, mapping) -> dict:
    """A ``{method: value}`` argument as a dict, every key a method of the benchmark (a misspelt
    method would otherwise be ignored silently)."""
    if not isinstance(mapping, dict):
        raise TypeError(f"{name} must be a dict {{method: ...}}, got {mapping!r} "
                        f"({type(mapping).__name__})")
    unknown = [key for key in mapping if key not in METHODS]
    if unknown:
        raise ValueError(f"{name} has entries for {', '.join(map(repr, unknown))}, which are "
                         f"not methods of the benchmark ({', '.join(METHODS)}); correct the "
                         f"method names")
    return dict(mapping)


def _check_results(results, figures) -> None:
    """``results`` must be a table of :func:`run` with the columns of ``figures``."""
    import pandas as pd

    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be the DataFrame that bench.run returns, got "
                        f"{type(results).__name__}")
    missing = [c for c in ("method", "class", "snr_bin", *figures) if c not in results.columns]
    if missing:
        raise ValueError(f"results has no column {', '.join(map(repr, missing))}; give the "
                         f"DataFrame that bench.run returns (figures such as {HEADLINE})")


def summary(results, figures=None):
    """Mean and standard error of each figure per method, class and SNR bin (and per noise
    source, for the real-noise benchmark).

    Parameters
    ----------
    results : pandas.DataFrame
        The table :func:`run` or :func:`~galcube_lib.bench.real_noise.run` returns (columns
        ``method``, ``class``, ``snr_bin``, the figures, and ``noise_source`` if any).
    figures : str or sequence of str, optional
        Figure columns to summarise (default ``HEADLINE``, or
        :data:`galcube_lib.bench.real_noise.FIGURES` for real-noise results).

    Returns
    -------
    pandas.DataFrame
        Indexed by (method, class, snr_bin), after ``noise_source`` when the results have
        one; SNR bins in rising order; columns ("mean", figure) and ("sem", figure).

    Raises
    ------
    TypeError
        ``results`` is not a DataFrame.
    ValueError
        A column is missing.
    """
    import pandas as pd

    if figures is None:
        from galcube_lib.bench.real_noise import FIGURES

        figures = FIGURES if "noise_source" in getattr(results, "columns", ()) else HEADLINE
    figures = [figures] if isinstance(figures, str) else list(figures)
    _check_results(results, figures)
    order = {f"({a:g},{b:g}]": i for i, (a, b) in enumerate(SNR_BINS)}
    keys = ["noise_source"] * ("noise_source" in results.columns) + ["method", "class", "snr_bin"]
    grouped = results.groupby(keys)[figures]
    table = pd.concat({"mean": grouped.mean(), "sem": grouped.sem()}, axis=1)
    return table.sort_index(key=lambda idx: idx.map(order) if idx.name == "snr_bin" else idx)


def plot(results, path=None):
    """Normalised RMSE and flux conservation against peak SNR, per method and class.

    Parameters
    ----------
    results : pandas.DataFrame
        The table :func:`run` returns (columns ``method``, ``class``, ``snr_bin`` and the
        figures).
    path : str or os.PathLike, optional
        Also save the figure there (PNG at 110 dpi for a .png name).

    Returns
    -------
    matplotlib.figure.Figure
        Two rows (nRMSE, flux conservation in per cent) by a column per class (resolved and
        unresolved; the families of the real-noise benchmark, pooled over its noise sources):
        mean and standard error per SNR bin.
    """
    from matplotlib.figure import Figure

    _check_results(results, ("nrmse", "flux_conservation"))
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    centres = {f"({a:g},{b:g}]": (a + b) / 2 for a, b in SNR_BINS}
    for col, name in enumerate(list(dict.fromkeys(results["class"]))[:2]):
        part = results[results["class"] == name]
        for method, rows in part.groupby("method"):
            for row, figure in enumerate(("nrmse", "flux_conservation")):
                stats = rows.groupby("snr_bin")[figure].agg(["mean", "sem"])
                x = [centres[b] for b in stats.index]
                order = np.argsort(x)
                axes[row, col].errorbar(np.array(x)[order], stats["mean"].to_numpy()[order],
                                        stats["sem"].to_numpy()[order], marker="o", capsize=3,
                                        label=method)
        axes[0, col].set_title(f"{name} sources")
        axes[0, col].axhline(1.0, color="grey", lw=0.8, ls="--")
        axes[1, col].axhline(100.0, color="grey", lw=0.8, ls="--")
        axes[1, col].set_xlabel("peak SNR")
    axes[0, 0].set_ylabel("normalised aperture RMSE")
    axes[1, 0].set_ylabel("flux conservation [%]")
    axes[0, 1].legend()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def save(results, out_dir) -> dict:
    """Write results.csv, summary.csv, summary.json and curves.png into ``out_dir``.

    Each file is written atomically (docs/conventions.md, Files).

    Parameters
    ----------
    results : pandas.DataFrame
        The table :func:`run` returns (columns ``method``, ``class``, ``snr_bin`` and the
        figures).
    out_dir : str or os.PathLike
        The folder, created if needed.

    Returns
    -------
    dict
        File name -> pathlib.Path of each file written.
    """
    from pathlib import Path

    from galcube_lib.io.files import atomic_path, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.csv", results.to_csv(index=False))
    table = summary(results)
    write_text(out / "summary.csv", table.to_csv())
    write_text(out / "summary.json", table.reset_index().to_json(orient="records", indent=1))
    with atomic_path(out / "curves.png") as tmp:
        plot(results).savefig(tmp, dpi=110, format="png")
    return {name: out / name for name in ("results.csv", "summary.csv", "summary.json", "curves.png")}
