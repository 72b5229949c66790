"""Time galcube's ``simulate`` side by side with GalCubeCraft 1.2.1 and KinMS 3.0.14.

    .venv/bin/python benchmarks/bench_simulate.py                 # all three
    .venv/bin/python benchmarks/bench_simulate.py --skip-peers    # galcube only (no network)
    .venv/bin/python benchmarks/bench_simulate.py --repeats 9 --quiet

One galaxy in one cube: 125 x 125 px of 0.5 kpc, 40 channels of 30 km/s (+-600 km/s), a 4 px
circular beam; an exponential (Sersic n=1) disk, R_e 4 kpc, h_z 0.5 kpc, i 60 deg, PA 30 deg,
arctan rotation curve (v_max 200 km/s, r_turn 1 kpc), dispersion 40 km/s, 1 Jy km/s.

galcube runs in this process. Each peer runs in its own venv under benchmarks/.venvs/<name>
(created with ``python -m venv`` + a pinned ``pip install`` when missing) through
``_peer_worker.py``, which maps the galaxy onto the peer's parameters. Every simulator is
called once to warm up, then timed with ``time.perf_counter`` around the generating call only
(imports and set-up excluded); the median is reported. Also reported, for fairness:
  repeat   max|a-b|/max|a| between two calls with identical parameters (and seed);
  seeds    the same between two random seeds: the Monte Carlo speckle of cloud/voxel sampling;
  flux     sum * channel_kms / beam_area_px over the requested flux (GalCubeCraft has no flux
           unit: there, over its own unrotated 3D voxel sum);
  L1       sum|a - b| of flux-normalised cubes against galcube asked for what the peer was asked
           (0 = identical, 2 = disjoint).
Figures also go to benchmarks/out/simulate.json. See benchmarks/PEERS.md for the peers.
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import galcube_lib as gl

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
VENVS = HERE / ".venvs"
WORKER = HERE / "_peer_worker.py"

SPEC = dict(n_pix=125, n_chan=40, channel_kms=30.0, pixel_kpc=0.5, beam_fwhm_px=4.0,
            sersic_n=1.0, r_eff_kpc=4.0, h_z_kpc=0.5, flux_jy_kms=1.0, inclination_deg=60.0,
            pa_deg=30.0, v_max_kms=200.0, r_turn_kpc=1.0, sigma_kms=40.0)
OBS_KEYS = ("n_pix", "n_chan", "channel_kms", "pixel_kpc", "beam_fwhm_px")

# name -> (PyPI requirement, distribution, default repeats, galcube parameters that reproduce
# what the peer was asked to simulate, for the L1 column).
PEERS = {
    "kinms": ("kinms==3.0.14", "kinms", 5, {}),
    # GalCubeCraft: its power-law curve (v_0 200), PA 90 (its disk is tilted about the image x
    # axis, receding half towards -x = east), centre 62.5 px ((n+1)/2 - 1/2 with its 60^3 grid).
    "galcubecraft": ("GalCubeCraft==1.2.1", "GalCubeCraft", 3,
                     {"rotation": "galcubecraft", "pa_deg": 90.0, "offset_kpc": (0.25, 0.25)}),
}


def log(args, *msg):
    if not args.quiet:
        print(*msg, file=sys.stderr, flush=True)


def galcube_cube(**changes):
    """galcube's cube of SPEC (with some Galaxy parameters changed) as a float32 (v, y, x) array."""
    gal_keys = set(SPEC) - set(OBS_KEYS)
    gal = gl.Galaxy(rotation="arctan", **{k: SPEC[k] for k in gal_keys}).replace(**changes)
    obs = gl.Observation(**{k: SPEC[k] for k in OBS_KEYS})
    return gl.simulate([gal], obs).data


def time_galcube(repeats):
    galcube_cube()                                            # warm-up
    times, cubes = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cubes.append(galcube_cube())
        times.append(time.perf_counter() - t0)
    return {"version": gl.__version__, "times_s": times, "flux_requested": SPEC["flux_jy_kms"],
            "asked": "Galaxy(n=1, R_e=4 kpc, h_z=0.5 kpc, i=60, PA=30, arctan v_max=200 "
                     "r_turn=1 kpc, sigma=40, 1 Jy km/s); deterministic, no seed"}, \
        {"first": cubes[0], "last": cubes[-1]}


def ensure_venv(name, requirement, dist, args):
    """benchmarks/.venvs/<name> with ``requirement`` installed; returns its python."""
    python = VENVS / name / "bin" / "python"
    wanted = requirement.split("==")[1]
    check = [str(python), "-c", f"from importlib.metadata import version; print(version({dist!r}))"]
    if python.exists() and subprocess.run(check, capture_output=True, text=True).stdout.strip() == wanted:
        return python
    log(args, f"[{name}] creating {python.parent.parent} and installing {requirement} ...")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(python.parent.parent)], check=True)
    # GalCubeCraft imports torch: hold it to the CPU build the project pins (an unpinned
    # torch pulls gigabytes of CUDA packages); a local wheel folder is used where there is one.
    constraints = VENVS / "constraints.txt"
    constraints.write_text("torch==2.13.0\n")
    local = ["--find-links", "/opt/wheels"] if Path("/opt/wheels").is_dir() else []
    pip = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *local,
                          "--constraint", str(constraints), requirement],
                         capture_output=args.quiet, text=True)
    if pip.returncode != 0:
        raise RuntimeError(f"pip install {requirement} failed:\n{(pip.stderr or '')[-2000:]}")
    return python


