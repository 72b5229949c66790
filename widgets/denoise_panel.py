"""DenoisePanel: pick a method and its options, run it, compare the figures and the cubes.

All state lives in :class:`~widgets._denoise_model.DenoiseModel`; this module builds one control
per option of the chosen method (rebuilt when the method changes), forwards edits to the model
and shows its metrics table and a CubeViewer of noisy / denoised / truth / residual.
"""
from __future__ import annotations

import ipywidgets as w

from ._denoise_model import REAL_FIGURES, TRUTH_FIGURES, DenoiseModel
from ._panel import Panel, labelled

_STYLE = {"description_width": "190px"}   # the longest option name
_LABEL_WIDTH = "194px"                    # a checkbox's own label: the description and its gap
_VALUE_WIDGETS = {"int": w.IntText, "float": w.FloatText, "text": w.Text}


def _option_widget(option, value):
    """A control for one option; tuples and optional numbers are text boxes holding a Python
    literal, empty for None; a checkbox's name is a label beside it (:func:`labelled`)."""
    if option.kind == "bool":
        return w.Checkbox(value=value, tooltip=option.doc, indent=False)
    common = dict(description=option.name, tooltip=option.doc, style=_STYLE)
    if option.kind == "choice":
        return w.Dropdown(options=option.choices, value=value, **common)
    if option.kind in _VALUE_WIDGETS:
        return _VALUE_WIDGETS[option.kind](value=value, **common)
    return w.Text(value="" if value is None else str(value), placeholder="default", **common)


class DenoisePanel(Panel):
    """Denoise a cube with any method of the library and compare the results.

    Parameters
    ----------
    cube : Cube
        The noisy cube.
    truth : Cube or array, optional
        The noise-free truth (default ``cube.clean``); without one the figures are the
        real-data ones of :func:`galcube_lib.metrics.real.evaluate_real`.

    Attributes
    ----------
    model : DenoiseModel
        The state; the panel edits it and shows it.
    widget : ipywidgets.VBox
        The root widget.
    option_widgets : dict
        The chosen method's option controls by option name.
    metrics : ipywidgets.HTML
        The metrics table, one row per run.
    viewer : CubeViewer or None
        Noisy, denoised, truth (when known) and residual of the shown run.
    """

    def __init__(self, cube, *, truth=None):
        self.model = DenoiseModel(cube, truth=truth)
        self._init_panel()
        self.method = w.Dropdown(options=self.model.methods, value=self.model.method, description="method")
        self.method.observe(lambda c: self._choose(c["new"]), "value")
        self.options_box = w.VBox()
        self.bars = w.Checkbox(value=True, description="method progress bars")
        self.run_button = w.Button(description="Run", icon="play", button_style="primary")
        self.run_button.on_click(lambda _: self.run())
        self.output = w.Output()
        self.metrics = w.HTML()
        self.shown_run = w.Dropdown(description="compare run", options=[], style=_STYLE)
        self.shown_run.observe(lambda c: self._show(c["new"]), "value")
        self.widget = w.VBox([w.HBox([self.method, self.run_button, self.progress, self.status]),
                              self.options_box, self.bars, self.output, self.metrics,
                              self.shown_run, self._viewer_box])
        self._choose(self.model.method)

    def _choose(self, method: str) -> None:
        """Select a method and lay out its option controls."""
        self.model.method = method
        self.option_widgets = {name: _option_widget(opt, self.model.value(name))
                               for name, opt in self.model.available.items()}
        for name, widget in self.option_widgets.items():
            widget.observe(lambda c, n=name: self._set(n, c["new"]), "value")
        self.options_box.children = [
            labelled(name, widget.tooltip, _LABEL_WIDTH, widget) if isinstance(widget, w.Checkbox)
            else widget for name, widget in self.option_widgets.items()]

    def _set(self, name: str, value) -> None:
        try:
            self.model.set_option(name, value)
        except (ValueError, TypeError) as exc:
            self._error(exc)
        else:
            self.status.value = ""

    def run(self):
        """Run the chosen method (the Run button): add its row to the table and show it.

        Returns
        -------
        Cube or None
            The denoised cube; None when the run failed: the library's message in red in the
            status line, the progress bar red, the panel ready for the next run.
        """
        self.progress.bar_style = ""
        # the error is caught inside the Output: in a kernel, an exception leaving it is printed
        # there as a traceback and swallowed, and the panel would never hear of it
        with self.output:
            try:
                for name, widget in self.option_widgets.items():   # a refused value still shown
                    self.model.set_option(name, widget.value)      # must not run as the default
                den = self.model.run(progress=self._report, bars=self.bars.value)
            except Exception as exc:      # any failure; the library's own are ValueError/TypeError
                clear = isinstance(exc, (ValueError, TypeError))
                self._fail(exc if clear else f"{type(exc).__name__}: {exc}")
                return None
        self.progress.bar_style = "success"
        labels = REAL_FIGURES if self.model.truth is None else TRUTH_FIGURES
        table = self.model.metrics_table().rename(columns=labels)
        self.metrics.value = table.reset_index().to_html(index=False, float_format="{:.3g}".format,
                                                         classes="gc-metrics")   # one header row
        runs = [(f"{i + 1}: {r.method}", i) for i, r in enumerate(self.model.runs)]
        self.shown_run.options = runs
        self.shown_run.value = runs[-1][1]
        return den

    def _show(self, run) -> None:
        """Show run ``run`` (an index into ``model.runs``) in the viewer."""
        if run is None:
            return
        self._show_cubes(self.model.comparison(run))
