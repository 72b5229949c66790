"""Jupyter widgets over galcube_lib: generate, view, denoise and compare cubes.

Each widget keeps its logic in a plain Python model (no ipywidgets or bokeh) that tests drive
without a browser; the widget classes are thin views over those models::

    from widgets import GeneratorPanel, CubeViewer, DenoisePanel
    panel = GeneratorPanel()                  # every simulator parameter, Generate, Save FITS
    CubeViewer({"noisy": noisy, "truth": clean})
    DenoisePanel(noisy, truth=clean)          # pick a method, run, metrics table + comparison
    PropertyExplorer(test_pairs, predictions) # true against predicted property maps
    PdrExplorer(lines, intensity, sigma, result, grid)  # click a pixel: its posterior and lines

Names load on first use, so ``import widgets`` stays quick.
"""
from importlib import import_module

_WHERE = {"CubeViewer": "viewer", "ViewerModel": "_viewer_model",
          "GeneratorPanel": "generator", "GeneratorModel": "_generator_model",
          "DenoisePanel": "denoise_panel", "DenoiseModel": "_denoise_model",
          "PropertyExplorer": "property_explorer", "PropertyModel": "_property_model",
          "PdrExplorer": "pdr_explorer", "PdrModel": "_pdr_model"}

__all__ = [*_WHERE, "plots"]


def __getattr__(name):
    if name == "plots":
        return import_module(".plots", __name__)
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
