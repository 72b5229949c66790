"""The CubeViewer in a real browser: voila serves tests/browser/viewer.ipynb, Playwright drives
Debian's Chromium (/usr/bin/chromium) headless. Moving the channel slider must change the shown
channel and the image; a click on the image must change the pixel and its spectrum.

Full-page screenshots are kept in outputs/test-artifacts/browser/ (git-ignored). Skipped, saying
what is missing, when Chromium, playwright or voila is absent; `.ci/run` installs Chromium.
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
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "tests" / "browser" / "viewer.ipynb"
ARTIFACTS = ROOT / "outputs" / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("GALCUBE_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps dialling out; a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SERVER_START_S = 60       # voila answering HTTP
PAGE_RENDER_S = 90        # notebook executed in the kernel and the widgets drawn
UPDATE_S = 20             # one Python round trip (slider -> label/image, click -> pixel/spectrum)

pytestmark = pytest.mark.timeout(300)


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
    """A voila server for tests/browser/viewer.ipynb on a free localhost port, torn down after."""
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


def _pixels_differ(png_a, png_b):
    """Fraction of pixels that differ between two PNG screenshots (1.0 if the sizes differ)."""
    import io

    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png_a)).convert("RGB"))
    b = np.asarray(Image.open(io.BytesIO(png_b)).convert("RGB"))
    if a.shape != b.shape:
        return 1.0
    return float(np.any(a != b, axis=-1).mean())


def _wait_rendered(page):
    """Wait until the notebook has run and the viewer's figures are drawn; fail fast if not."""
    # the notebook has run when the viewer's label shows, or it failed with a traceback
    traceback = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]:has-text("Traceback")')
    page.locator(".gc-channel-label").or_(traceback).first.wait_for(timeout=PAGE_RENDER_S * 1000)
    if traceback.count():
        pytest.fail(f"{NOTEBOOK.name} failed in voila:\n{traceback.first.inner_text()[-3000:]}",
                    pytrace=False)
    # the bokeh figures draw into canvases; a widget that fails shows ipywidgets' error box
    broken = page.locator(".jupyter-widgets-error-widget")
    page.locator(".gc-image canvas").or_(broken).first.wait_for(timeout=PAGE_RENDER_S * 1000)
    if broken.count():
        bokehjs = page.evaluate("typeof window.Bokeh")
        hint = " - BokehJS was never loaded on the page" if bokehjs == "undefined" else ""
        pytest.fail(f"{broken.count()} widget(s) failed to render in the browser (ipywidgets error "
                    f"box); typeof window.Bokeh = {bokehjs!r}{hint}", pytrace=False)
    page.locator(".gc-spectrum canvas").first.wait_for(timeout=UPDATE_S * 1000)


def _move_channel(page):
    """Arrow keys on the "channel" slider: the label must follow and the image must change."""
    label, image = page.locator(".gc-channel-label").first, page.locator(".gc-image").first
    slider = page.locator(".widget-slider").filter(
        has=page.locator(".widget-label", has_text=re.compile(r"^\s*channel\s*$"))).first
    readout = slider.locator(".widget-readout").first
    text0 = label.inner_text()
    k0 = _channel(text0)
    assert "km/s" in text0, f"channel label {text0!r} does not give the velocity in km/s"
    image0 = _settled(image)
    slider.locator(".noUi-handle").first.focus()
    for key in ("ArrowRight", "ArrowLeft"):    # left if the first channel shown was the last
        for _ in range(3):
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


def _click_image(page):
    """A click on the image away from the current pixel: new pixel label, new spectrum."""
    label = page.locator(".gc-pixel-label").first
    spectrum = page.locator(".gc-spectrum").first

    def pixel():   # the "pixel (x, y)" part: the label's values also follow the channel
        found = re.search(r"pixel \((\d+), (\d+)\)", label.inner_text())
        assert found, f"pixel label {label.inner_text()!r} does not say 'pixel (x, y)'"
        return tuple(map(int, found.groups()))

    pixel0 = pixel()
    spectrum0 = _settled(spectrum)
    box = page.locator(".gc-image canvas").first.bounding_box()
    pixel1 = None
    for fx, fy in ((0.3, 0.3), (0.7, 0.65)):   # the second if the first hit the pixel shown
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        try:
            pixel1 = _wait_for_change(pixel, pixel0, "the pixel label", timeout_s=UPDATE_S / 2)
            break
        except pytest.fail.Exception:
            continue
    assert pixel1 is not None, (f"pixel label stayed at {pixel0} after clicks on the image: "
                                "the bokeh Tap event did not reach Python")
    _wait_for_change(spectrum.screenshot, spectrum0, "the spectrum after a click on the image")
    changed = _pixels_differ(spectrum0, _settled(spectrum))
    page.mouse.move(0, 0)
    print(f"pixel {pixel0} -> {pixel1} ({label.inner_text()!r}); "
          f"{100 * changed:.1f}% of the spectrum's pixels changed")


def test_viewer_slider_and_click_in_chromium(voila_url):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    url, log_path = voila_url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
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
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(UPDATE_S * 1000)
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text[:300]}"))
            page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
            page.route("**/*", local_only)

            def shot(name):
                path = ARTIFACTS / f"{len(shots) + 1}_{name}.png"
                page.screenshot(path=str(path), full_page=True)
                shots.append(path)
                print(f"screenshot: {path}")

            try:
                page.goto(url, timeout=PAGE_RENDER_S * 1000, wait_until="domcontentloaded")
                _wait_rendered(page)
                print(f"viewer rendered after {time.perf_counter() - t0:.1f} s")
                shot("loaded")
                _move_channel(page)
                shot("channel_moved")
                _click_image(page)
                shot("pixel_clicked")
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
