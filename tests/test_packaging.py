"""Packaging checks: the extras declare what the code imports, environment.yml and `make setup`
install everything, strict markers, README tour, docstrings."""
import ast
import dataclasses
import functools
import re
import subprocess
import sys
import time
import tomllib
import types
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pip_section(text):
    """The pip: list of environment.yml (PyYAML if present, else a small hand parser)."""
    try:
        import yaml
    except ImportError:  # the file is a plain two-level list; parse just that part
        items, in_pip = [], False
        for line in text.splitlines():
            stripped = line.split("#", 1)[0].rstrip()
            if re.fullmatch(r"\s*-\s*pip:\s*", stripped):
                in_pip, indent = True, None
                continue
            if in_pip and stripped.strip():
                m = re.match(r"(\s*)-\s*(.+)", stripped)
                if m is None or (indent is not None and len(m.group(1)) != indent):
                    break
                indent = len(m.group(1))
                items.append(m.group(2).strip().strip("'\""))
        return items
    deps = yaml.safe_load(text)["dependencies"]
    return next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)


def _key(req):
    r = Requirement(req)
    return canonicalize_name(r.name), frozenset(map(canonicalize_name, r.extras)), str(r.specifier), str(r.marker or "")


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
#: extra -> its requirements; "core" is [project].dependencies
GROUPS = {"core": PROJECT["dependencies"], **{k: v for k, v in EXTRAS.items() if k != "all"}}
#: declared but never imported: tools that run beside the code
TOOLS = {"jupyterlab": "make lab", "ipykernel": "the notebooks' kernel (papermill, make setup)",
         "pytest-timeout": "pytest plugin (timeout in pyproject)",
         "voila": "serves the page of tests/widgets/test_browser.py"}


def test_extras():
    assert set(EXTRAS) == {"deep", "lab", "pdr", "all", "test"}
    assert EXTRAS["all"] == ["galcube[deep,lab]"]
    assert [_key(r)[0] for r in EXTRAS["deep"]] == ["torch", "gpytorch"]
    core = {_key(r)[0] for r in GROUPS["core"]}
    # a dask cluster worker installs the core: no torch, no Jupyter stack
    assert not core & {"torch", "jupyterlab", "bokeh", "holoviews", "papermill", "matplotlib"}
    names = [_key(r)[0] for group in GROUPS.values() for r in group]
    assert len(names) == len(set(names)), "a package is declared twice"


def test_environment_yml_mirrors_pyproject():
    env_text = (ROOT / "environment.yml").read_text()
    pip = _pip_section(env_text)
    options = [p for p in pip if p.startswith("-")]
    # repo2docker builds the environment before copying the repository: the package itself
    # must come from postBuild, and torch from PyTorch's CPU index (no CUDA libraries)
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"], options
    # everything, as `make setup` installs it
    everything = [r for group in GROUPS.values() for r in group]
    want = {_key(r) for r in everything}
    got = {_key(r) for r in pip if r not in options}
    assert got == want, (f"only in environment.yml: {sorted(map(str, got - want))}; "
                         f"only in pyproject: {sorted(map(str, want - got))}")
    assert len(pip) - len(options) == len(everything), "duplicate entries in environment.yml pip list"
    assert re.search(r"^\s*-\s*python\s*=\s*3\.11\s*$", env_text, re.M), "environment.yml must pin python=3.11"
    assert "conda-forge" in env_text


def test_make_setup_installs_everything():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r'pip install .*-e "\.\[all,pdr,test\]"', makefile)
    fast = re.search(r"^test-fast:.*\n\t(.*)$", makefile, re.M)
    assert fast and 'pytest -m "not slow and not deep and not notebooks and not browser"' in fast.group(1)


def test_markers_are_registered_and_strict():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--strict-markers" in options["addopts"].split()
    assert {m.split(":")[0] for m in options["markers"]} == {"slow", "deep", "notebooks", "browser"}


def _third_party_imports(*folders):
    """{top-level module: [files importing it]} of every absolute import in the folders' .py files."""
    found = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if any(part.startswith(".") for part in path.relative_to(ROOT).parts):
                continue  # e.g. benchmarks/.venvs/, the peers' environments of bench_simulate.py
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in ("galcube_lib", "widgets"):
                        found.setdefault(top, []).append(path.relative_to(ROOT).as_posix())
    return found


