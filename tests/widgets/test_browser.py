"""The widgets in a real browser: voila serves tests/widgets/browser/widgets.ipynb, Playwright
drives Debian's Chromium (/usr/bin/chromium) headless, and the tests check what the page shows
against the cubes of tests/widgets/browser/scenes.py.

- CubeViewer, of a simulated cube and of a real cube with a standard RA---SIN header, each with a
  source east of the centre: in the screenshot's pixels the source is drawn left of the centre of
  the image frame, where the WCS puts it; a click on the drawn source selects a pixel whose value
  in the cube is the source's, and the label shows that value; the channel slider changes the
  channel and the image.
- DenoisePanel, on the real cube: a bad option and Run show the library's message and a red bar;
  a good option and Run then work and show the viewer.
- PropertyExplorer, of two test galaxies whose predictions are the truth plus a known offset per
  galaxy: its table shows that offset as the scatter and a coverage of 1 or 0 (the offset within
  or beyond the sigma); choosing the other galaxy shows the other offset and redraws the maps.
- PdrExplorer, of line maps of a known (log n, log G0): a click on its map selects a pixel whose
  shown log n is the truth there, and the figures are redrawn.
- GeneratorPanel: the controls carry their docstring on hover; Generate, pressed on the Noise tab,
  shows a cube and stays on that tab.

The page imports the PropertyExplorer, and with it HoloViews' plotting and panel, before any
figure is shown: BokehJS must still reach the page (panel's bokeh extension, which
``bokeh.io.output_notebook`` would bundle in, fails to load in voila and took BokehJS with it).

Full-page screenshots are kept in outputs/test-artifacts/browser/ (git-ignored), one per step.
Skipped, saying what is missing, when Chromium, playwright or voila is absent; `.ci/run` installs
Chromium.
"""
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "tests" / "widgets" / "browser" / "widgets.ipynb"
ARTIFACTS = ROOT / "outputs" / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("GALCUBE_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps dialling out; a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SERVER_START_S = 60       # voila answering HTTP
PAGE_RENDER_S = 150       # notebook executed in the kernel and the widgets drawn
UPDATE_S = 30             # one Python round trip (slider -> label/image, click -> pixel/spectrum)
#: how far (a fraction of the frame's width) a source may be drawn from where the WCS puts it
PLACE_TOLERANCE = 0.03

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]


def _missing():
    missing = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"Chromium ({CHROMIUM}; install it with `apt-get install chromium`)")
    for module, package in (("playwright", "playwright"), ("voila", "voila")):
        if importlib.util.find_spec(module) is None:
            missing.append(f"{package} (`pip install -e '.[test]'`)")
    return missing


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url):
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True           # any HTTP status: the server is up
    except OSError:
        return False
    return True


def _parent_death_signal():
    """Linux: a preexec_fn that has the child get SIGTERM when pytest dies (PR_SET_PDEATHSIG),
    so a killed test run leaves no voila behind. Resolved here, before the fork."""
    if sys.platform != "linux":
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    """A voila server for tests/widgets/browser/viewer.ipynb on a free localhost port, torn down after."""
    missing = _missing()
    if missing:
        pytest.skip("real-browser test needs " + "; ".join(missing))
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = tmp_path_factory.mktemp("voila") / "voila.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1", "--Voila.token=", "--show_tracebacks=True"]
    with open(log_path, "w") as log:
        # own process group, so the kernel voila starts goes down with it; the preexec_fn only
        # calls prctl, which is safe after a fork
        proc = subprocess.Popen(cmd, cwd=NOTEBOOK.parent, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_parent_death_signal())
    try:
        deadline = time.monotonic() + SERVER_START_S
        # a path voila answers (403) without executing the notebook
        while not _answers(url + "voila/files/ping"):
            if proc.poll() is not None:
                pytest.fail(f"voila exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"voila did not answer on {url} within {SERVER_START_S} s:\n"
                            f"{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url, log_path
    finally:
        _stop(proc)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_path, ARTIFACTS / "voila.log")


def _stop(proc):
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _channel(text):
    found = re.search(r"channel\s+(\d+)", text)
    assert found, f"channel label {text!r} does not say 'channel <k>'"
    return int(found.group(1))


