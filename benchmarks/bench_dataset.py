"""Time ``generate_dataset`` on the benchmark population; target 20,000 cubes in 10 min.

    python benchmarks/bench_dataset.py               # 20,000 cubes, 2 workers, clean only
    python benchmarks/bench_dataset.py --n 400       # fewer cubes, extrapolated to 20,000
    python benchmarks/bench_dataset.py --n 400 --store-noisy --profile 20

``--profile K`` first times the stages of K cubes in this process (scene draw, simulate,
noise, compression + write), to show where the time goes.
"""
import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import galcube_lib as gl
from galcube_lib.datasets.draw import cube_seeds
from galcube_lib.datasets.generate import _compressors, generate_dataset

TARGET = 20_000
OUT = Path(__file__).resolve().parent / "out"


def _size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def profile(k, store_noisy):
    """Mean seconds per cube of each stage, over k cubes simulated in this process."""
    import zarr

    prior, root = gl.BenchmarkPrior(), np.random.SeedSequence(0)
    stages = dict.fromkeys(["draw", "simulate", "noise", "compress+write"], 0.0)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        arrays = [zarr.create_array(f"{tmp}/{name}", shape=(k, *prior.shape),
                                    chunks=(1, *prior.shape), dtype="float32",
                                    fill_value=np.nan, compressors=_compressors())
                  for name in ("clean", "noisy")[:1 + store_noisy]]
        for i in range(k):
            _, scene_seed, noise_seed = cube_seeds(root, i)
            t0 = time.perf_counter()
            scene = prior.draw(np.random.default_rng(scene_seed))
            t1 = time.perf_counter()
            clean = gl.simulate(scene.components, scene.observation)
            t2 = time.perf_counter()
            noisy = gl.add_noise(clean, peak_snr=scene.peak_snr, kind=scene.noise_kind,
                                 rng=np.random.default_rng(noise_seed))
            t3 = time.perf_counter()
            for array, cube in zip(arrays, (clean, noisy)):
                array[i] = cube.data
            t4 = time.perf_counter()
            for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                stages[name] += dt / k
    return stages


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=TARGET, help="cubes to generate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--store-noisy", action="store_true",
                        help="store noisy cubes too (default: clean only, noisy re-created)")
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="first time the stages of K cubes in-process")
    parser.add_argument("--keep", action="store_true", help="keep the store")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)

    if args.profile:
        stages = profile(args.profile, args.store_noisy)
        total = sum(stages.values())
        print(f"per cube, one process ({args.profile} cubes): " + ", ".join(
            f"{k} {v * 1e3:.1f} ms ({v / total:.0%})" for k, v in stages.items()))
        if not args.store_noisy:
            print("  (noise is not computed when generating a clean-only store)")

    path = OUT / f"bench_{args.n}{'_noisy' if args.store_noisy else ''}.zarr"
    shutil.rmtree(path, ignore_errors=True)
    t0 = time.perf_counter()
    generate_dataset(path, args.n, rng=0, workers=args.workers, batch_size=args.batch_size,
                     store_noisy=args.store_noisy)
    seconds = time.perf_counter() - t0
    size = _size(path)
    print(f"{args.n} cubes {gl.BenchmarkPrior().shape}, workers={args.workers}, "
          f"store_noisy={args.store_noisy}: {seconds:.1f} s, {args.n / seconds:.2f} cubes/s, "
          f"{size / 2**20:.1f} MiB on disk ({size / args.n / 2**10:.0f} KiB/cube)")
    if args.n != TARGET:
        print(f"extrapolated to {TARGET} cubes: {TARGET / args.n * seconds / 60:.1f} min, "
              f"{TARGET / args.n * size / 2**30:.1f} GiB (target: 10 min)")
    if args.keep:
        print(f"kept {path}")
    else:
        shutil.rmtree(path)


if __name__ == "__main__":
    main()
