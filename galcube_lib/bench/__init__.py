"""Benchmarks of the denoisers: the published protocol on simulated noise
(:mod:`~galcube_lib.bench.protocol`: ``gl.bench.run``) and the same figures for simulated
sources injected into the real noise of shipped telescope cubes
(:mod:`~galcube_lib.bench.real_noise`: ``gl.bench.run_real_noise``)."""
from galcube_lib.bench import real_noise
from galcube_lib.bench.protocol import (CLASSES, CLASSICAL, DEEP, HEADLINE, METHODS, SNR_BINS,
                                        SUBSAMPLE, plan, plot, run, save, summary)
from galcube_lib.bench.real_noise import run as run_real_noise

__all__ = ["CLASSES", "CLASSICAL", "DEEP", "HEADLINE", "METHODS", "SNR_BINS", "SUBSAMPLE",
           "plan", "plot", "run", "run_real_noise", "save", "summary", "real_noise"]
