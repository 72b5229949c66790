"""What the generator and denoise panels share: a progress bar with a status line, a
CubeViewer that appears on first use, and the notebook display of the root widget."""
from __future__ import annotations

import html

import ipywidgets as w


def labelled(text: str, tooltip: str, width: str, *controls) -> w.HBox:
    """``controls`` after a label ``width`` wide that shows ``tooltip`` on hover, for controls
    whose own description cannot: a pair of number boxes, or a checkbox (ipywidgets shows a
    checkbox's tooltip only when it has no description)."""
    layout = w.Layout(width=width, display="flex", justify_content="flex-end")   # as descriptions
    return w.HBox([w.Label(text, tooltip=tooltip, layout=layout), *controls])


class Panel:
    """Base of the panels; subclasses set ``widget`` (the root) after :meth:`_init_panel`."""

    def _init_panel(self) -> None:
        self.viewer = None
        self.progress = w.IntProgress(min=0, max=100, description="progress")
        self.status = w.HTML()
        self.progress.add_class("gc-progress")
        self.status.add_class("gc-status")
        self._viewer_box = w.Box()

    def _report(self, fraction: float, text: str) -> None:
        """The models' ``progress(fraction, text)`` callback."""
        self.progress.value = round(100 * fraction)
        self.status.value = html.escape(text)

    def _error(self, message) -> None:
        """Show ``message`` (text or an exception) in red in the status line."""
        self.status.value = f"<span style='color:#b00'>{html.escape(str(message))}</span>"

    def _fail(self, message) -> None:
        """An action failed: the progress bar full and red, ``message`` in the status line."""
        self.progress.value, self.progress.bar_style = self.progress.max, "danger"
        self._error(message)

    def _show_cubes(self, cubes: dict) -> None:
        """Show ``cubes`` (name -> Cube) in the viewer, creating it the first time."""
        if self.viewer is None:
            from .viewer import CubeViewer

            self.viewer = CubeViewer(cubes)
            self._viewer_box.children = [self.viewer.widget]
        else:
            self.viewer.set_cubes(cubes)

    def _repr_mimebundle_(self, **kwargs):
        from .viewer import load_bokehjs

        load_bokehjs()   # the viewer appears later, inside this widget, and needs BokehJS
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # what a static export (nbconvert HTML) shows instead of the live widget
        bundle["text/plain"] = f"{type(self).__name__} (interactive: run the notebook in Jupyter to use it)"
        return bundle