def time_peer(name, repeats, args):
    requirement, dist, _, _ = PEERS[name]
    python = ensure_venv(name, requirement, dist, args)
    npz = OUT / f"simulate_{name}.npz"
    env = dict(os.environ, MPLBACKEND="Agg")
    log(args, f"[{name}] timing {repeats} cubes in {python.parent.parent} ...")
    proc = subprocess.run([str(python), str(WORKER), name, json.dumps(SPEC), str(repeats), str(npz)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} worker failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(npz) as z:
        cubes = {k: z[k] for k in z.files}
    npz.unlink()
    return result, cubes


def figures(result, cubes, reference):
    """Median time, determinism, speckle, flux ratio and L1 against a galcube reference cube."""
    a, b = (cubes[k].astype(np.float64) for k in ("first", "last"))
    peak = np.abs(a).max()
    beam_area = math.pi * SPEC["beam_fwhm_px"] ** 2 / (4 * math.log(2))
    flux = a.sum() * SPEC["channel_kms"] / beam_area
    out = dict(result, median_s=statistics.median(result["times_s"]),
               repeat_maxdiff=float(np.abs(a - b).max() / peak),
               seed_maxdiff=None,
               flux=float(flux), flux_ratio=float(flux / result["flux_requested"]))
    if "other_seed" in cubes:
        out["seed_maxdiff"] = float(np.abs(a - cubes["other_seed"]).max() / peak)
    if reference is not None:
        ref = reference.astype(np.float64)
        out["l1_vs_galcube"] = float(np.abs(a / a.sum() - ref / ref.sum()).sum())
    return out


def print_table(rows):
    head = ("peer", "version", "median s/cube", "galcube speedup", "repeat", "seeds",
            "flux ratio", "L1 vs galcube")
    base = rows["galcube"]["median_s"]
    lines = [head]
    for name, r in rows.items():
        if "error" in r:
            lines.append((name, "-", "unavailable", "-", "-", "-", "-", "-"))
            continue
        det = "0 (bitwise)" if r["repeat_maxdiff"] == 0 else f"{r['repeat_maxdiff']:.2g}"
        lines.append((name, r["version"], f"{r['median_s']:.4g}",
                      "1 (ref)" if name == "galcube" else f"{r['median_s'] / base:.1f}x",
                      det, "-" if name == "galcube" else f"{r['seed_maxdiff']:.2g}",
                      f"{r['flux_ratio']:.4f}", "-" if name == "galcube" else f"{r['l1_vs_galcube']:.3f}"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for i, line in enumerate(lines):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("\nWhat each was asked to simulate:")
    for name, r in rows.items():
        print(f"  {name}: {r.get('asked') or r.get('error')}")
    print("repeat/seeds: max|a-b|/max|a| between two calls with the same / different seeds "
          "(KinMS: fixSeed=True as default; GalCubeCraft: seed=1, its\ndefault seed=None is not "
          "reproducible). flux ratio: sum*dv/beam_area over the requested flux (GalCubeCraft: "
          "over its own voxel sum).\nL1: sum|a-b| of flux-normalised cubes vs galcube asked the "
          "same (GalCubeCraft: galcube with its power-law curve, PA 90; the gap is mostly\nits "
          "dispersion, drawn for the vertical velocity only, so ~15-20 km/s on the line of sight "
          "at i=60). See benchmarks/PEERS.md.")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=None,
                   help="timed calls per simulator (default 5 for galcube/KinMS, 3 for GalCubeCraft)")
    p.add_argument("--skip-peers", action="store_true", help="time galcube only (no venvs, no network)")
    p.add_argument("--quiet", action="store_true", help="print the table only")
    args = p.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be >= 1")
    OUT.mkdir(exist_ok=True)

    log(args, "[galcube] timing in this process ...")
    result, cubes = time_galcube(args.repeats or 5)
    rows = {"galcube": figures(result, cubes, None)}
    for name, (_, _, default_repeats, same_ask) in ({} if args.skip_peers else PEERS).items():
        try:
            result, cubes = time_peer(name, args.repeats or default_repeats, args)
            rows[name] = figures(result, cubes, galcube_cube(**same_ask))
        except (RuntimeError, subprocess.CalledProcessError, OSError, ValueError) as err:
            log(args, f"[{name}] skipped: {err}")
            rows[name] = {"error": f"unavailable ({str(err).splitlines()[0]})"}
    print_table(rows)
    machine = {"python": platform.python_version(), "cpu_count": os.cpu_count(),
               "platform": platform.platform(), "processor": platform.processor()}
    (OUT / "simulate.json").write_text(json.dumps(
        {"spec": SPEC, "machine": machine, "results": rows}, indent=2, default=float) + "\n")
    log(args, f"wrote {OUT / 'simulate.json'}")


if __name__ == "__main__":
    main()
