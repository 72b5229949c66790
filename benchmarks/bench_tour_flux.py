"""The README tour's galaxy at peak SNR 4: how much of IST's aperture flux is the noise's.

The tour prints IST's flux conservation for one noise draw (rng=0). This script draws the same
cube's noise ``--n`` times and prints, side by side for the noisy cube, IST (default,
``debias=True`` and ``keep_coarse=False``) and gaussian: the aperture flux over the truth's (mean
with its standard error, spread, range), the share of draws within 10% of the truth, and the
flux of each method against the noisy cube's in the same draw (mean and standard error). The
figure of the tour is then read against the scatter that the noise alone gives the noisy cube in
that aperture.

    .venv/bin/python benchmarks/bench_tour_flux.py             # 40 draws, about 5 min
"""
import argparse
import time

import numpy as np
import pandas as pd

import galcube_lib as gl

METHODS = {"noisy": None, "ist": {}, "ist debias=True": {"debias": True},
           "ist keep_coarse=False": {"keep_coarse": False},
           "gaussian": {}}


def tour_cube():
    gal = gl.Galaxy(sersic_n=1.0, r_eff_kpc=4.0, h_z_kpc=0.5, flux_jy_kms=1.0,
                    inclination_deg=60.0, pa_deg=30.0, v_max_kms=200.0, rotation="arctan",
                    r_turn_kpc=1.0, sigma_kms=40.0, offset_kpc=(0.0, 0.0), v_sys_kms=0.0)
    obs = gl.Observation(n_pix=125, n_chan=40, channel_kms=30.0, pixel_kpc=0.5,
                         beam_fwhm_px=4.0)
    return gl.simulate([gal], obs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="noise draws (seeds 0..n-1)")
    args = parser.parse_args()
    clean = tour_cube()
    start = time.perf_counter()
    rows = []
    for seed in range(args.n):
        noisy = gl.add_noise(clean, peak_snr=4.0, kind="beam", rng=seed)
        for name, options in METHODS.items():
            cube = noisy if options is None else gl.denoise(
                noisy, name.split()[0], **options)
            figures = gl.metrics.evaluate(cube, truth=clean, noisy=noisy)
            rows.append({"seed": seed, "method": name,
                         "flux_pct": figures["flux_conservation"], "nrmse": figures["nrmse"]})
    frame = pd.DataFrame(rows)
    noisy_flux = frame[frame.method == "noisy"].set_index("seed")["flux_pct"]
    frame["minus_noisy_pct"] = frame["flux_pct"] - frame["seed"].map(noisy_flux)
    table = frame.groupby("method", sort=False).agg(
        flux_mean=("flux_pct", "mean"),
        flux_mean_se=("flux_pct", "sem"),
        flux_sd=("flux_pct", "std"),
        flux_min=("flux_pct", "min"), flux_max=("flux_pct", "max"),
        within_10pct=("flux_pct", lambda f: float(np.mean(np.abs(f - 100) <= 10))),
        minus_noisy_mean=("minus_noisy_pct", "mean"),
        minus_noisy_se=("minus_noisy_pct", "sem"),
        nrmse=("nrmse", "mean"))
    print(f"tour galaxy, peak SNR 4, {args.n} noise draws ({time.perf_counter() - start:.0f} s);"
          " flux in per cent of the truth's, in the record's aperture\n")
    print(table.round(3).to_string())
    first = frame[frame.seed == 0].set_index("method")["flux_pct"]
    print("\nthe tour's draw (rng=0): " + ", ".join(f"{m} {v:.0f}%" for m, v in first.items()))


if __name__ == "__main__":
    main()