def _declared(requirements):
    """Canonical distribution names the requirements install (dask[distributed]: both)."""
    names = set()
    for req in map(Requirement, requirements):
        names |= {canonicalize_name(req.name), *map(canonicalize_name, req.extras)}
    return names


@functools.cache
def _distributions(module):
    """Canonical names of the installed distributions that give the import name ``module``."""
    return {canonicalize_name(d) for d in _import_names().get(module, [module])}


@functools.cache
def _import_names():
    return packages_distributions()


def test_every_third_party_import_of_the_library_is_declared():
    from galcube_lib._util.imports import NEEDS

    # which extra a module's imports may come from, besides the core
    extra_of = {name.replace(".", "/"): extra for name, (_, extra) in NEEDS.items()}
    extra_of["galcube_lib/report"] = "lab"
    extra_of["galcube_lib/bench/protocol.py:matplotlib"] = "lab"  # bench.plot draws the figure
    core = _declared(GROUPS["core"])
    undeclared = []
    for module, files in _third_party_imports("galcube_lib").items():
        for file in files:
            extra = next((e for prefix, e in extra_of.items()
                          if file.startswith(prefix) or f"{file}:{module}" == prefix), None)
            allowed = core | (_declared(GROUPS[extra]) if extra else set())
            if not _distributions(module) & allowed:
                undeclared.append(f"{file}: {module} (declare it in "
                                  f"{'[' + extra + ']' if extra else 'the core dependencies'})")
    assert not undeclared, undeclared
    # and the core needs nothing it does not import
    imported = set().union(*map(_distributions, _third_party_imports("galcube_lib")))
    assert _declared(GROUPS["core"]) - {"distributed"} <= imported


def test_every_declared_package_is_used():
    imported = set().union(*map(_distributions, _third_party_imports(
        "galcube_lib", "widgets", "tests", "benchmarks")))
    for group, requirements in GROUPS.items():
        unused = sorted(_declared(requirements) - imported - set(TOOLS) - {"distributed"})
        assert not unused, f"{group} declares packages that nothing imports: {unused}"


def test_binder_postbuild_installs_the_package():
    post = ROOT / "postBuild"
    assert post.is_file() and post.stat().st_mode & 0o111, "postBuild must exist and be executable"
    lines = [ln.strip() for ln in post.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0].startswith("set -e"), "postBuild must stop at the first failing command"
    assert "python -m pip install --no-deps -e ." in lines
    res = subprocess.run(["bash", "-n", str(post)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def _tour_block(readme):
    """The first ```python block after a heading whose text contains 'tour'."""
    m = re.search(r"^#{1,6}[^\n]*tour[^\n]*\n", readme, re.I | re.M)
    if m is None:
        return None
    block = re.search(r"^```python[^\n]*\n(.*?)^```", readme[m.end():], re.S | re.M)
    return block.group(1) if block else None


@pytest.mark.slow
def test_readme_api_tour_runs(tmp_path):
    code = _tour_block((ROOT / "README.md").read_text(encoding="utf-8"))
    if code is None:
        pytest.skip("README.md has no ```python block under a heading containing 'tour' yet")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, (f"README API tour failed after {time.perf_counter() - t0:.1f} s:\n"
                                 f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    if "cube.fits" in code:
        assert (tmp_path / "cube.fits").exists(), "the README tour mentions cube.fits but did not write it"


def _has_doc(obj):
    if not (isinstance(obj, (types.ModuleType, type)) or callable(obj)):
        return True  # plain data (constants) cannot carry their own docstring
    doc = (obj.__doc__ or "").strip()
    # dataclasses without a docstring get an auto-generated "Name(field: type, ...)" one
    auto = isinstance(obj, type) and dataclasses.is_dataclass(obj) and doc.startswith(obj.__name__ + "(")
    return bool(doc) and not auto


def test_public_names_have_docstrings():
    import galcube_lib

    names = getattr(galcube_lib, "__all__", None)
    assert names, "galcube_lib.__all__ should list the public API"
    absent = [n for n in names if not hasattr(galcube_lib, n)]
    assert not absent, f"names in galcube_lib.__all__ that do not exist: {absent}"
    missing = [n for n in names if not _has_doc(getattr(galcube_lib, n))]
    assert not missing, f"public names without a docstring: {missing}"
