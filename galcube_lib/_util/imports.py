"""The package's import hook: old module paths, and what the ``[deep]`` extra installs.

Old paths (before the subpackages) keep working with a DeprecationWarning: ``import
galcube_lib.train`` gives the module ``galcube_lib.training.unet`` itself (the same object, so
patching either name patches both) and ``python -m galcube_lib.train`` runs it.

The deep denoisers, training and the torch datasets need PyTorch, which the core install leaves
out, and the PDR model grids need pdrtpy (the ``[pdr]`` extra); without them, importing those
modules is a ModuleNotFoundError that says which extra to install.
"""
import importlib
import importlib.util
import sys
import warnings

#: old module path -> where it lives now
MOVED = {f"galcube_lib.{old}": f"galcube_lib.{new}" for old, new in {
    "_validate": "_util.checks", "_rng": "_util.rng", "_io": "io.files",
    "_parallel": "_util.parallel",
    "cube": "io.cube", "_header": "io.header", "_crop": "io.crop", "record": "sim.scene_record",
    "model": "sim", "model.galaxy": "sim.components", "model.profiles": "sim.profiles",
    "model.rotation": "sim.rotation", "model.prior": "sim.prior",
    "observation": "sim.observation", "_render": "sim.render", "simulate": "sim.simulate",
    "noise_estimate": "noise.estimate", "_noise_level": "noise.level",
    "_noise_correlation": "noise.correlation",
    "wavelets": "denoise.wavelets", "denoise.unet": "denoise.deep.unet",
    "denoise.noise2self": "denoise.deep.noise2self", "denoise.spectral": "denoise.deep.spectral",
    "denoise.lcae": "denoise.deep.lcae",
    "networks": "denoise.deep.networks", "networks.unet3d": "denoise.deep.networks.unet3d",
    "networks.spectral": "denoise.deep.networks.spectral",
    "networks.lcae": "denoise.deep.networks.lcae",
    "_models": "denoise.deep.weights", "uncertainty": "denoise.deep.uncertainty",
    "real": "metrics.real", "torch_data": "datasets.torch_data",
    "train": "training.unet", "train_spectral": "training.spectral", "_training": "training.loop",
    "display": "report.display",
}.items()}

#: package or module -> (the third-party module it needs, the extra that installs it)
NEEDS = {**{f"galcube_lib.{name}": ("torch", "deep")
            for name in ("denoise.deep", "training", "datasets.torch_data", "inference.models",
                         "inference.unet", "pdr.emulator")},
         "galcube_lib.pdr.grids": ("pdrtpy", "pdr")}


class _Alias:
    """Loader that hands out the module at its new path under the old name."""

    def __init__(self, new):
        self.new = new

    def create_module(self, spec):
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self.spec  # the import system labelled it with the old name

    def get_code(self, fullname):  # ``python -m <old path>``
        return importlib.util.find_spec(self.new).loader.get_code(self.new)


class Finder:
    """Meta path finder: aliases the old paths in :data:`MOVED`, checks :data:`NEEDS`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in NEEDS:
            module, extra = NEEDS[fullname]
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as err:
                if err.name != module:
                    raise
                raise ModuleNotFoundError(f'{fullname} needs {module}, which the core install '
                                          f'leaves out: pip install "galcube[{extra}]"',
                                          name=module) from None
            return None
        new = MOVED.get(fullname)
        if new is None:
            return None
        warnings.warn(f"{fullname} has moved to {new}; the old path will be removed",
                      DeprecationWarning, stacklevel=2)
        is_package = importlib.util.find_spec(new).submodule_search_locations is not None
        return importlib.util.spec_from_loader(fullname, _Alias(new), is_package=is_package)


def install():
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, Finder())
