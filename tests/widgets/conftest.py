"""The widget tests read the real cubes listed by tests/io/test_real_cubes.py (``REAL``, ``CUBES``,
``EXTRA``): make that module importable when tests/widgets runs on its own."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
