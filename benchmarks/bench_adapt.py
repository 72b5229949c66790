"""The U-Net adapted to a cube's own noise against the U-Net as shipped, on one 64 x 128 x 128
cube whose noise is unlike the training noise (issue 14: adaptation in <= 5 min on 2 cores).

    .venv/bin/python benchmarks/bench_adapt.py                   # 150 steps, shipped weights
    .venv/bin/python benchmarks/bench_adapt.py --steps 300 --weights unet3d_family
    .venv/bin/python benchmarks/bench_adapt.py --uncertainty 4    # and the floor's calibration

The cube: a simulated disk (R_e 2 beams, inclination 60 deg, 20 km/s channels, beam 4 px) at
peak SNR 4 in noise correlated on 2.2 beams with dirty-beam sidelobes (0.9 of the short spacings
missing) and a correlation of 0.45 at lag 3 (outside the training family's 0.7-1.5 beams).
Printed side by side: wall time of ``gl.denoise`` with and without ``adapt``, and the nRMSE and
flux in the disk's aperture against the noise-free truth, and the flux that each puts into the
same noise without the disk (in units of that aperture's flux noise in the noisy cube). With
``--uncertainty N``, the time includes the N re-samplings (and, adapted, the calibration of the
floor on disks in the cube's own noise), a third row has the shipped network with that
calibration alone (``calibrate=True``), and the coverage column is the share of the disk's
voxels (truth above 5% of its peak) whose error is within the ±1 sigma uncertainty.
"""
import argparse
import time

import numpy as np

import galcube_lib as gl
from galcube_lib.metrics.apertures import aperture_flux
from galcube_lib.metrics.errors import flux_conservation, normalised_rmse
from galcube_lib.noise.models import NoiseModel

SHAPE = (64, 128, 128)
NOISE = NoiseModel(correlation_beams=2.2, sidelobe=0.9, spectral="lag", lag=3,
                   lag_correlation=0.45)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--weights", default="unet3d")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--uncertainty", type=int, default=0,
                        help="re-samplings of the uncertainty (0: none)")
    args = parser.parse_args(argv)
    obs = gl.Observation(n_pix=SHAPE[1], n_chan=SHAPE[0], channel_kms=20.0, beam_fwhm_px=4.0)
    disk = gl.Galaxy(r_eff_kpc=4.0 * obs.pixel_kpc, inclination_deg=60.0, pa_deg=30.0,
                     v_max_kms=200.0, sigma_kms=30.0)
    clean = gl.simulate([disk], obs)
    noisy = gl.add_noise(clean, peak_snr=4.0, kind=NOISE, rng=args.seed)
    empty = noisy.replace(data=noisy.data - clean.data, clean=np.zeros_like(clean.data))
    truth = clean.data
    aperture = truth > 0.01 * truth.max()
    flux_noise = np.std([aperture_flux(gl.add_noise(clean, peak_snr=4.0, kind=NOISE,
                                                    rng=100 + k).data - truth, aperture)
                         for k in range(20)], ddof=1)
    print(f"cube {SHAPE}, noise {NOISE}, {args.weights} weights")
    print(f"{'':24s}{'time (s)':>10s}{'nRMSE':>8s}{'flux %':>8s}{'null (sigma)':>14s}"
          f"{'coverage':>10s}")
    disk_voxels = truth > 0.05 * truth.max()
    rows = [("unet", 0, False), (f"unet, adapt={args.steps}", args.steps, False)]
    if args.uncertainty:
        rows.append(("unet, calibrate", 0, True))
    for label, adapt, calibrate in rows:
        start = time.perf_counter()
        out = gl.denoise(noisy, "unet", weights=args.weights, adapt=adapt, rng=args.seed,
                         uncertainty=args.uncertainty, calibrate=calibrate, progress=True)
        seconds = time.perf_counter() - start
        coverage = (np.mean(np.abs(out.data - truth)[disk_voxels]
                            <= out.uncertainty[disk_voxels]) if args.uncertainty else np.nan)
        null = gl.denoise(empty, "unet", weights=args.weights, adapt=adapt, rng=args.seed)
        print(f"{label:24s}{seconds:10.1f}{normalised_rmse(out.data, truth, noisy.data, aperture):8.3f}"
              f"{flux_conservation(out.data, truth, aperture):8.1f}"
              f"{aperture_flux(null.data, aperture) / flux_noise:+14.2f}{coverage:10.2f}",
              flush=True)


if __name__ == "__main__":
    main()
