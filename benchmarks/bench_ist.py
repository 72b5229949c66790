"""Time IST against plain 2D-1D wavelet passes on a benchmark-population cube.

    .venv/bin/python benchmarks/bench_ist.py                  # defaults
    .venv/bin/python benchmarks/bench_ist.py --repeats 7 --mode hard --seed 3

One cube of the published toy population (``gl.BenchmarkPrior().draw``: 40 x 96 x 96 px,
beam-correlated noise at the drawn peak SNR). Reports the median time of one plain forward +
inverse 2D-1D transform (same scales and spectral transform as IST's defaults), the median
time of ``ist`` on the cube, and their ratio (the issue's target: about 10 or less). Each is
called once to warm up, then timed with ``time.perf_counter``. Also printed: the aperture flux
ratio and normalised RMSE of that one cube (not a population figure). Figures also go to
benchmarks/out/ist.json.
"""
import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

import galcube_lib as gl
from galcube_lib.denoise.ist import default_scales, ist
from galcube_lib.denoise.wavelets import forward_2d1d, inverse_2d1d

OUT = Path(__file__).resolve().parent / "out"


def timed(func, repeats):
    func()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", default="hard", choices=("soft", "hard"))
    args = p.parse_args(argv)

    scene = gl.BenchmarkPrior().draw(np.random.default_rng(args.seed))
    clean = gl.simulate(scene.components, scene.observation)
    noisy = gl.add_noise(clean, peak_snr=scene.peak_snr, kind=scene.noise_kind, rng=args.seed)
    data = noisy.data.astype(np.float32)
    j_xy, j_v = default_scales(data.shape, noisy.beam_fwhm_px, "bior")

    t_pass = timed(lambda: inverse_2d1d(forward_2d1d(data, j_xy, j_v, "bior")), args.repeats)
    t_ist = timed(lambda: ist(data, beam_fwhm_px=noisy.beam_fwhm_px, mode=args.mode), args.repeats)
    den = ist(data, beam_fwhm_px=noisy.beam_fwhm_px, mode=args.mode)

    obs = scene.observation
    rad = max(2 * scene.components[0].r_eff_kpc / obs.pixel_kpc, obs.beam_fwhm_px[0])
    n = data.shape[1]
    yy, xx = np.mgrid[:n, :n]
    ap = np.broadcast_to(((yy - (n - 1) / 2) ** 2 + (xx - (n - 1) / 2) ** 2 <= rad ** 2), data.shape)
    truth = clean.data[ap]
    flux = 100 * den[ap].sum() / truth.sum()
    nrmse = np.sqrt(np.mean((den[ap] - truth) ** 2)) / np.sqrt(np.mean((data[ap] - truth) ** 2))

    res = {"shape": list(data.shape), "n_scales_xy": j_xy, "n_scales_v": j_v, "mode": args.mode,
           "peak_snr": scene.peak_snr, "pass_s": t_pass, "ist_s": t_ist, "ratio": t_ist / t_pass,
           "aperture_flux_pct": float(flux), "nrmse": float(nrmse), "cpus": os.cpu_count()}
    print(f"cube {tuple(data.shape)}  scales (xy, v) = ({j_xy}, {j_v})  peak SNR {scene.peak_snr:.2f}")
    print(f"one forward+inverse 2D-1D pass: {t_pass * 1e3:8.1f} ms")
    print(f"ist (mode={args.mode}):          {t_ist * 1e3:8.1f} ms")
    print(f"ratio ist / pass:               {t_ist / t_pass:8.2f}   (target <= ~10)")
    print(f"this cube: aperture flux {flux:.1f} %, normalised RMSE {nrmse:.3f}")
    OUT.mkdir(exist_ok=True)
    (OUT / "ist.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
