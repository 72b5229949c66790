"""galcube: simulate, denoise and measure spectral-line cubes of galaxies.

``import galcube_lib as gl`` is light (SPEC 1 lazy loading, with ``lazy_loader``): each public
name is imported from the module that defines it on first use, so numpy, scipy, astropy, torch,
dask and bokeh load only when something needs them.
"""
import importlib
import sys
import types

import lazy_loader as _lazy

from galcube_lib._util import imports as _imports
from galcube_lib._version import __version__

#: defining module (under galcube_lib) -> the public names it gives
_PUBLIC = {
    "io.cube": ["Cube", "read_fits"],
    "io.lazy": ["read_zarr"],
    "sim.components": ["Galaxy", "Halo", "Bridge", "Tail"],
    "sim.prior": ["BenchmarkPrior", "Scene", "prior_from_dict"],
    "sim.observation": ["Observation"],
    "sim.simulate": ["simulate"],
    "sim.properties": ["property_maps"],
    "sim.scene_record": ["scene_from_record"],
    "noise.realise": ["add_noise"],
    "datasets.generate": ["generate_dataset"],
    "datasets.store": ["open_dataset", "CubeStore", "IncompleteCubeError"],
    "datasets.torch_data": ["StoreDataset", "SimulatedDataset"],
    "denoise": ["denoise"],
    "denoise.smooth_clip": ["smooth_clip_mask"],
}
_ALIASES = {"noise_estimate": "noise.estimate"}  # public name -> module


class _Package(types.ModuleType):
    """Keeps ``gl.denoise`` and ``gl.simulate`` the functions: importing the package
    ``galcube_lib.denoise`` (or the old module path ``galcube_lib.simulate``) makes the import
    system bind that module on this package under the same name."""

    def __setattr__(self, name, value):
        if name in ("denoise", "simulate") and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
_lazy_getattr, _, _names = _lazy.attach(__name__, submodules=["metrics", "bench"],
                                        submod_attrs=_PUBLIC)
__all__ = ["__version__", *_names, *_ALIASES]


def __getattr__(name):
    if name in _ALIASES:
        return importlib.import_module(f"{__name__}.{_ALIASES[name]}")
    return _lazy_getattr(name)


def __dir__():
    return list(__all__)


_imports.install()
