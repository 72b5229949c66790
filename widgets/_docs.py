"""What the library's numpydoc docstrings say about each parameter: the one reader of them that
the panels' labels, kinds and tooltips use."""
from __future__ import annotations

import inspect
import re

_SECTION = re.compile(r"^(?:Parameters|Attributes)\n-+\n(.*?)(?=\n\n\w[\w ]*\n-+\n|\Z)", re.S | re.M)
_ENTRY = re.compile(r"^(\w[\w, ]*?)(?: : (.+))?\n((?: {4}.+\n?)*)", re.M)


def parameter_docs(obj) -> dict:
    """``{name: (type text, description)}`` from the "Parameters" and "Attributes" sections of
    ``obj``'s docstring; a description's lines are joined into one ("" when there is none), and
    an entry naming several parameters ("a, b : Galaxy") is given to each."""
    out = {}
    for section in _SECTION.finditer(inspect.getdoc(obj) or ""):
        for names, kind, desc in _ENTRY.findall(section.group(1)):
            for name in names.split(", "):
                out[name] = (kind, " ".join(desc.split()))
    return out
