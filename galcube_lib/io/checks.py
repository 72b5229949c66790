"""Argument checks for code built on galcube_lib, such as the widgets: each error names the
parameter, its value and the valid range, as the library's own do (these are the library's,
from its private ``_util.checks``). The check of a Cube argument is
:func:`galcube_lib.io.cube.check_cube`."""
from galcube_lib._util.checks import boolean, choice, integer, number, real_array, sequence

__all__ = ["boolean", "choice", "integer", "number", "real_array", "sequence"]
