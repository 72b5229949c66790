"""galcube: simulate, denoise and measure spectral-line cubes of galaxies.

``import galcube_lib as gl`` is light: torch, dask and bokeh are imported only where used
(the torch datasets ``StoreDataset`` and ``SimulatedDataset`` load on first access).
"""
from ._version import __version__
from . import bench, metrics, noise_estimate
from .cube import Cube, read_fits
from .denoise import denoise
from .denoise.smooth_clip import smooth_clip_mask
from .datasets import CubeStore, IncompleteCubeError, generate_dataset, open_dataset
from .model.galaxy import Bridge, Galaxy, Halo, Tail
from .model.prior import BenchmarkPrior, Scene, prior_from_dict
from .noise import add_noise
from .observation import Observation
from .record import scene_from_record
from .simulate import simulate

_TORCH_NAMES = ("StoreDataset", "SimulatedDataset")

__all__ = ["__version__", "Cube", "read_fits", "Galaxy", "Halo", "Bridge", "Tail",
           "BenchmarkPrior", "Scene", "prior_from_dict", "add_noise", "Observation", "simulate",
           "scene_from_record", "generate_dataset", "open_dataset", "CubeStore",
           "IncompleteCubeError", "denoise", "smooth_clip_mask", "metrics", "bench", "noise_estimate",
           *_TORCH_NAMES]


def __getattr__(name):
    if name in _TORCH_NAMES:
        from . import torch_data

        return getattr(torch_data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
