"""Cubes of any size (issue 15): block-wise denoising of synthetic cubes up to the ORION-B size.

    .venv/bin/python benchmarks/bench_big.py                       # every size, gaussian and ist
    .venv/bin/python benchmarks/bench_big.py --sizes 240x758x1074 --methods gaussian --workers 1 2 4
    .venv/bin/python benchmarks/bench_big.py --sizes 240x758x1074 --methods viewer
    .venv/bin/python benchmarks/bench_big.py --methods smooth_clip pca ica

For each size (v x y x), a synthetic cube is written to FITS in benchmarks/out/big/, channel by
channel (never whole in memory): beam-correlated noise (3 px beam, rms 1) and simulated disks
of peak SNR about 5 spread over the field. Each run is a fresh process that reads the file
lazily (`gl.read_fits(path, lazy=True)`) and denoises it block by block into a zarr store
(`denoise_blocks(..., workers=n)`: gaussian on halo tiles; ist, smooth_clip, pca and ica in
passes, `blockwise.PASS_METHODS`; unet, the shipped U-Net, tile by tile with the whole
cube's network tiles); method "viewer" opens the cube in CubeViewer and moves the channel slider
five times (the open time, and the mean time of a move). Beside it, in its own fresh process, the peer: the same method on the cube read into memory (`gl.read_fits(path)`,
`gl.denoise`), where its estimated memory (`PEER_BYTES` per voxel) fits this machine. Printed
per run: wall time and peak memory (the resident memory of the process and all its children
together, sampled every 0.1 s). Then the time exponent: the slope of log time against log
voxels over the sizes run. A run slower than --limit-min is stopped and reported as such.
Figures also go to benchmarks/out/big.json.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
ORION_B = (240, 758, 1074)
SIZES = ("64x128x128", "120x256x256", "240x379x537", "240x758x1074")
BEAM_PX = 3.0
#: bytes per voxel the in-memory peer needs, measured (read + denoise), for the fits check:
#: its peak memory over the voxels of 120x256x256, rounded up
#: (unet: estimated from its arrays, input, normalised copy and float64 sums)
PEER_BYTES = {"gaussian": 60, "ist": 300, "viewer": 20, "smooth_clip": 60, "pca": 80, "ica": 90,
              "unet": 40}


def make_cube(path: Path, shape, seed: int = 0) -> Path:
    """Write the synthetic cube ``shape`` to ``path`` channel by channel (skipped if present)."""
    import galcube_lib as gl
    from astropy.io import fits
    from scipy import ndimage

    if path.exists():
        return path
    nv, ny, nx = shape
    rng = np.random.default_rng(seed)
    obs = gl.Observation(n_pix=128, n_chan=nv, channel_kms=max(10.0, 900.0 / nv),
                         beam_fwhm_px=BEAM_PX)
    disk = gl.simulate(gl.Galaxy(r_eff_kpc=1.5, inclination_deg=60.0), obs)
    structural = ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND")
    header = fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 3), ("NAXIS1", nx),
                          ("NAXIS2", ny), ("NAXIS3", nv)])
    header.extend([c for c in disk.header.cards if c.keyword not in structural])
    header["CRPIX1"] = float(header["CRPIX1"]) + (nx - 128) / 2
    header["CRPIX2"] = float(header["CRPIX2"]) + (ny - 128) / 2
    sigma = BEAM_PX / 2.3548
    # the noise rms after smoothing white noise with a unit-sum Gaussian of sigma px
    smooth_rms = 1.0 / (2.0 * math.sqrt(math.pi) * sigma)
    n_disks = max(1, (ny * nx) // (256 * 256))
    places = [(rng.integers(0, max(1, ny - 128)), rng.integers(0, max(1, nx - 128)))
              for _ in range(n_disks)]
    scale = 5.0 / float(disk.data.max())
    tmp = path.with_name(path.name + ".part")
    stream = fits.StreamingHDU(tmp, header)
    for k in range(nv):
        channel = ndimage.gaussian_filter(rng.standard_normal((ny, nx)), sigma) / smooth_rms
        for y0, x0 in places:
            h, w = min(128, ny - y0), min(128, nx - x0)
            channel[y0:y0 + h, x0:x0 + w] += scale * disk.data[k, :h, :w]
        stream.write(channel.astype(np.float32))
    stream.close()
    os.replace(tmp, path)
    return path


def _run_one(method: str, path: str, blockwise: bool, workers: int) -> None:
    """In a fresh process: denoise ``path`` once and print the wall time as JSON."""
    import warnings

    import galcube_lib as gl
    from galcube_lib.denoise.blockwise import denoise_blocks

    warnings.simplefilter("ignore")
    start = time.perf_counter()
    if method == "viewer":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from widgets.viewer import CubeViewer

        viewer = CubeViewer(gl.read_fits(path, lazy=blockwise))
        opened = time.perf_counter() - start
        moves = []
        for channel in np.linspace(1, viewer.slider.max, 5).astype(int):
            t = time.perf_counter()
            viewer.slider.value = int(channel)
            moves.append(time.perf_counter() - t)
        print(json.dumps({"seconds": opened, "move_s": float(np.mean(moves))}))
        return
    if blockwise:
        cube = gl.read_fits(path, lazy=True)
        out = Path(path).with_name(Path(path).stem + f".{method}.zarr")
        denoise_blocks(cube, method, out, workers=workers, progress=False)
    else:
        cube = gl.read_fits(path)
        gl.denoise(cube, method, null_check=0)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def measured(args: list[str], limit_s: float) -> dict:
    """Run ``bench_big.py --one ...`` in a fresh process: its time and peak memory (the RSS of
    it and its children, summed, sampled every 0.1 s)."""
    import psutil

    proc = subprocess.Popen([sys.executable, __file__, "--one", *args], stdout=subprocess.PIPE,
                            text=True)
    peak = [0]

    def sample():
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
            except psutil.Error:
                continue
            peak[0] = max(peak[0], rss)
            time.sleep(0.1)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        stdout, _ = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.communicate()
        return {"seconds": None, "peak_gb": peak[0] / 1e9, "stopped_after_s": limit_s}
    watcher.join()
    if proc.returncode:
        return {"seconds": None, "peak_gb": peak[0] / 1e9, "error": proc.returncode}
    return {**json.loads(stdout.strip().splitlines()[-1]), "peak_gb": peak[0] / 1e9}


def _fmt(run: dict) -> str:
    if run is None:
        return "not run"
    if run.get("seconds") is None:
        why = (f"stopped after {run['stopped_after_s'] / 60:.0f} min" if "stopped_after_s" in run
               else f"failed ({run.get('error')})")
        return f"{why}, peak {run['peak_gb']:.2f} GB"
    move = f" (channel move {run['move_s']:.2f} s)" if "move_s" in run else ""
    return f"{run['seconds']:7.1f} s{move}, peak {run['peak_gb']:5.2f} GB"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=list(SIZES))
    p.add_argument("--methods", nargs="+", default=["gaussian", "ist", "viewer"],
                   choices=list(PEER_BYTES))
    p.add_argument("--workers", nargs="+", type=int, default=[1])
    p.add_argument("--limit-min", type=float, default=30.0)
    p.add_argument("--no-peer", action="store_true", help="skip the in-memory runs")
    p.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        method, path, blockwise, workers = args.one
        return _run_one(method, path, blockwise == "1", int(workers))
    import psutil

    folder = OUT / "big"
    folder.mkdir(parents=True, exist_ok=True)
    available = psutil.virtual_memory().total
    results = []
    for size in args.sizes:
        shape = tuple(int(n) for n in size.split("x"))
        path = make_cube(folder / f"cube_{size}.fits", shape)
        voxels = math.prod(shape)
        for method in args.methods:
            for workers in args.workers:
                row = {"size": size, "voxels": voxels, "method": method, "workers": workers,
                       "blockwise": measured([method, str(path), "1", str(workers)],
                                             60 * args.limit_min)}
                fits_memory = PEER_BYTES[method] * voxels < 0.8 * available
                row["in_memory"] = (measured([method, str(path), "0", "1"], 60 * args.limit_min)
                                    if fits_memory and not args.no_peer and workers == 1 else None)
                results.append(row)
                print(f"{size:>14} {method:>9} workers={workers}: block-wise "
                      f"{_fmt(row['blockwise'])} | in memory {_fmt(row['in_memory'])}", flush=True)
    for method in args.methods:
        done = [(r["voxels"], r["blockwise"]["seconds"]) for r in results
                if r["method"] == method and r["workers"] == args.workers[0]
                and r["blockwise"].get("seconds")]
        if len(done) >= 2:
            slope = np.polyfit(np.log([v for v, _ in done]), np.log([t for _, t in done]), 1)[0]
            print(f"{method}: time ~ voxels^{slope:.2f} over {len(done)} sizes (block-wise, "
                  f"{args.workers[0]} worker(s))")
    (OUT / "big.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
