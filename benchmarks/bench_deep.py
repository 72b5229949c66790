"""Time the deep denoisers on CPU, side by side with IST on the same cubes.

    .venv/bin/python benchmarks/bench_deep.py               # defaults (2 threads)
    .venv/bin/python benchmarks/bench_deep.py --threads 1 --repeats 3

1. A benchmark-population cube (40 x 96 x 96): median time of ``unet`` (target: about 1 s on 2
   CPU cores), ``spectral`` and ``ist``; ``lcae`` (which trains on the cube) once.
2. Tiled inference on a large cube (120 x 256 x 256, 3 x 3 x 3 tiles): time, and the growth of
   the process's peak resident memory during the call.
3. ``noise2self`` fine-tuning with its default settings on a real ALMA cube (the 53 x 128 x 128
   HC3N cube of ../shared/data/real when present, else a simulated cube of that size): wall
   time (target: about 5 minutes on 2 cores).

Each function is called once to warm up before it is timed (except the per-cube trainers).
Figures also go to benchmarks/out/deep.json.
"""
import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

import galcube_lib as gl
from bench_ist import timed  # same warm-up-then-median timing as the IST benchmark

OUT = Path(__file__).resolve().parent / "out"
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "iras07454_alma_hc3n_agb.fits"


def once(func):
    t = time.perf_counter()
    func()
    return time.perf_counter() - t


def peak_rss_growth(func):
    """Seconds of ``func()`` and how far it raised the process's peak RSS (MiB)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = once(func)
    return seconds, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    scene = gl.BenchmarkPrior().draw(np.random.default_rng(args.seed))
    clean = gl.simulate(scene.components, scene.observation)
    noisy = gl.add_noise(clean, peak_snr=scene.peak_snr, kind="beam", rng=args.seed)
    fig = {"threads": args.threads, "cube": list(noisy.shape)}
    for method in ("unet", "spectral", "ist"):
        fig[f"{method}_s"] = timed(lambda: gl.denoise(noisy, method), args.repeats)
    fig["lcae_s"] = once(lambda: gl.denoise(noisy, "lcae"))
    for key, value in fig.items():
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")

    big = np.random.default_rng(1).standard_normal((120, 256, 256)).astype(np.float32)
    from galcube_lib.denoise.deep.unet import unet

    fig["unet_tiled_120x256x256_s"], fig["unet_tiled_peak_rss_growth_mib"] = peak_rss_growth(
        lambda: unet(big))
    print(f"unet tiled 120x256x256: {fig['unet_tiled_120x256x256_s']:.1f} s, peak RSS "
          f"+{fig['unet_tiled_peak_rss_growth_mib']:.0f} MiB")

    if REAL.exists():
        cube, source = gl.read_fits(REAL), REAL.name
        data = np.nan_to_num(cube.data)
    else:
        sim = gl.simulate(scene.components, gl.Observation(n_pix=128, n_chan=53, channel_kms=30.0,
                                                          pixel_kpc=0.5, beam_fwhm_px=3.75))
        data, source = gl.add_noise(sim, peak_snr=5.0, rng=1).data, "simulated 53x128x128"
    from galcube_lib.denoise.deep.noise2self import noise2self

    fig["noise2self_cube"] = source
    fig["noise2self_s"] = once(lambda: noise2self(data, progress=True))
    print(f"noise2self fine-tune + J-invariant prediction on {source} {data.shape}: "
          f"{fig['noise2self_s']:.1f} s")
    OUT.mkdir(exist_ok=True)
    (OUT / "deep.json").write_text(json.dumps(fig, indent=1))


if __name__ == "__main__":
    main()