def _wait_for_change(read, before, what, timeout_s=UPDATE_S):
    """Poll read() until it differs from before; returns the new value."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = read()
        if now != before:
            return now
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not change within {timeout_s} s", pytrace=False)
        time.sleep(0.25)


def _settled(locator, timeout_s=5.0):
    """An element screenshot once two in a row agree, so a half-finished paint is not compared."""
    deadline = time.monotonic() + timeout_s
    last = locator.screenshot()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = locator.screenshot()
        if now == last:
            return now
        last = now
    return last


def _rgb(png):
    """A PNG screenshot as an (h, w, 3) integer array."""
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _pixels_differ(png_a, png_b):
    """Fraction of pixels that differ between two PNG screenshots (1.0 if the sizes differ)."""
    a, b = _rgb(png_a), _rgb(png_b)
    if a.shape != b.shape:
        return 1.0
    return float(np.any(a != b, axis=-1).mean())


def _near(rgb, colour, tolerance=40):
    """Where an (h, w, 3) image is within ``tolerance`` (summed over R, G, B) of a "#rrggbb"."""
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return np.abs(rgb - target).sum(-1) < tolerance


def _drawn_source(png):
    """Where the brightest source is drawn in a screenshot of an image figure, as fractions
    (from the left, from the top) of its image frame, and the frame (left, top, width, height)
    in the screenshot's pixels. The frame is the rectangle of the palette's lowest colour (the
    empty sky, 0); the source is the centroid of the pixels of its highest colour inside it."""
    from widgets._viewer_figures import SEQUENTIAL

    rgb = _rgb(png)
    sky = _near(rgb, SEQUENTIAL[0])
    cols, rows = sky.sum(0), sky.sum(1)
    xs, ys = np.flatnonzero(cols > cols.max() / 2), np.flatnonzero(rows > rows.max() / 2)
    left, top, width, height = xs[0], ys[0], xs[-1] + 1 - xs[0], ys[-1] + 1 - ys[0]
    bright = _near(rgb[top:top + height, left:left + width], SEQUENTIAL[-1])
    assert bright.sum() > 20, "no source drawn in the palette's brightest colour inside the frame"
    y, x = np.nonzero(bright)
    return ((x.mean() + 0.5) / width, (y.mean() + 0.5) / height), (left, top, width, height)


def _expected_place(cube, channel):
    """Where the source of ``cube`` must be drawn, as a fraction of the frame's width from the
    left, with east on the left: 0.5 minus its distance east of the field's centre, in field
    widths. The side comes from the WCS (right ascension grows toward the east)."""
    image = cube.data[channel]
    _, nx = image.shape
    x = float((image.sum(0) * np.arange(nx)).sum() / image.sum())       # the source's centroid
    ra = cube.wcs.celestial.pixel_to_world_values([x, (nx - 1) / 2], [(nx - 1) / 2] * 2)[0]
    east = (ra[0] - ra[1] + 180) % 360 - 180 > 0
    away = abs(x - (nx - 1) / 2) / nx
    return 0.5 - away if east else 0.5 + away, east


def _scope_wait(page, scope, timeout_s=PAGE_RENDER_S):
    """Wait until the viewer inside ``scope`` (a css selector) has drawn its figures."""
    page.locator(f"{scope} .gc-image canvas").first.wait_for(timeout=timeout_s * 1000)
    page.locator(f"{scope} .gc-spectrum canvas").first.wait_for(timeout=UPDATE_S * 1000)


def _wait_rendered(page):
    """Wait until the notebook has run and the widgets are drawn; fail fast if not."""
    # the notebook has run when the last widget shows, or it failed with a traceback
    traceback = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]:has-text("Traceback")')
    page.locator(".gc-test-generator").or_(traceback).first.wait_for(timeout=PAGE_RENDER_S * 1000)
    if traceback.count():
        pytest.fail(f"{NOTEBOOK.name} failed in voila:\n{traceback.first.inner_text()[-3000:]}",
                    pytrace=False)
    # the bokeh figures draw into canvases; a widget that fails shows ipywidgets' error box
    broken = page.locator(".jupyter-widgets-error-widget")
    page.locator(".gc-test-real .gc-image canvas").or_(broken).first.wait_for(timeout=PAGE_RENDER_S * 1000)
    if broken.count():
        bokehjs = page.evaluate("typeof window.Bokeh")
        hint = " - BokehJS was never loaded on the page" if bokehjs == "undefined" else ""
        pytest.fail(f"{broken.count()} widget(s) failed to render in the browser (ipywidgets error "
                    f"box); typeof window.Bokeh = {bokehjs!r}{hint}", pytrace=False)
    for scope in (".gc-test-simulated", ".gc-test-real"):
        _scope_wait(page, scope)


def _check_orientation(page, scope, cube):
    """The source east of the centre is drawn left of the frame's centre, where the WCS puts it;
    returns the frame and where the source is drawn in the image's screenshot."""
    image = page.locator(f"{scope} .gc-image").first
    channel = _channel(page.locator(f"{scope} .gc-channel-label").first.inner_text())
    (fx, fy), frame = _drawn_source(_settled(image))
    expected, east = _expected_place(cube, channel)
    assert east, f"{scope}: the test's source is not east of the centre"
    print(f"{scope}: source drawn at {fx:.3f} of the frame's width (east is left: expected "
          f"{expected:.3f}); frame {frame} in the image's screenshot")
    assert abs(fx - expected) < PLACE_TOLERANCE, (
        f"{scope}: the source, east of the centre, is drawn at {fx:.3f} of the image's width from "
        f"the left, not at {expected:.3f}" + (": the image is mirrored east-west"
                                             if abs(1 - fx - expected) < PLACE_TOLERANCE else ""))
    return frame, (fx, fy)


