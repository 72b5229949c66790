"""The benchmark in real noise: simulated disks injected into the shipped cubes' own noise,
every method beside gaussian and IST, per noise source and peak-SNR bin.

    .venv/bin/python benchmarks/bench_real_noise.py                       # unet, 10 per bin
    .venv/bin/python benchmarks/bench_real_noise.py --methods unet spectral --n-per-bin 4
    .venv/bin/python benchmarks/bench_real_noise.py --options '{"unet": {"uncertainty": 8}}'
    .venv/bin/python benchmarks/bench_real_noise.py --adapt 150  # U-Net adapted once per cube
    .venv/bin/python benchmarks/bench_real_noise.py --calibrate \
        --options '{"unet": {"uncertainty": 4}}'     # its uncertainty calibrated once per cube

Results go to benchmarks/out/real_noise/ (``--out``): results.csv, summary.csv/json and
curves.png, as ``gl.bench.save`` writes them.
"""
import argparse
import json
import time
import warnings
from pathlib import Path

import pandas as pd

import galcube_lib as gl
from galcube_lib.bench import real_noise

OUT = Path(__file__).resolve().parent / "out" / "real_noise"


def table(results, figure: str, fmt: str) -> str:
    """Mean of one figure per noise source and SNR bin (rows) and method (columns)."""
    order = [f"({a:g},{b:g}]" for a, b in gl.bench.SNR_BINS]
    pivot = results.pivot_table(index=["noise_source", "snr_bin"], columns="method",
                                values=figure, aggfunc="mean")
    pivot = pivot.reindex(sorted(pivot.index, key=lambda k: (k[0], order.index(k[1]))))
    pooled = results.pivot_table(index="snr_bin", columns="method", values=figure,
                                 aggfunc="mean").reindex(order)
    pooled.index = [("all sources", b) for b in pooled.index]
    both = pd.concat([pivot, pooled])
    return f"{figure} (mean)\n" + both.map(lambda v: format(v, fmt)).to_string()


def null_lines(results) -> list[str]:
    """Median and worst null flux (in sigma) and the fraction over 3 sigma, per method."""
    lines = []
    for (source, method), rows in results.groupby(["noise_source", "method"]):
        null = rows["null_flux_sigma"]
        lines.append(f"  {source:16s} {method:12s} median {null.median():+.2f}  "
                     f"worst {null.abs().max():.2f}  > 3 sigma {(null > 3).mean():.0%}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["unet"],
                        help="method names (gaussian and ist always run beside them)")
    parser.add_argument("--n-per-bin", type=int, default=10)
    parser.add_argument("--sources", nargs="+", default=list(real_noise.NOISE_SOURCES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT, help=f"results folder (default {OUT})")
    parser.add_argument("--snr-bins", nargs="+", default=None, metavar="LOW,HIGH",
                        help="peak-SNR bins (default the benchmark's seven), e.g. 2.5,3 5,6")
    parser.add_argument("--options", type=json.loads, default={},
                        help='method options as JSON, e.g. \'{"unet": {"uncertainty": 8}}\'')
    parser.add_argument("--adapt", type=int, default=0,
                        help="adapt the U-Net to each noise source first, for this many steps "
                             "(once per source, on the real cube before any injection)")
    parser.add_argument("--calibrate", action="store_true",
                        help="calibrate the U-Net's uncertainty floor in each noise source's "
                             "own noise first, without adapting (needs its uncertainty option)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")       # FastICA chatter, readers' notes on old headers
    start = time.perf_counter()
    bins = (gl.bench.SNR_BINS if args.snr_bins is None else
            [tuple(float(v) for v in b.split(",")) for b in args.snr_bins])
    results = gl.bench.run_real_noise(n_per_bin=args.n_per_bin, methods=args.methods,
                                      sources=args.sources, rng=args.seed, workers=args.workers,
                                      options=args.options, snr_bins=bins, adapt=args.adapt,
                                      calibrate=args.calibrate)
    elapsed = time.perf_counter() - start
    gl.bench.save(results, args.out)
    n = results["index"].nunique()
    methods = sorted(results["method"].unique())
    print(f"\n{n} injections into {len(args.sources)} real cubes x {len(methods)} methods "
          f"({', '.join(methods)}), {args.workers} workers"
          f"{f', the U-Net adapted {args.adapt} steps per cube' if args.adapt else ''}"
          f"{', its uncertainty calibrated per cube' if args.calibrate else ''}: "
          f"{elapsed / 60:.1f} min; "
          f"files in {args.out}\n")
    print(table(results, "nrmse", ".3f"), end="\n\n")
    print(table(results, "flux_conservation", ".0f"), end="\n\n")
    if results["coverage"].notna().any():
        print(table(results[results["coverage"].notna()], "coverage", ".3f"), end="\n\n")
    print("null flux in pure real noise (sigma of the real aperture-flux noise):")
    print("\n".join(null_lines(results)), end="\n\n")
    pooled = results.groupby("method")[["snr_gain", "spectrum_pearson", "coverage",
                                        "time_s"]].mean()
    print("pooled over sources and bins:\n" + pooled.round(3).to_string())
    high = results[results.peak_snr >= 5].groupby("method")["flux_conservation"].mean()
    print("\nflux at peak SNR >= 5 (%): " + ", ".join(f"{m} {v:.1f}" for m, v in high.items()))
    low = results[results.peak_snr <= 3].groupby("method")["nrmse"].mean()
    for method in methods:
        if method != "ist":
            print(f"nRMSE at peak SNR <= 3, {method} / ist: {low[method] / low['ist']:.2f}")


if __name__ == "__main__":
    main()
