"""GeneratorPanel: every simulator parameter as a control with its unit, Generate, Save FITS.

All state lives in :class:`~widgets._generator_model.GeneratorModel`; this module lays out one
control per model parameter (the model's dicts are edited in place), labelled readably with its
unit and described on hover from the library's docstrings, and after each action shows the
model's log and pushes its values (the derived ones too) back into the controls.
"""
from __future__ import annotations

import ipywidgets as w

from ._generator_model import ALTERNATIVES, DIFFUSE, GeneratorModel
from ._panel import Panel, labelled

_STYLE = {"description_width": "180px"}
_LABEL_WIDTH = "184px"            # a row's own label: the description and its gap
_TABS = ("Observation", "Galaxies", "Satellites", "Diffuse", "Noise")


def _parse_optional(text: str):
    """A text box's number, None when empty; other text is kept for the library to refuse."""
    try:
        return None if not text.strip() else float(text)
    except ValueError:
        return text


def _derived(value):
    """A value the library derived, as a disabled box shows it: 6 significant digits."""
    return float(f"{value:.6g}")


def _control(param, values: dict, disks, disabled: bool = False):
    """A widget showing ``values[param.name]`` that writes changes back into ``values``; the
    derived value of an alternative the user does not give (disabled) is rounded."""
    value = values[param.name]
    common = dict(description=param.label, tooltip=param.tooltip, style=_STYLE, disabled=disabled)
    if param.kind == "pair":
        boxes = [w.FloatText(value=_derived(v) if disabled else v, layout=w.Layout(width="90px"),
                             disabled=disabled, tooltip=param.tooltip) for v in value]

        def write(_):
            values[param.name] = tuple(b.value for b in boxes)
        for box in boxes:
            box.observe(write, "value")
        return labelled(param.label, param.tooltip, _LABEL_WIDTH, *boxes)
    if param.kind == "bool":
        box = w.Checkbox(value=value, tooltip=param.tooltip, indent=False, disabled=disabled)
        box.observe(lambda c: values.__setitem__(param.name, c["new"]), "value")
        return labelled(param.label, param.tooltip, _LABEL_WIDTH, box)
    if param.kind == "optional":
        shown = "" if value is None else f"{_derived(value):g}" if isinstance(value, float) else str(value)
        widget = w.Text(value=shown, placeholder="derived", **common)
        widget.observe(lambda c: values.__setitem__(param.name, _parse_optional(c["new"])), "value")
        return widget
    if param.kind in ("choice", "disk"):
        options = tuple(param.choices if param.kind == "choice" else disks)
        widget = w.Dropdown(options=options + (() if value in options else (value,)), value=value, **common)
    else:
        kinds = {"int": w.IntText, "float": w.FloatText}
        widget = kinds[param.kind](value=_derived(value) if disabled else value, **common)
    widget.observe(lambda c: values.__setitem__(param.name, c["new"]), "value")
    return widget


