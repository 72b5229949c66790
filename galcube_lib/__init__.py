"""galcube: simulate, denoise and measure spectral-line cubes of galaxies.

``import galcube_lib as gl`` is light: torch, dask and bokeh are imported only where used.
"""
from ._version import __version__
from .cube import Cube, read_fits
from .model.galaxy import Bridge, Galaxy, Halo, Tail
from .model.prior import BenchmarkPrior, Scene, prior_from_dict
from .noise import add_noise
from .observation import Observation
from .record import scene_from_record
from .simulate import simulate

__all__ = ["__version__", "Cube", "read_fits", "Galaxy", "Halo", "Bridge", "Tail",
           "BenchmarkPrior", "Scene", "prior_from_dict", "add_noise", "Observation", "simulate",
           "scene_from_record"]
