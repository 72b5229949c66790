"""The PDR emulator against the grid's own interpolation (issue 17), side by side in one run.

Every other node of the Wolfire-Kaufman 2020 grid in each axis is held out (the nodes with an
odd index in either axis, inside the span of the rest); scipy's RegularGridInterpolator
(linear, as pdrtpy's fits use it, and cubic) and an emulator trained on the remaining nodes
predict them. It prints, per line, the median and 99th-percentile error in dex of each, and the
time per evaluation of a batch of 10^5 parameter sets (best of ``--repeats``, this machine's
threads), beside what the speed target (100x linear's) allows and the least any emulator must
do in that time (``speed_floor``). With ``--ship`` it then trains the emulator on every node and
writes it, with these figures in its card, to ``data/models/pdr/wk2020.pt``.

    .venv/bin/python benchmarks/bench_pdr_emulator.py              # about 5 min on 2 cores (10 with --ship)
    .venv/bin/python benchmarks/bench_pdr_emulator.py --ship
"""
import argparse
import time

import numpy as np

from galcube_lib.pdr.emulator import save_emulator, train_emulator
from galcube_lib.pdr.grids import GridInterpolator, every_other_node, load_grid


def best_time(function, points, repeats: int) -> float:
    function(points[:100])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(points)
        times.append(time.perf_counter() - start)
    return min(times)


def speed_floor(points, n_lines: int, repeats: int) -> dict:
    """Times of the least any emulator of these points must do: write its float32 output, a bare
    matrix product from the parameters to the lines, and an MLP with one hidden layer of 16 tanh
    units (far too small to be accurate)."""
    import torch

    x = torch.as_tensor(points, dtype=torch.float32)
    torch.manual_seed(0)
    product = torch.nn.Linear(2, n_lines, bias=False)
    mlp = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, n_lines))
    output = np.empty((len(points), n_lines), np.float32)
    with torch.inference_mode():
        return {"fill the float32 output": best_time(lambda p: output.fill(1.0), points, repeats),
                f"matrix product, 2 parameters -> {n_lines} lines (torch)": best_time(lambda p: product(x), points, repeats),
                "MLP, one hidden layer of 16 tanh units (torch)": best_time(lambda p: mlp(x), points, repeats)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-set", default="wk2020", choices=("wk2020", "wk2006"))
    parser.add_argument("--width", type=int, default=192)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--adam-steps", type=int, default=3000)
    parser.add_argument("--lbfgs-steps", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ship", action="store_true", help="train on every node and write data/models/pdr/<set>.pt")
    args = parser.parse_args()

    grid = load_grid(args.model_set)
    coarse, held_points, held_values = every_other_node(grid)
    print(f"# {grid.name}: {len(grid.lines)} lines on {grid.log_intensity.shape[0]} x "
          f"{grid.log_intensity.shape[1]} nodes; {len(held_points)} held out, "
          f"{coarse.log_intensity.shape[0] * coarse.log_intensity.shape[1]} to fit")
    start = time.perf_counter()
    emulator = train_emulator(coarse, width=args.width, depth=args.depth, adam_steps=args.adam_steps,
                              lbfgs_steps=args.lbfgs_steps, progress=False)
    print(f"emulator {args.width} x {args.depth}: trained on the coarse nodes in {time.perf_counter() - start:.0f} s")
    predictors = {"linear": GridInterpolator(coarse, "linear"), "cubic": GridInterpolator(coarse, "cubic"),
                  "emulator": emulator}
    errors = {name: np.abs(f(held_points) - held_values) for name, f in predictors.items()}
    median = {name: np.median(e, 0) for name, e in errors.items()}
    p99 = {name: np.percentile(e, 99, 0) for name, e in errors.items()}
    print("\nerror on held-out nodes, dex: median / 99th percentile")
    print(f"{'line':10s} " + " ".join(f"{name:>17s}" for name in predictors) + "   emulator <= linear")
    for k, line in enumerate(grid.lines):
        cells = " ".join(f"{median[n][k]:8.4f}/{p99[n][k]:8.4f}" for n in predictors)
        verdict = ("yes" if median["emulator"][k] <= median["linear"][k] else "no") + " / " + \
                  ("yes" if p99["emulator"][k] <= p99["linear"][k] else "no")
        print(f"{line:10s} {cells}   {verdict}")
    for name in predictors:
        print(f"{'all lines':10s} {name:8s}: median {np.median(errors[name]):.4f}, 99th percentile "
              f"{np.percentile(errors[name], 99):.4f}; worst line's median {median[name].max():.4f}, "
              f"worst line's 99th {p99[name].max():.4f}")
    wins = [(median["emulator"] <= median[n]).sum() for n in ("linear", "cubic")]
    print(f"emulator at or below linear interpolation on {wins[0]} of {len(grid.lines)} lines (median), "
          f"{(p99['emulator'] <= p99['linear']).sum()} (99th); below cubic on {wins[1]} (median)")

    rng = np.random.default_rng(0)
    points = rng.uniform(grid.bounds[:, 0], grid.bounds[:, 1], (args.batch, 2))
    full = {"linear": GridInterpolator(grid, "linear"), "cubic": GridInterpolator(grid, "cubic"),
            "emulator": emulator}
    seconds = {name: best_time(f, points, args.repeats) for name, f in full.items()}
    print(f"\ntime per evaluation of {args.batch} parameter sets (all {len(grid.lines)} lines, best of {args.repeats}):")
    for name, value in seconds.items():
        print(f"  {name:8s} {value * 1e3:8.1f} ms   ({seconds['linear'] / value:.2f}x linear's speed)")

    budget = seconds["linear"] / 100
    print(f"\nthe speed target (100x linear's speed) allows {budget * 1e3:.2f} ms; what the simplest "
          f"computations of that size take here (best of {args.repeats * 10}):")
    for name, value in speed_floor(points, len(grid.lines), args.repeats * 10).items():
        print(f"  {name:52s} {value * 1e3:6.2f} ms")

    if args.ship:
        start = time.perf_counter()
        shipped = train_emulator(grid, width=args.width, depth=args.depth, adam_steps=args.adam_steps,
                                 lbfgs_steps=args.lbfgs_steps, progress=False)
        figures = {"held_out_every_other_node": {
            name: {"median_dex": dict(zip(grid.lines, np.round(median[name], 5).tolist())),
                   "p99_dex": dict(zip(grid.lines, np.round(p99[name], 5).tolist()))} for name in predictors},
            "seconds_per_1e5": {name: round(v * 1e5 / args.batch, 4) for name, v in seconds.items()},
            "command": "benchmarks/bench_pdr_emulator.py --ship"}
        path = save_emulator(shipped, grid.name, figures)
        print(f"\nshipped: trained on every node in {time.perf_counter() - start:.0f} s, written to {path}")


if __name__ == "__main__":
    main()