def _pixel_and_value(text):
    """(x, y) and the cube's value from the viewer's pixel label."""
    found = re.search(r"pixel \((\d+), (\d+)\).*?\bcube (-?[\d.]+(?:e[-+]?\d+)?)", text)
    assert found, f"pixel label {text!r} does not say 'pixel (x, y) ... cube <value>'"
    return (int(found.group(1)), int(found.group(2))), float(found.group(3))


def _click_source(page, scope, cube, frame, place):
    """A click on the drawn source: the pixel label names a pixel of the source whose value is the
    cube's there, and the spectrum changes."""
    image = page.locator(f"{scope} .gc-image").first
    label = page.locator(f"{scope} .gc-pixel-label").first
    spectrum = page.locator(f"{scope} .gc-spectrum").first
    before = label.inner_text()
    spectrum0 = _settled(spectrum)
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    left, top, width, height = frame
    # the screenshot's pixels are CSS pixels (device scale factor 1)
    page.mouse.click(box["x"] + left + place[0] * width, box["y"] + top + place[1] * height)
    text = _wait_for_change(label.inner_text, before, f"{scope}: the pixel label after a click")
    (x, y), shown = _pixel_and_value(text)
    channel = _channel(page.locator(f"{scope} .gc-channel-label").first.inner_text())
    value = float(cube.data[channel, y, x])
    peak = float(np.nanmax(cube.data[channel]))
    print(f"{scope}: click on the drawn source -> {text!r}; the cube has {value:.4g} there "
          f"(channel peak {peak:.4g})")
    assert shown == pytest.approx(value, rel=6e-3, abs=1e-12), (
        f"{scope}: the label shows {shown} at pixel ({x}, {y}), the cube has {value:.4g}")
    assert value > 0.5 * peak, (
        f"{scope}: a click on the drawn source selected pixel ({x}, {y}), where the cube is at "
        f"{100 * value / peak:.0f}% of the channel's peak: the image is not drawn where its data is")
    _wait_for_change(spectrum.screenshot, spectrum0, f"{scope}: the spectrum after the click")
    page.mouse.move(0, 0)


def _move_channel(page, scope):
    """Arrow keys on the "channel" slider: the label must follow and the image must change."""
    label = page.locator(f"{scope} .gc-channel-label").first
    image = page.locator(f"{scope} .gc-image").first
    slider = page.locator(f"{scope} .widget-slider").filter(
        has=page.locator(".widget-label", has_text=re.compile(r"^\s*channel\s*$"))).first
    readout = slider.locator(".widget-readout").first
    text0 = label.inner_text()
    k0 = _channel(text0)
    assert "km/s" in text0, f"channel label {text0!r} does not give the velocity in km/s"
    image0 = _settled(image)
    slider.locator(".noUi-handle").first.focus()
    for key in ("ArrowRight", "ArrowLeft"):    # left if the first channel shown was the last
        for _ in range(2):
            page.keyboard.press(key)
        if int(readout.inner_text()) != k0:
            break
    k1 = int(readout.inner_text())
    assert k1 != k0, "the channel slider did not move under the arrow keys"
    deadline = time.monotonic() + UPDATE_S
    while _channel(label.inner_text()) != k1:
        assert time.monotonic() < deadline, (f"channel label still says {label.inner_text()!r} "
                                             f"{UPDATE_S} s after the slider moved from {k0} to {k1}")
        time.sleep(0.25)
    _wait_for_change(image.screenshot, image0, "the image after the channel moved")
    changed = _pixels_differ(image0, _settled(image))
    print(f"channel label {text0!r} -> {label.inner_text()!r}; "
          f"{100 * changed:.1f}% of the image's pixels changed")


def _mean_colour(locator):
    return _rgb(locator.screenshot()).reshape(-1, 3).mean(0)


