"""Every public function, method and class of galcube_lib has a numpydoc docstring.

A function's docstring has a Parameters section naming exactly its parameters, in order
(``self``/``cls`` left out; ``*args``/``**kwargs`` optional), when it has any, and a Returns
(or, for a generator, Yields) section unless it returns None. A class documents its constructor's
parameters (a dataclass its fields) under Parameters or Attributes; a property has a docstring
saying what it is. The Examples of the main entry points run as doctests.

Public means: the name does not start with "_", in a module whose dotted path has no part
starting with "_" (``__main__`` is a script, not a module).
"""
from __future__ import annotations

import ast
import dataclasses
import doctest
import importlib
import inspect
import pkgutil
import re
import textwrap

import numpy as np
import pytest

import galcube_lib as gl

ENTRY_POINTS = ("simulate", "add_noise", "read_fits", "denoise", "metrics.evaluate",
                "generate_dataset")
HEADER = re.compile(r"^(\S[^\n]*)\n(-+)$", re.M)


def public_modules() -> list[str]:
    names = ["galcube_lib"]
    for info in pkgutil.walk_packages(gl.__path__, "galcube_lib."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def sections(doc: str | None) -> dict[str, str]:
    """The numpydoc sections of ``doc``: title -> body (lines under the dashes, dedented)."""
    text = inspect.cleandoc(doc or "")
    found = {}
    heads = [m for m in HEADER.finditer(text) if len(m.group(2)) == len(m.group(1).rstrip())]
    for m, nxt in zip(heads, heads[1:] + [None]):
        found[m.group(1).strip()] = text[m.end():nxt.start() if nxt else len(text)]
    return found


def entry_names(body: str) -> list[str]:
    """The names a Parameters/Attributes section documents: its unindented ``name : type`` lines."""
    names = []
    for line in body.splitlines():
        if line.strip() and not line[0].isspace():
            head = line.split(" : ")[0] if " : " in line else line
            names += [n.strip().lstrip("*") for n in head.split(",") if n.strip()]
    return names


def returns_value(func) -> tuple[bool, bool]:
    """(returns something other than None, is a generator), read from the source."""
    try:
        source = textwrap.dedent(inspect.getsource(inspect.unwrap(func)))
    except (OSError, TypeError):
        return True, False
    node = ast.parse(source).body[0]
    value = generator = False
    todo = list(node.body)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(n, ast.Return) and n.value is not None and not (
                isinstance(n.value, ast.Constant) and n.value.value is None):
            value = True
        if isinstance(n, (ast.Yield, ast.YieldFrom)):
            generator = True
        todo.extend(ast.iter_child_nodes(n))
    return value, generator


def check_function(func, qualname: str, method: bool = False) -> list[str]:
    if not (func.__doc__ or "").strip():
        return [f"{qualname}: no docstring"]
    problems = []
    found = sections(func.__doc__)
    params = list(inspect.signature(func).parameters.values())
    if method and params and params[0].name in ("self", "cls"):
        params = params[1:]
    required = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    optional = {p.name for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if params:
        if "Parameters" not in found:
            problems.append(f"{qualname}: no Parameters section")
        else:
            listed = [n for n in entry_names(found["Parameters"]) if n not in optional]
            if listed != required:
                problems.append(f"{qualname}: Parameters lists {listed}, the signature has {required}")
    annotation = inspect.signature(func).return_annotation
    value, generator = returns_value(func)
    if generator:
        if "Yields" not in found:
            problems.append(f"{qualname}: a generator without a Yields section")
    elif value and annotation not in (None, "None") and "Returns" not in found:
        problems.append(f"{qualname}: no Returns section")
    return problems


def constructor_params(cls) -> list[str] | None:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    if hasattr(cls, "_fields") and issubclass(cls, tuple):   # NamedTuple
        return list(cls._fields)
    if "__init__" in vars(cls):
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return None


def check_class(cls, qualname: str) -> list[str]:
    if not (cls.__doc__ or "").strip():
        return [f"{qualname}: no docstring"]
    problems = []
    params = constructor_params(cls)
    if params:
        found = sections(cls.__doc__)
        documented = [n for key in ("Parameters", "Attributes") if key in found
                      for n in entry_names(found[key])]
        missing = [p for p in params if p not in documented]
        extra = [n for n in entry_names(found.get("Parameters", "")) if n not in params]
        if missing:
            problems.append(f"{qualname}: Parameters/Attributes miss {missing}")
        if extra:
            problems.append(f"{qualname}: Parameters lists {extra}, not constructor parameters")
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        where = f"{qualname}.{name}"
        if isinstance(member, property):
            if not (member.fget.__doc__ or "").strip():
                problems.append(f"{where}: a property without a docstring")
        elif isinstance(member, (staticmethod, classmethod)):
            problems += check_function(member.__func__, where,
                                       method=isinstance(member, classmethod))
        elif inspect.isfunction(member):
            problems += check_function(member, where, method=True)
    return problems


def module_problems(name: str) -> list[str]:
    module = importlib.import_module(name)
    problems = []
    for attr, obj in sorted(vars(module).items()):
        if attr.startswith("_") or getattr(obj, "__module__", None) != name:
            continue
        if inspect.isclass(obj):
            problems += check_class(obj, f"{name}.{attr}")
        elif inspect.isfunction(obj):
            problems += check_function(obj, f"{name}.{attr}")
    return problems


@pytest.mark.parametrize("name", public_modules())
def test_public_docstrings(name):
    problems = module_problems(name)
    assert not problems, "\n".join(problems)


def test_the_checker_sees_a_missing_section():
    def f(a, *args, b=1, **kwargs):
        """Summary.

        Parameters
        ----------
        a : int
            Something.
        """
        return a

    assert check_function(f, "f") == ["f: Parameters lists ['a'], the signature has ['a', 'b']",
                                      "f: no Returns section"]

    def g(a, b):
        """Summary.

        Parameters
        ----------
        a, b : float
            Two numbers.

        Yields
        ------
        float
            Their sum.
        """
        yield a + b

    assert check_function(g, "g") == []

    def h(a) -> None:
        """Summary only."""
        return None

    assert check_function(h, "h") == ["h: no Parameters section"]


def test_the_checker_sees_an_undocumented_field_and_property():
    @dataclasses.dataclass
    class Point:
        """A point.

        Parameters
        ----------
        x : float
            Abscissa.
        z : float
            Not a field.
        """

        x: float
        y: float

        @property
        def norm(self):
            return abs(self.x)

    assert check_class(Point, "Point") == ["Point: Parameters/Attributes miss ['y']",
                                           "Point: Parameters lists ['z'], not constructor parameters",
                                           "Point.norm: a property without a docstring"]


def resolve(path: str):
    obj = gl
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("path", ENTRY_POINTS)
def test_entry_point_examples_run(path):
    func = resolve(path)
    assert "Examples" in sections(func.__doc__), f"gl.{path} has no Examples section"
    tests = doctest.DocTestFinder(recurse=False).find(func, f"gl.{path}",
                                                       globs={"gl": gl, "np": np})
    examples = [t for t in tests if t.examples]
    assert examples, f"gl.{path}: the Examples section has no >>> lines"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    for test in examples:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
