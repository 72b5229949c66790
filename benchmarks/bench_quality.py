"""The full benchmark (7 SNR bins x 50 cubes, every method), timed, with the issues' targets
printed beside the measured figures.

    .venv/bin/python benchmarks/bench_quality.py                        # all methods, 2 workers
    .venv/bin/python benchmarks/bench_quality.py --methods classical    # issue 3's run
    .venv/bin/python benchmarks/bench_quality.py --methods unet ist --n-per-bin 10
    .venv/bin/python benchmarks/bench_quality.py --methods deep ist --n-per-bin 2 \
        --options '{"noise2self": {"steps": 50}}'     # every deep method on 14 cubes

The methods that train on each cube (noise2self, lcae) run on the first ``--subsample`` cubes
of each (bin, class), as ``gl.bench.SUBSAMPLE`` says. Results go to benchmarks/out/quality/
(``--out``).
"""
import argparse
import json
import time
import warnings
from pathlib import Path

import galcube_lib as gl

OUT = Path(__file__).resolve().parent / "out" / "quality"


def classical_targets(results):
    """(target, measured, met?) lines for issue 3's targets."""
    ist = results[results.method == "ist"]
    high = ist[ist.peak_snr >= 5]["flux_conservation"].mean()
    low = ist[ist.snr_bin == "(2.5,3]"]["nrmse"].mean()
    classical = results[results.method.isin(gl.bench.CLASSICAL)]
    per_class = classical.groupby(["method", "class", "snr_bin"])["nrmse"].mean()
    by_method = classical.groupby("method")["nrmse"].mean()
    best = by_method.drop("gaussian").min()
    return [
        ("IST aperture flux at peak SNR >= 5 within 100 +- 10%", f"{high:.1f}%", abs(high - 100) <= 10),
        ("IST normalised aperture RMSE at SNR (2.5,3] <= 0.5", f"{low:.3f}", low <= 0.5),
        ("every classical method: normalised RMSE < 1 in every bin and class",
         f"max {per_class.max():.3f} ({', '.join(per_class.idxmax())})", per_class.max() < 1),
        ("best classical method beats gaussian (mean nrmse)",
         f"{best:.3f} vs {by_method['gaussian']:.3f}", best < by_method["gaussian"]),
    ]


def unet_targets(results):
    """(target, measured, met?) lines for issue 4's U-Net targets."""
    mean = results.groupby(["method", "snr_bin"])["nrmse"].mean()
    ratio = (mean.loc["unet"] / mean.loc["ist"]).reindex(
        [f"({a:g},{b:g}]" for a, b in gl.bench.SNR_BINS])
    unet = results[results.method == "unet"]
    high = unet[unet.peak_snr >= 5]["flux_conservation"].mean()
    low = unet[unet.peak_snr <= 3]["flux_conservation"].mean()
    return [
        ("U-Net normalised RMSE below IST's in every SNR bin",
         "unet/ist per bin " + ", ".join(f"{r:.2f}" for r in ratio), bool((ratio < 1).all())),
        ("U-Net at least 20% below IST at SNR <= 3", f"{1 - ratio.iloc[0]:.0%} below",
         ratio.iloc[0] <= 0.8),
        ("U-Net aperture flux at peak SNR >= 5 within 100 +- 10%", f"{high:.1f}%", abs(high - 100) <= 10),
        ("U-Net aperture flux at peak SNR <= 3 (reported)", f"{low:.1f}%", None),
    ]


def common_targets(results):
    null = results.groupby("method")["null_flux_sigma"].apply(lambda s: s.abs().mean())
    return [("pure noise: mean |aperture flux| < 3 sigma for every method",
             f"max {null.max():.2f} sigma ({null.idxmax()})", null.max() < 3),
            ("fraction of null cubes 'detecting' at 3 sigma (all methods)",
             f"{(results['null_flux_sigma'] > 3).mean():.3f}", None)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["all"],
                        help="method names, or 'classical', 'deep', 'all'")
    parser.add_argument("--n-per-bin", type=int, default=50)
    parser.add_argument("--subsample", type=int, default=None,
                        help="cubes per (bin, class) for noise2self and lcae")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT, help=f"results folder (default {OUT})")
    parser.add_argument("--options", type=json.loads, default={},
                        help='method options as JSON, e.g. \'{"noise2self": {"steps": 50}}\'')
    args = parser.parse_args()
    groups = {"classical": gl.bench.CLASSICAL, "deep": gl.bench.DEEP, "all": gl.bench.METHODS}
    methods = tuple(dict.fromkeys(m for name in args.methods for m in groups.get(name, (name,))))
    subsample = None if args.subsample is None else {m: args.subsample for m in gl.bench.SUBSAMPLE}
    warnings.simplefilter("ignore")       # FastICA convergence chatter on noise components
    start = time.perf_counter()
    results = gl.bench.run(n_per_bin=args.n_per_bin, methods=methods, rng=args.seed,
                           workers=args.workers, subsample=subsample, options=args.options)
    elapsed = time.perf_counter() - start
    gl.bench.save(results, args.out)
    n = results["index"].nunique()
    print(f"\n{n} cubes x {len(methods)} methods, {args.workers} workers: {elapsed / 60:.1f} min; "
          f"files in {args.out}")
    table = results.pivot_table(index="snr_bin", columns="method", values=["nrmse", "flux_conservation"])
    order = [f"({a:g},{b:g}]" for a, b in gl.bench.SNR_BINS]
    print(table.reindex(order).round(3).to_string())
    print("\ncubes per method:", results.groupby("method").size().to_dict())
    print("per-cube time (s):", results.groupby("method")["time_s"].mean().round(3).to_dict())
    lines = common_targets(results)
    if {"ist", "gaussian"} <= set(methods):
        lines = classical_targets(results) + lines
    if {"unet", "ist"} <= set(methods):
        lines = unet_targets(results) + lines
    for what, measured, met in lines:
        verdict = "" if met is None else ("met" if met else "NOT met")
        print(f"  {what}: {measured} {verdict}")


if __name__ == "__main__":
    main()
