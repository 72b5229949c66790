"""``import galcube_lib`` is light and lazy; old module paths still import, with a warning;
without torch the deep parts say which extra to install. Each check runs in a fresh
interpreter, so that what other tests imported does not count."""
import json
import subprocess
import sys
import textwrap
import types

import pytest

import galcube_lib as gl
from galcube_lib._util.imports import MOVED

#: modules that ``import galcube_lib`` must not load
HEAVY = ("torch", "dask", "distributed", "zarr", "bokeh", "holoviews", "matplotlib", "sklearn",
         "pandas", "astropy.io.fits", "scipy.signal")
#: the public API of the README tour and reference (before the package was made lazy)
PUBLIC = {"__version__", "Cube", "read_fits", "read_zarr", "Galaxy", "Halo", "Bridge", "Tail",
          "BenchmarkPrior", "Scene", "prior_from_dict", "add_noise", "Observation", "simulate",
          "scene_from_record", "property_maps", "generate_dataset", "open_dataset", "CubeStore",
          "IncompleteCubeError", "denoise", "smooth_clip_mask", "metrics", "bench",
          "noise_estimate", "StoreDataset", "SimulatedDataset"}


def _run(code, *args):
    """Run ``code`` in a fresh interpreter; its last stdout line, parsed as JSON."""
    res = subprocess.run([sys.executable, *args, "-c", textwrap.dedent(code)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_import_loads_nothing_heavy():
    loaded = _run(f"""
        import json, sys
        import galcube_lib
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    assert loaded == [], f"`import galcube_lib` loaded {loaded}"


def test_every_public_name_resolves_lazily_to_its_defining_module():
    assert set(gl.__all__) == PUBLIC
    assert set(dir(gl)) == PUBLIC
    got = _run("""
        import json, types
        import galcube_lib as gl
        out = {}
        for name in gl.__all__:
            obj = getattr(gl, name)
            out[name] = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
        print(json.dumps(out))
    """)
    defining = {name: module for module, names in gl._PUBLIC.items() for name in names}
    for name, module in got.items():
        obj = getattr(gl, name)
        if name == "__version__":
            continue
        assert module == (obj.__name__ if isinstance(obj, types.ModuleType) else obj.__module__)
        if not isinstance(obj, types.ModuleType):
            # the lazy map names the module that defines it, not one that re-exports it
            assert module == f"galcube_lib.{defining[name]}", (name, module)
    assert got["noise_estimate"] == "galcube_lib.noise.estimate"
    assert (got["metrics"], got["bench"]) == ("galcube_lib.metrics", "galcube_lib.bench")


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        gl.no_such_name


def test_importing_a_subpackage_keeps_the_functions_of_the_same_name():
    got = _run("""
        import json, warnings
        import galcube_lib as gl
        import galcube_lib.denoise.gaussian
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from galcube_lib.simulate import simulate  # the old module path
        print(json.dumps([type(gl.denoise).__name__, type(gl.simulate).__name__,
                          gl.simulate is simulate]))
    """)
    assert got == ["function", "function", True]


README_PATHS = {"galcube_lib.train": "galcube_lib.training.unet",
                "galcube_lib.train_spectral": "galcube_lib.training.spectral",
                "galcube_lib.noise_estimate": "galcube_lib.noise.estimate",
                "galcube_lib.real": "galcube_lib.metrics.real",
                "galcube_lib.torch_data": "galcube_lib.datasets.torch_data",
                "galcube_lib.cube": "galcube_lib.io.cube",
                "galcube_lib.observation": "galcube_lib.sim.observation",
                "galcube_lib.simulate": "galcube_lib.sim.simulate",
                "galcube_lib.model.galaxy": "galcube_lib.sim.components"}


def test_old_module_paths_of_the_readme_are_kept():
    assert README_PATHS.items() <= MOVED.items()


def test_every_old_module_path_is_the_new_module_with_a_deprecation_warning():
    got = _run(f"""
        import importlib, json, warnings
        import galcube_lib
        out = {{}}
        for old, new in {MOVED!r}.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                module = importlib.import_module(old)
            out[old] = [module is importlib.import_module(new), module.__name__ == new,
                        module.__spec__.name == new,
                        [str(w.message) for w in caught if w.category is DeprecationWarning]]
        print(json.dumps(out))
    """)
    for old, (same, name, spec, warned) in got.items():
        new = MOVED[old]
        assert same and name and spec, old
        assert warned == [f"{old} has moved to {new}; the old path will be removed"], (old, warned)


def test_old_module_path_in_user_code_warns_at_the_import_line():
    res = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c",
                          "from galcube_lib.real import evaluate_real"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    assert 'File "<string>", line 1' in res.stderr
    assert "galcube_lib.real has moved to galcube_lib.metrics.real" in res.stderr


def test_python_m_old_path_runs_the_moved_module(tmp_path):
    res = subprocess.run([sys.executable, "-W", "default::DeprecationWarning", "-m",
                          "galcube_lib.train", "--help"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: python -m galcube_lib.training.unet")
    assert "galcube_lib.train has moved to galcube_lib.training.unet" in res.stderr


def test_without_torch_the_deep_parts_name_the_extra():
    got = _run("""
        import json, sys

        class NoTorch:  # as if torch were not installed
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "torch":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        sys.meta_path.insert(0, NoTorch())
        import galcube_lib as gl

        cube = gl.simulate([gl.Galaxy()], gl.Observation(n_pix=16, n_chan=8, pixel_kpc=1.0))
        errors = []
        for use in (lambda: gl.denoise(cube, method="unet"), lambda: gl.StoreDataset,
                    lambda: __import__("galcube_lib.training.loop")):
            try:
                use()
            except ImportError as err:
                errors.append([type(err).__name__, err.name, str(err)])
        # the classical methods do not need it
        gl.denoise(cube, method="gaussian")
        print(json.dumps(errors))
    """)
    assert len(got) == 3
    for kind, name, message in got:
        assert (kind, name) == ("ModuleNotFoundError", "torch")
        assert message.endswith('needs torch, which the core install leaves out: '
                                'pip install "galcube[deep]"')
