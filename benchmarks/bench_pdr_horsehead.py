"""galcube's PDR maps against pdrtpy's LineRatioFit on the Horsehead (issue 17), in one run.

The maps are pdrtpy's own test data: [CII] 158 um, 12CO(1-0), 13CO(1-0) (K km/s) and FIR
(erg s^-1 cm^-2 sr^-1), 102 x 102 pixels with their UNCERT extensions. Both tools fit the
Wolfire-Kaufman 2020 models: pdrtpy the four ratios it finds for these lines (least squares
per pixel on its linear interpolation of the ratio grids), galcube the four intensities with a
free beam-filling factor (the same information, three independent ratios) through the
shipped emulator, with the full posterior per pixel. It prints the time of each, the agreement
of the log n and log G0 maps where both fits are good, and where they differ with the flags
that say why.

    .venv/bin/python benchmarks/bench_pdr_horsehead.py               # about 2-3 min on 2 cores
    .venv/bin/python benchmarks/bench_pdr_horsehead.py --forward cubic
"""
import argparse
import time
import warnings

import numpy as np

from galcube_lib.pdr.emulator import load_emulator
from galcube_lib.pdr.grids import HABING_ERG_S_CM2, GridInterpolator, load_grid
from galcube_lib.pdr.line_maps import common_grid, read_line_map
from galcube_lib.pdr.posterior import ParameterGrid, parameter_maps

FILES = {"CII_158": "Horsehead_CII_measurement.fits", "CO_10": "Horsehead_12CO_measurement.fits",
         "13CO_10": "Horsehead_13CO_measurement.fits", "FIR": "Horsehead_FIR_measurement.fits"}


def horsehead_paths() -> dict:
    from pdrtpy import pdrutils

    return {line: pdrutils.get_testdata(name) for line, name in FILES.items()}


def run_galcube(paths, forward_name):
    start = time.perf_counter()
    maps = [read_line_map(path, line) for line, path in paths.items()]
    intensity, sigma, _ = common_grid(maps)
    if forward_name == "emulator":
        forward = load_emulator("wk2020").select(list(paths))
    else:
        forward = GridInterpolator(load_grid("wk2020").select(list(paths)), forward_name)
    result = parameter_maps(intensity, sigma, ParameterGrid(forward), progress=False)
    return result, time.perf_counter() - start


def run_pdrtpy(paths, workers):
    from pdrtpy.measurement import Measurement
    from pdrtpy.modelset import ModelSet
    from pdrtpy.tool.lineratiofit import LineRatioFit

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measurements = [Measurement.read(path, identifier=line) for line, path in paths.items()]
        fit = LineRatioFit(ModelSet("wk2020", z=1), measurements=measurements)
        fit.run(workers=workers)
    return fit, time.perf_counter() - start


def log_map(measurement, scale=1.0):
    """log10 of a pdrtpy Measurement map (divided by ``scale``) and its 1-sigma in dex."""
    value = np.asarray(measurement.data, dtype=float) / scale
    error = np.asarray(measurement.uncertainty.array, dtype=float) / scale
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log10(value), error / (value * np.log(10))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forward", default="emulator", choices=("emulator", "linear", "cubic"))
    parser.add_argument("--workers", type=int, default=None,
                        help="pdrtpy's worker processes (default serial, its default; -1: every core)")
    args = parser.parse_args()
    paths = horsehead_paths()
    ours, t_ours = run_galcube(paths, args.forward)
    theirs, t_theirs = run_pdrtpy(paths, args.workers)
    print(f"# Horsehead, {', '.join(paths)}; Wolfire-Kaufman 2020")
    print(f"galcube ({args.forward}, full posterior): {t_ours:6.1f} s, {np.isfinite(ours.median[0]).sum()} pixels fitted")
    print(f"pdrtpy LineRatioFit (workers={args.workers}): {t_theirs:6.1f} s")
    print(f"galcube is {t_theirs / t_ours:.1f}x faster")

    ours_sigma = (ours.upper - ours.lower) / 2
    maps = {"log_n": log_map(theirs.density), "log_G0": log_map(theirs.radiation_field, HABING_ERG_S_CM2)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chi2 = np.asarray(theirs.reduced_chisq(min=True).data, dtype=float)
    bounds = np.array([[1.0, 7.0], [-0.5, 6.5]])
    for k, (name, (their_value, their_sigma)) in enumerate(maps.items()):
        their_edge = (their_value < bounds[k, 0] + 0.0625) | (their_value > bounds[k, 1] - 0.0625)
        both = ours.good & np.isfinite(their_value) & np.isfinite(their_sigma) & ~their_edge & (chi2 < 10)
        delta = ours.median[k] - their_value
        combined = np.hypot(ours_sigma[k], their_sigma)
        agree = np.abs(delta) <= combined
        print(f"\n{name}: {both.sum()} pixels where both fits are good (galcube: unimodal, inside the grid; "
              f"pdrtpy: inside the grid, reduced chi2 < 10)")
        print(f"  median |delta| {np.nanmedian(np.abs(delta[both])):.3f} dex, median delta (galcube - pdrtpy) "
              f"{np.nanmedian(delta[both]):+.3f}; within the combined 1 sigma: {agree[both].mean():.2f}")
        print(f"  median 1 sigma: galcube {np.nanmedian(ours_sigma[k][both]):.3f} dex, pdrtpy "
              f"{np.nanmedian(their_sigma[both]):.3f} dex")
        fitted = np.isfinite(ours.median[k]) & np.isfinite(their_value)
        print(f"  where they differ by more than 1 sigma ({(fitted & ~agree).sum()} of {fitted.sum()} fitted by both):")
        for label, mask in (("galcube multimodal", ours.multimodal), ("galcube at the grid's edge", ours.at_edge),
                            ("pdrtpy at the grid's edge", their_edge), ("pdrtpy reduced chi2 >= 10", chi2 >= 10)):
            print(f"    {label:28s} {(fitted & ~agree & mask).sum():5d}")


if __name__ == "__main__":
    main()