def _wait_status(page, scope, pattern):
    status = page.locator(f"{scope} .gc-status").first
    deadline = time.monotonic() + UPDATE_S
    while not re.search(pattern, status.inner_text()):
        assert time.monotonic() < deadline, (f"{scope}: status says {status.inner_text()!r}, "
                                             f"not {pattern!r}, {UPDATE_S} s after Run")
        time.sleep(0.25)
    return status.inner_text()


def _run_denoise_with(page, spatial_fwhm_beams):
    """Type ``spatial_fwhm_beams`` in the DenoisePanel and press Run; its progress bar."""
    panel = page.locator(".gc-test-denoise")
    option = panel.locator(".widget-text").filter(
        has=page.locator(".widget-label", has_text=re.compile(r"^\s*spatial_fwhm_beams\s*$")))
    box = option.locator("input").first
    box.fill(spatial_fwhm_beams)
    box.press("Enter")
    panel.get_by_role("button", name="Run").click()
    return panel.locator(".gc-progress .progress-bar").first


def _denoise_error(page):
    """A bad option and Run: the library's message in the status line and a red bar."""
    scope = ".gc-test-denoise"
    bar = _run_denoise_with(page, "-1")
    text = _wait_status(page, scope, r"spatial_fwhm_beams=-1(\.0)? is outside the valid range")
    assert "Traceback" not in page.locator(scope).inner_text(), "a traceback is shown in the DenoisePanel"
    assert "progress-bar-danger" in bar.get_attribute("class")
    red, green, blue = _mean_colour(bar)
    print(f"denoise error: status {text!r}; bar colour {red:.0f}, {green:.0f}, {blue:.0f}")
    assert red > 150 and green < 120 and blue < 120, "the progress bar is not red after the error"


def _denoise_run(page):
    """After the error, a good option and Run: the panel works and shows the comparison."""
    scope = ".gc-test-denoise"
    bar = _run_denoise_with(page, "1")
    text = _wait_status(page, scope, r"gaussian done")
    assert "progress-bar-success" in bar.get_attribute("class")
    _scope_wait(page, scope, UPDATE_S)
    print(f"denoise run: status {text!r}; the comparison viewer is drawn")


def _generate_on_the_noise_tab(page):
    """The controls carry the library's docstrings; Generate shows a cube and keeps the tab."""
    scope = ".gc-test-generator"
    panel = page.locator(scope)
    channel_width = panel.locator('.widget-label[title^="channel_kms: Channel width"]')
    assert channel_width.count() and channel_width.first.inner_text() == "channel width [km/s]", \
        "the channel width control is not labelled readably with its docstring on hover"
    panel.locator(".lm-TabBar-tab", has_text="Noise").click()
    panel.get_by_role("button", name="Generate").click()
    _scope_wait(page, scope, UPDATE_S)
    log = panel.locator("textarea").first.input_value()
    assert log.startswith("simulated 8x32x32"), f"generator log: {log!r}"
    current = panel.locator(".lm-TabBar-tab.lm-mod-current").first.inner_text()
    assert current.strip() == "Noise", f"after Generate the {current!r} tab is shown, not 'Noise'"
    print(f"generator: {log!r}; still on the {current.strip()!r} tab")


def _property_row(page):
    """(scatter, coverage) in the PropertyExplorer's table for its one method."""
    text = page.locator(".gc-test-property table").first.inner_text()
    match = re.search(r"offset\s+([0-9.]+)\s+([0-9.]+)", text)
    assert match, f"the PropertyExplorer's table shows no row for the method: {text!r}"
    return float(match.group(1)), float(match.group(2))


def _explore_properties(page):
    """The table shows each galaxy's known offset; choosing the other galaxy redraws the maps."""
    from browser import scenes
    scope = ".gc-test-property"
    maps = page.locator(f"{scope} .gc-property-maps").first
    maps.locator("canvas").first.wait_for(timeout=UPDATE_S * 1000)
    (first, second), sigma = scenes.PROPERTY_OFFSETS, scenes.PROPERTY_SIGMA
    row = _property_row(page)
    assert row == (pytest.approx(first, abs=1e-3), float(first <= sigma))
    before = _settled(maps)
    page.locator(f"{scope} select").first.select_option(index=1)
    row = _wait_for_change(lambda: _property_row(page), row, "the PropertyExplorer's table")
    assert row == (pytest.approx(second, abs=1e-3), float(second <= sigma))
    # the table can update before the maps repaint: wait for the repaint, then let it settle
    _wait_for_change(maps.screenshot, before, "the PropertyExplorer's maps")
    assert _pixels_differ(before, _settled(maps)), "choosing the other galaxy did not redraw the maps"


