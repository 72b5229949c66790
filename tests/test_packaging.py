"""Packaging checks: environment.yml mirrors pyproject, light import, README tour, docstrings."""
import dataclasses
import json
import re
import subprocess
import sys
import textwrap
import time
import tomllib
import types
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "bokeh", "holoviews", "dask")


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


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env_text = (ROOT / "environment.yml").read_text()
    pip = _pip_section(env_text)
    options = [p for p in pip if p.startswith("-")]
    # repo2docker builds the environment before copying the repository: the package itself
    # must come from postBuild, and torch from PyTorch's CPU index (no CUDA libraries)
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"], options
    want = {_key(r) for r in project["dependencies"]}
    got = {_key(r) for r in pip if r not in options}
    assert got == want, (f"only in environment.yml: {sorted(map(str, got - want))}; "
                         f"only in pyproject: {sorted(map(str, want - got))}")
    assert len(pip) - len(options) == len(project["dependencies"]), "duplicate entries in environment.yml pip list"
    assert re.search(r"^\s*-\s*python\s*=\s*3\.11\s*$", env_text, re.M), "environment.yml must pin python=3.11"
    assert "conda-forge" in env_text


def test_binder_postbuild_installs_the_package():
    post = ROOT / "postBuild"
    assert post.is_file() and post.stat().st_mode & 0o111, "postBuild must exist and be executable"
    lines = [ln.strip() for ln in post.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0].startswith("set -e"), "postBuild must stop at the first failing command"
    assert "python -m pip install --no-deps -e ." in lines
    res = subprocess.run(["bash", "-n", str(post)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_import_is_light():
    code = textwrap.dedent(f"""
        import json, sys
        import galcube_lib
        heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})
        print(json.dumps({{"heavy": heavy}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert not res["heavy"], f"`import galcube_lib` pulled in heavy modules: {res['heavy']}"


def _tour_block(readme):
    """The first ```python block after a heading whose text contains 'tour'."""
    m = re.search(r"^#{1,6}[^\n]*tour[^\n]*\n", readme, re.I | re.M)
    if m is None:
        return None
    block = re.search(r"^```python[^\n]*\n(.*?)^```", readme[m.end():], re.S | re.M)
    return block.group(1) if block else None


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
