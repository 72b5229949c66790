"""galcube: simulate, denoise and measure spectral-line cubes of galaxies.

``import galcube_lib as gl`` is light: torch, dask and bokeh are imported only where used
(the torch datasets ``StoreDataset`` and ``SimulatedDataset`` load on first access).
"""
from galcube_lib._version import __version__
from galcube_lib import bench, metrics
from galcube_lib.noise import estimate as noise_estimate
from galcube_lib.io.cube import Cube, read_fits
from galcube_lib.denoise import denoise
from galcube_lib.denoise.smooth_clip import smooth_clip_mask
from galcube_lib.datasets import CubeStore, IncompleteCubeError, generate_dataset, open_dataset
from galcube_lib.sim.components import Bridge, Galaxy, Halo, Tail
from galcube_lib.sim.prior import BenchmarkPrior, Scene, prior_from_dict
from galcube_lib.noise.realise import add_noise
from galcube_lib.sim.observation import Observation
from galcube_lib.sim.scene_record import scene_from_record
from galcube_lib.sim.simulate import simulate

_TORCH_NAMES = ("StoreDataset", "SimulatedDataset")

__all__ = ["__version__", "Cube", "read_fits", "Galaxy", "Halo", "Bridge", "Tail",
           "BenchmarkPrior", "Scene", "prior_from_dict", "add_noise", "Observation", "simulate",
           "scene_from_record", "generate_dataset", "open_dataset", "CubeStore",
           "IncompleteCubeError", "denoise", "smooth_clip_mask", "metrics", "bench", "noise_estimate",
           *_TORCH_NAMES]


def __getattr__(name):
    if name in _TORCH_NAMES:
        from galcube_lib.datasets import torch_data

        return getattr(torch_data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