class GeneratorPanel(Panel):
    """Simulate a cube from every parameter of the library, look at it and save it.

    Parameters
    ----------
    rng : int
        Seed of the noise.

    Attributes
    ----------
    model : GeneratorModel
        The state; the panel edits it and shows it.
    widget : ipywidgets.VBox
        The root widget.
    controls : dict
        ``{section: {parameter: widget}}``, sections "observation", "noise", "galaxy 1",
        "galaxy 1 satellite 1", "halo 1", ... (a pair or bool parameter's widget is an HBox of
        its label and its two number boxes or checkbox).
    viewer : CubeViewer or None
        The last generated cube and its truth.
    """

    def __init__(self, *, rng: int = 0):
        self.model = GeneratorModel(rng=rng)
        self._init_panel()
        self.controls = {}
        self.n_galaxies = w.BoundedIntText(value=self.model.n_galaxies, min=1, max=99,
                                           description="galaxies", style=_STYLE)
        self.n_galaxies.observe(lambda c: self._count(setattr, self.model, "n_galaxies", c["new"]), "value")
        self.n_diffuse = {kind: w.BoundedIntText(value=0, min=0, max=99, description=f"{kind.lower()}s",
                                                 style=_STYLE) for kind in DIFFUSE}
        for kind, box in self.n_diffuse.items():
            box.observe(lambda c, k=kind: self._count(self.model.set_n_diffuse, k, c["new"]), "value")
        params = {p.name: p for section in ("observation", "noise") for p in self.model.params(section)}
        self.given = {key: w.ToggleButtons(options=[(params[name].label, name) for name in pair],
                                           tooltips=[params[name].tooltip for name in pair],
                                           value=self.model.given[key], description=f"{key} from",
                                           style=_STYLE)
                      for key, pair in ALTERNATIVES.items()}
        for key, toggle in self.given.items():
            toggle.observe(lambda c, k=key: self._count(self.model.given.__setitem__, k, c["new"]), "value")
        self.noise_path = w.Text(description="noise cube FITS", placeholder="for kind 'cube'", style=_STYLE)
        self.load_button = w.Button(description="Load noise cube", icon="upload")
        self.load_button.on_click(lambda _: self._load_noise())
        self.rng = w.IntText(value=rng, description="rng seed", style=_STYLE)
        self.rng.observe(lambda c: setattr(self.model, "rng", c["new"]), "value")
        # the pages stay; only their contents are laid out again: new tab children make the
        # browser select the first tab
        self.tabs = w.Tab(children=[w.VBox() for _ in _TABS], titles=_TABS)
        self._open = set()                # titles of the open accordion sections
        self.generate_button = w.Button(description="Generate", icon="play", button_style="primary")
        self.generate_button.on_click(lambda _: self.generate())
        self.log = w.Textarea(disabled=True, layout=w.Layout(width="100%", height="90px"))
        self.path = w.Text(value="galcube_cube.fits", description="FITS path")
        self.save_button = w.Button(description="Save FITS", icon="save")
        self.save_button.on_click(lambda _: self.save())
        self.widget = w.VBox([self.tabs, w.HBox([self.generate_button, self.progress, self.status]),
                              self.log, w.HBox([self.path, self.save_button]), self._viewer_box])
        self._rebuild()

    @property
    def cube(self):
        """The last generated Cube, or None."""
        return self.model.cube

    # ------------------------------------------------------------------ layout

    def _form(self, section: str, params, values: dict) -> w.VBox:
        skipped = {a for key, pair in ALTERNATIVES.items() for a in pair if a != self.model.given[key]}
        disks = self.model.disk_names()
        self.controls[section] = {p.name: _control(p, values, disks, disabled=p.name in skipped)
                                  for p in params}
        return w.VBox(list(self.controls[section].values()))

    def _accordion(self, items) -> w.Accordion:
        """An Accordion of (section, params, values) forms, titled by section; the section that
        was open stays open when the forms are laid out again."""
        titles = tuple(item[0] for item in items)
        opened = next((i for i, title in enumerate(titles) if title in self._open), None)
        accordion = w.Accordion(children=[self._form(*item) for item in items], titles=titles,
                                selected_index=opened)

        def remember(change):
            self._open.difference_update(titles)
            if change["new"] is not None:
                self._open.add(titles[change["new"]])
        accordion.observe(remember, "selected_index")
        return accordion

    def _rebuild(self) -> None:
        """Lay the controls out again from the model's current values and counts."""
        m = self.model
        self.controls = {}
        observation = self._form("observation", m.params("observation"), m.observation)
        galaxies = [(f"galaxy {g + 1}", m.params("galaxy"), spec) for g, spec in enumerate(m.galaxies)]
        satellites = []
        for g, sats in enumerate(m.satellites):
            count = w.BoundedIntText(value=len(sats), min=0, max=99, style=_STYLE,
                                     description=f"satellites of galaxy {g + 1}")
            count.observe(lambda c, g=g: self._count(m.set_n_satellites, g, c["new"]), "value")
            forms = [(f"galaxy {g + 1} satellite {s + 1}", m.params("satellite"), spec)
                     for s, spec in enumerate(sats)]
            satellites += [count, self._accordion(forms)]
        diffuse = [(f"{spec['kind'].lower()} {i + 1}", m.params("diffuse", spec["kind"]), spec)
                   for i, spec in enumerate(m.diffuse)]
        noise = self._form("noise", m.params("noise"), m.noise)
        note = w.HTML("<i>a satellite's centre offset and systemic velocity are relative to its "
                      "host galaxy</i>")
        pages = [[self.given["pixel"], self.given["beam"], observation],
                 [self.n_galaxies, self._accordion(galaxies)],
                 [note, *satellites],
                 [*self.n_diffuse.values(), self._accordion(diffuse)],
                 [self.given["level"], noise, w.HBox([self.noise_path, self.load_button]), self.rng]]
        for page, children in zip(self.tabs.children, pages):
            page.children = children

    def _count(self, setter, *args) -> None:
        """Change a count (or a given alternative) in the model and lay the controls out again."""
        setter(*args)
        self._rebuild()

    def _show_log(self) -> None:
        self.log.value = "\n".join(self.model.log)

    # ------------------------------------------------------------------ actions

    def generate(self):
        """Generate a cube from the controls (the Generate button); show it beside its truth.

        Returns
        -------
        Cube or None
            None when a parameter was refused (the log says which).
        """
        self.progress.bar_style = ""
        cube = self.model.generate(progress=self._report)
        self._show_log()
        if cube is None:
            self._fail(self.model.error)
            return None
        self.progress.bar_style = "success"
        self._rebuild()                   # derived values (pixel_arcsec, rms_jy, ...)
        self._show_cubes({"noisy": cube, "truth": cube.replace(data=cube.clean, noise=None)})
        return cube

    def _load_noise(self) -> None:
        self.model.load_noise_cube(self.noise_path.value)
        self._show_log()
        if self.model.error:
            self._error(self.model.error)

    def save(self) -> None:
        """Write the last cube to the path box's file (the Save FITS button); a failure is
        shown in red and logged."""
        try:
            self.model.save_fits(self.path.value)
        except (RuntimeError, OSError, ValueError, TypeError) as exc:
            self.model.log.append(f"error: {exc}")
            self._error(exc)
        else:
            self.status.value = ""
        self._show_log()
