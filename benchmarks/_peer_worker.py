"""Timing worker for one peer simulator, run by bench_simulate.py inside that peer's own venv.

    <venv>/bin/python _peer_worker.py {kinms|galcubecraft} SPEC_JSON REPEATS OUT_NPZ

It maps the physical galaxy/observation SPEC onto the peer's parameters, calls the peer once to
warm up, then REPEATS times with time.perf_counter() around the generating call only, then once
more with a different random seed. Cubes are saved to OUT_NPZ in galcube's (v, y, x) layout
(first and last timed run, the other-seed run) and one JSON line of results is printed last.
Only numpy, scipy and the peer are imported here: never galcube_lib.
"""
import json
import os
import sys
import time
from importlib.metadata import version

import numpy as np
from scipy.special import gammaincinv

os.environ.setdefault("MPLBACKEND", "Agg")  # GalCubeCraft imports matplotlib/tkinter at import time


def sersic_b(n):
    return float(gammaincinv(2.0 * n, 0.5))


def kinms_setup(s):
    """KinMS 3.0.14: KinMS(xs, ys, vs, cellSize, dv, beamSize).model_cube(inc, posAng, ...).

    1 "arcsec" = 1 pixel. KinMS centres an odd field at n/2 px and its trimmed beam adds half a
    pixel, so phaseCent moves the disk onto galcube's centre pixel n//2; vOffset puts the band
    centre between the two middle channels as galcube does.
    """
    from kinms import KinMS

    n, px = s["n_pix"], s["pixel_kpc"]
    re, hz, rt = s["r_eff_kpc"] / px, s["h_z_kpc"] / px, s["r_turn_kpc"] / px
    r = np.arange(0.0, 1.5 * n, 0.1)                          # reaches the field corners
    sb = np.exp(-sersic_b(s["sersic_n"]) * ((r / re) ** (1.0 / s["sersic_n"]) - 1.0))
    vel = s["v_max_kms"] * (2.0 / np.pi) * np.arctan(r / rt)
    cen = 2.0 * (n // 2 - n / 2)
    beam = [s["beam_fwhm_px"]] * 2 + [0.0]

    def make(seed):
        k = KinMS(n, n, s["n_chan"] * s["channel_kms"], 1.0, s["channel_kms"], beam, seed=seed)
        cube = k.model_cube(s["inclination_deg"], s["pa_deg"], gasSigma=s["sigma_kms"],
                            diskThick=hz, sbProf=sb, sbRad=r, velProf=vel, velRad=r,
                            intFlux=s["flux_jy_kms"], phaseCent=[cen, cen],
                            vOffset=-s["channel_kms"] / 2)
        return cube.T                                        # (x, y, v) -> (v, y, x)

    asked = (f"sbProf=Sersic n={s['sersic_n']:g} R_e={re:g}px, velProf=arctan v={s['v_max_kms']:g} "
             f"r_t={rt:g}px, inc={s['inclination_deg']:g} posAng={s['pa_deg']:g}, "
             f"gasSigma={s['sigma_kms']:g}, diskThick={hz:g}px (exp), intFlux={s['flux_jy_kms']:g}, "
             f"nSamps=5e5 (default), fixSeed=True (default)")
    return make, (None, 7), s["flux_jy_kms"], asked


def galcubecraft_setup(s):
    """GalCubeCraft 1.2.1: GalCubeCraft(...).generate_cubes(), its per-galaxy draws overridden.

    Its channels are fixed (+-600 km/s over n_spectral_slices), its rotation curve is its own
    power law (v_0 = 200 km/s), and its "PA" is a second tilt, so PA stays 0: the disk is
    inclined about the image x axis only (the one self-consistent case).
    """
    from GalCubeCraft import GalCubeCraft

    n, px, b = s["n_pix"], s["pixel_kpc"], s["beam_fwhm_px"]
    re, hz = s["r_eff_kpc"] / px, s["h_z_kpc"] / px
    if abs(1200.0 / s["n_chan"] - s["channel_kms"]) > 1e-9:
        raise SystemExit("GalCubeCraft's band is fixed to +-600 km/s: need n_chan * channel_kms = 1200")
    draws = dict(all_Re=re, all_hz=hz, all_n=s["sersic_n"], all_Se=0.1, all_pix_spatial_scales=px,
                 all_gal_vz_sigmas=s["sigma_kms"], all_gal_x_angles=s["inclination_deg"],
                 all_gal_y_angles=0.0, all_gal_v_0=200.0)

    def build(seed):
        g = GalCubeCraft(n_gals=1, n_cubes=1, resolution=float(re / (b / 2)), beam_info=[b, b, 0],
                         grid_size=n, n_spectral_slices=s["n_chan"], n_sersic=s["sersic_n"],
                         verbose=False, seed=seed, diffuse_params={"enabled": False})
        for name, value in draws.items():
            setattr(g, name, [np.array([value], dtype=float)])
        return g

    def make(seed):
        return build(seed).generate_cubes()[0][0]          # (v, image axis 0, image axis 1)

    # Its own model total: the sum of its unrotated 3D voxels (arbitrary units). The cube
    # holds each voxel's value / 5 (mean over 5 sub-channels), in per-beam units.
    g = build(0)
    c = np.arange(g.init_grid_size) - (g.init_grid_size - 1) / 2
    X, Y, Z = np.meshgrid(c * px, c * px, c * px, indexing="ij")
    model = g.sersic_flux_density_3d(X, Y, Z, 0.1, re * px, s["sersic_n"], hz * px).sum()
    asked = (f"n_gals=1, resolution={re / (b / 2):g} (R_e={re:g}px), n_sersic={s['sersic_n']:g}, "
             f"beam_info=[{b:g},{b:g},0], diffuse off; overrides: hz={hz:g}px, "
             f"pix_scale={px:g}kpc, x_angle(inc)={s['inclination_deg']:g}, y_angle=0 (PA not "
             f"settable), sigma_vz={s['sigma_kms']:g}, v_0=200 (power-law curve, not arctan)")
    return make, (1, 2), model * s["channel_kms"] / 5.0, asked


def main():
    peer, spec, repeats, out = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    make, (seed, other_seed), flux_requested, asked = {
        "kinms": kinms_setup, "galcubecraft": galcubecraft_setup}[peer](spec)
    make(seed)                                                # warm-up
    times, cubes = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cubes.append(make(seed))
        times.append(time.perf_counter() - t0)
    other = make(other_seed)
    np.savez(out, first=cubes[0].astype(np.float32), last=cubes[-1].astype(np.float32),
             other_seed=other.astype(np.float32))
    pkg = {"kinms": "kinms", "galcubecraft": "GalCubeCraft"}[peer]
    print(json.dumps({"version": version(pkg), "times_s": times, "asked": asked,
                      "flux_requested": float(flux_requested)}))


if __name__ == "__main__":
    main()