def _pdr_pixel(page):
    """The PdrExplorer's pixel (y, x) and the log n it shows there."""
    text = page.locator(".gc-test-pdr .widget-html").first.inner_text()
    match = re.search(r"pixel \(y, x\) = \((\d+), (\d+)\).*?log n \[cm\^-3\] = ([0-9.]+)", text, re.S)
    assert match, f"the PdrExplorer shows no pixel: {text!r}"
    return int(match.group(1)), int(match.group(2)), float(match.group(3))


def _click_pdr_pixel(page):
    """A click in the middle of the map selects a pixel: its log n is the scene's truth there,
    and the posterior figure is redrawn."""
    from browser import scenes
    scope = ".gc-test-pdr"
    figures = page.locator(f"{scope} .gc-pdr-explorer").first
    sky = figures.locator("canvas").first
    sky.wait_for(timeout=UPDATE_S * 1000)
    before, picture = _pdr_pixel(page), _settled(figures)
    box = sky.bounding_box()
    page.mouse.click(box["x"] + 0.45 * box["width"], box["y"] + 0.5 * box["height"])
    y, x, log_n = _wait_for_change(lambda: _pdr_pixel(page), before, "the PdrExplorer's pixel after a click")
    truth = scenes.pdr_truth()[0, y, x]
    print(f"pdr explorer: click -> pixel ({y}, {x}), log n {log_n} (truth {truth:.2f}); was {before}")
    assert log_n == pytest.approx(truth, abs=0.05)
    _wait_for_change(figures.screenshot, picture, "the PdrExplorer's figures")
    assert _pixels_differ(picture, _settled(figures)), "the click did not redraw the PdrExplorer's figures"


def test_widgets_in_chromium(voila_url):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from browser import scenes

    url, log_path = voila_url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # read_fits's notes on the real cube's header
        simulated, real = scenes.simulated(), scenes.real_with_east_source()
    shots, console, outside = [], [], []
    t0 = time.perf_counter()

    def local_only(route):
        # everything must come from the local server; voila's template asks a CDN for icon fonts
        if route.request.url.startswith(url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500}, device_scale_factor=1)
            page.set_default_timeout(UPDATE_S * 1000)
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text[:300]}"))
            page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
            page.route("**/*", local_only)

            def shot(name, scope=None):
                """The page (what voila's scrolling view shows), or the widget ``scope``."""
                path = ARTIFACTS / f"{len(shots) + 1}_{name}.png"
                if scope is None:
                    page.screenshot(path=str(path), full_page=True)
                else:
                    page.locator(scope).first.screenshot(path=str(path))
                shots.append(path)
                print(f"screenshot: {path}")

            try:
                page.goto(url, timeout=PAGE_RENDER_S * 1000, wait_until="domcontentloaded")
                _wait_rendered(page)
                print(f"widgets rendered after {time.perf_counter() - t0:.1f} s")
                shot("loaded")
                for scope, cube in ((".gc-test-simulated", simulated), (".gc-test-real", real)):
                    frame, place = _check_orientation(page, scope, cube)
                    _click_source(page, scope, cube, frame, place)
                    shot(f"{scope.removeprefix('.gc-test-')}_source_clicked", scope)
                _move_channel(page, ".gc-test-simulated")
                shot("simulated_channel_moved", ".gc-test-simulated")
                _denoise_error(page)
                shot("denoise_error", ".gc-test-denoise")
                _denoise_run(page)
                shot("denoise_run", ".gc-test-denoise")
                _explore_properties(page)
                shot("property_explorer", ".gc-test-property")
                _click_pdr_pixel(page)
                shot("pdr_explorer", ".gc-test-pdr")
                shot("generator", ".gc-test-generator")
                _generate_on_the_noise_tab(page)
                shot("generated", ".gc-test-generator")
            except BaseException:
                try:
                    shot("failure")
                except PlaywrightError as exc:
                    print(f"no failure screenshot: {exc}")
                print("browser console:\n  " + "\n  ".join(console[-40:]))
                print(f"voila log: {log_path}\n{log_path.read_text()[-4000:]}")
                raise
        finally:
            browser.close()
    errors = [line for line in console if line.startswith("pageerror")]
    print(f"browser test: {time.perf_counter() - t0:.1f} s; requests kept off the network: "
          f"{sorted(set(outside)) or 'none'}; page errors: {errors or 'none'}")
    print("screenshots:\n  " + "\n  ".join(str(p) for p in shots))
