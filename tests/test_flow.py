"""The architecture as a test: every module imports, imports run only along the flow
parameters -> sim -> noise -> Cube -> denoise -> metrics -> datasets/training/inference/bench -> report ->
widgets, and no two modules import each other in a cycle."""
import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import galcube_lib
import widgets

ROOT = Path(galcube_lib.__file__).resolve().parents[1]
#: stage of each top-level part, in the order of the flow; a module may import its own stage
#: and earlier ones only
STAGES = ["_version", "_util", "io", "sim", "noise", "denoise", "metrics", "datasets", "training",
          "inference", "pdr", "bench", "report"]


def _modules():
    for package in (galcube_lib, widgets):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not info.name.endswith("__main__"):
                yield info.name


MODULES = sorted(_modules())


def _path(module: str) -> Path:
    rel = Path(*module.split("."))
    file = ROOT / rel.with_suffix(".py")
    return file if file.exists() else ROOT / rel / "__init__.py"


def _imports(module: str, top_level_only: bool = False) -> set[str]:
    """Modules of this project that ``module`` imports (relative imports resolved)."""
    path = _path(module)
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {name for name in found if name.split(".")[0] in ("galcube_lib", "widgets")}


def _stage(module: str) -> int:
    parts = module.split(".")
    if parts[0] == "widgets":
        return len(STAGES) + 1
    if len(parts) == 1:            # ``import galcube_lib``: the public face, for widgets only
        return len(STAGES)
    return STAGES.index(parts[1])


def test_stages_name_every_part_of_the_package():
    parts = {m.split(".")[1] for m in MODULES if m.startswith("galcube_lib.")}
    assert parts == set(STAGES)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports(module):
    importlib.import_module(module)


@pytest.mark.parametrize("module", MODULES)
def test_imports_run_along_the_flow(module):
    against = sorted(name for name in _imports(module) if _stage(name) > _stage(module))
    assert not against, f"{module} imports later stages of the flow: {against}"


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("widgets")])
def test_widgets_use_only_the_public_library(module):
    private = sorted(name for name in _imports(module)
                     if name.startswith("galcube_lib.") and any(p.startswith("_") for p in name.split(".")[1:]))
    assert not private, f"{module} imports private parts of galcube_lib: {private}"


def test_no_import_cycles():
    graph = {m: {n for n in _imports(m, top_level_only=True) if n in MODULES and n != m} for m in MODULES}
    state, cycles = {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for module in MODULES:
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import cycles: {cycles}"


def test_the_checks_see_an_import_against_the_flow(tmp_path, monkeypatch):
    """The flow check itself: a module that imports a later stage is found."""
    assert _stage("galcube_lib.io.cube") < _stage("galcube_lib.sim.simulate") < _stage("galcube_lib.denoise")
    imports = _imports("galcube_lib.report.display")
    assert "galcube_lib.metrics" in imports or any(i.startswith("galcube_lib.metrics") for i in imports)


def test_the_readme_layout_is_the_tree():
    """Every subpackage and top-level module of galcube_lib appears in the README's Layout
    picture under its own name, and the picture names none that is gone."""
    readme = (ROOT / "README.md").read_text()
    picture = readme.split("## Layout", 1)[1].split("```")[1]
    drawn = {line.split()[0] for line in picture.splitlines()
             if line.strip() and line.startswith("  ") and not line.startswith("    " * 4)}
    drawn = {name for name in drawn if name.endswith(("/", ".py"))}
    lib = ROOT / "galcube_lib"
    parts = {p.name + "/" for p in lib.iterdir() if (p / "__init__.py").exists()}
    parts |= {p.name for p in lib.glob("*.py") if p.name not in ("__init__.py", "_version.py")}
    parts |= {p.name + "/" for p in (lib / "denoise").iterdir() if (p / "__init__.py").exists()}
    assert drawn == parts
