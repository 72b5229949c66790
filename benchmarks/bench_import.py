"""Import cost: ``import galcube_lib`` and the README tour's first cube from a cold start.

    .venv/bin/python benchmarks/bench_import.py              # 7 fresh interpreters per row
    .venv/bin/python benchmarks/bench_import.py --repeats 11

Each row is the median wall time of fresh ``python -c`` subprocesses (interpreter start-up
included, as a user sees it), its min and max, and the median CPU time (user + system: less
inflated than the wall time on a busy machine), side by side with peers:
  python            ``pass``: the interpreter alone
  numpy / astropy   ``import numpy``, ``import astropy.io.fits`` (what a FITS cube needs)
  galcube           ``import galcube_lib`` (lazy: nothing heavy loads)
  galcube eager     every public name resolved at import (what ``import galcube_lib`` cost
                    before it was lazy: the same modules, loaded at once)
  first cube        ``import galcube_lib``, then ``gl.simulate`` of the tour's first cube
Targets (issue 13, on a quiet machine): galcube <= 0.3 s, first cube <= 1.5 s. The load
average before and after is printed: on a busy machine every row is slower.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

FIRST_CUBE = """
import galcube_lib as gl
gal = gl.Galaxy(sersic_n=1.0, r_eff_kpc=4.0, h_z_kpc=0.5, flux_jy_kms=1.0,
                inclination_deg=60.0, pa_deg=30.0, v_max_kms=200.0, rotation="arctan",
                r_turn_kpc=1.0, sigma_kms=40.0, offset_kpc=(0.0, 0.0), v_sys_kms=0.0)
obs = gl.Observation(n_pix=125, n_chan=40, channel_kms=30.0, pixel_kpc=0.5, beam_fwhm_px=4.0)
clean = gl.simulate([gal], obs)
assert clean.data.shape == (40, 125, 125)
"""
EAGER = """
import galcube_lib as gl
for name in gl.__all__:
    if name not in ("StoreDataset", "SimulatedDataset"):  # torch: lazy before too
        getattr(gl, name)
"""
ROWS = [("python", "pass", None), ("numpy", "import numpy", None),
        ("astropy", "import astropy.io.fits", None),
        ("galcube", "import galcube_lib", 0.3), ("galcube eager", EAGER, None),
        ("first cube", FIRST_CUBE, 1.5)]


def timed(code):
    """(wall, CPU) seconds of a fresh interpreter running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"(1, 5, 15 min); median of {args.repeats} fresh interpreters")
    for _, code, _ in ROWS:  # warm the disk cache: every row equally
        timed(code)
    print(f"{'':14s} {'wall':>7s} {'min':>7s} {'max':>7s} {'CPU':>7s}")
    for name, code, target in ROWS:
        walls, cpus = zip(*(timed(code) for _ in range(args.repeats)))
        verdict = "" if target is None else f"   target <= {target} s"
        print(f"{name:14s} {statistics.median(walls):6.3f}s {min(walls):6.3f}s {max(walls):6.3f}s "
              f"{statistics.median(cpus):6.3f}s{verdict}")
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
