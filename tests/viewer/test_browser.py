"""End to end in a real browser: Debian's chromium (headless, software WebGL) via Playwright.

The viewer runs in a subprocess (``serve_scene.py``: the demo scene in client mode, the same
layers without Gaussians, and the scene in server mode). Never downloads a browser: the
tests skip unless ``chromium`` is on PATH and the ``playwright`` package is installed.

``SPLAT3D_VIEWER_SCREENSHOT=docs/viewer_screenshot.png`` also saves the client-mode page
(wider, without viser's software-WebGL notice) for the README.
"""

from __future__ import annotations

import io
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("viser", reason="viewer tests need viser (pip install 'splat3d[viewer]')")
CHROMIUM = shutil.which("chromium")
try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="browser tests need Debian's chromium on PATH "
                       "(apt-get install -y chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="browser tests need the playwright "
                       "package (pip install playwright; no browser download needed)"),
]

from PIL import Image  # noqa: E402

from splat3d.fileio import atomic_path  # noqa: E402

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
    "--disable-gpu-sandbox", "--disable-background-networking", "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 800, "height": 500}
DOCS_VIEWPORT = {"width": 1280, "height": 640}
REGION = (slice(150, 500), slice(0, 450))
"""Rows and columns of the 3D view clear of viser's notification and control panel."""
PIXEL_CHANGE = 48
"""Summed |RGB difference| above which a pixel counts as changed (JPEG and dithering noise
stay far below it)."""
MIN_CHANGED = 0.03
"""Fraction of the region that must change for "splats visible" / "the picture moved"."""
SERVE_TIMEOUT = 180.0
WAIT_TIMEOUT = 60.0
"""Generous limits in seconds: they only matter on a failing or heavily shared machine; a
normal run takes about 35 s in all."""
SCRIPT = Path(__file__).with_name("serve_scene.py")


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel mask of the region where two screenshots differ."""
    return np.abs(a.astype(int) - b.astype(int)).sum(-1)[REGION] > PIXEL_CHANGE


def screenshot(page: Page) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.screenshot(timeout=60_000))).convert("RGB"))


def wait_for(page: Page, ready, what: str, timeout: float = WAIT_TIMEOUT) -> np.ndarray:
    """Screenshot until ``ready(now, previous)`` holds; fail with ``what`` after ``timeout``."""
    deadline, previous = time.monotonic() + timeout, None
    while True:
        now = screenshot(page)
        if previous is not None and ready(now, previous):
            return now
        if time.monotonic() > deadline:
            dump = Path(tempfile.mkdtemp(prefix="viewer-browser-")) / "last.png"
            Image.fromarray(now).save(dump)
            pytest.fail(f"browser: timed out after {timeout:.0f} s waiting for {what}; "
                        f"last screenshot: {dump}")
        previous = now
        time.sleep(0.5)


def stable(now: np.ndarray, previous: np.ndarray) -> bool:
    return changed(now, previous).mean() < 0.002


def black_share(image: np.ndarray) -> float:
    """Share of the region showing the viewer's black background (the page is light grey
    until the viewer has connected and set it)."""
    return float((image[REGION].astype(int).sum(-1) < 60).mean())


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("viewer-screenshots")


@pytest.fixture(scope="module")
def viewer_process(screenshot_dir):
    """The viewer subprocess; it starts while the browser launches."""
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--screenshot-dir",
                             str(screenshot_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    yield proc
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory, viewer_process):
    """A fresh headless chromium profile (Playwright drives the system binary)."""
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_FLAGS, viewport=VIEWPORT)
        yield context
        context.close()


@pytest.fixture(scope="module")
def urls(viewer_process, browser) -> dict[str, str]:
    """``{"scene", "empty", "server"}`` -> URL, read from the subprocess's JSON line."""
    lines: list[str] = []
    with selectors.DefaultSelector() as sel:
        sel.register(viewer_process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + SERVE_TIMEOUT
        while not (lines and lines[-1].startswith("{")):
            if viewer_process.poll() is not None or not sel.select(deadline - time.monotonic()):
                pytest.fail("viewer subprocess did not start:\n" + "".join(lines))
            lines.append(viewer_process.stdout.readline())
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def empty_view(browser, urls) -> np.ndarray:
    """The page with cameras and boxes but no Gaussians, once it stops changing."""
    page = browser.new_page()
    page.goto(urls["empty"])
    image = wait_for(page, lambda now, prev: black_share(now) > 0.5 and stable(now, prev),
                     "the empty scene to draw")
    page.close()
    return image


@pytest.fixture(scope="module")
def scene_page(browser, urls, empty_view):
    page = browser.new_page()
    page.goto(urls["scene"])
    image = wait_for(page, lambda now, prev: black_share(now) > 0.1 and stable(now, prev)
                     and changed(now, empty_view).mean() > MIN_CHANGED, "the splats to draw")
    yield page, image
    page.close()


def test_client_side_splats_are_visible(scene_page, empty_view):
    _, image = scene_page
    assert changed(image, empty_view).mean() > MIN_CHANGED
    brightness_gain = image[REGION].mean() - empty_view[REGION].mean()
    assert brightness_gain > 5, "splats on the black background make the view brighter"


@pytest.mark.skipif(not os.environ.get("SPLAT3D_VIEWER_SCREENSHOT"),
                    reason="set SPLAT3D_VIEWER_SCREENSHOT=PATH.png to save the docs screenshot")
def test_save_docs_screenshot(browser, urls):
    page = browser.new_page()
    page.set_viewport_size(DOCS_VIEWPORT)
    page.goto(urls["scene"])
    page.get_by_text("Pause training").wait_for(timeout=WAIT_TIMEOUT * 1000)
    close = page.locator("#webgl-software-rendering .mantine-Notification-closeButton")
    close.first.click(timeout=WAIT_TIMEOUT * 1000)  # viser's notice about software WebGL
    wait_for(page, lambda now, prev: black_share(now) > 0.1 and stable(now, prev),
             "the scene to draw")
    path = Path(os.environ["SPLAT3D_VIEWER_SCREENSHOT"])
    with atomic_path(path) as tmp:
        tmp.write_bytes(page.screenshot(timeout=60_000))
    page.close()
    assert Image.open(path).size == (DOCS_VIEWPORT["width"], DOCS_VIEWPORT["height"])


def test_moving_the_camera_changes_the_picture(scene_page, empty_view):
    page, before = scene_page
    page.mouse.move(300, 420)
    page.mouse.down()
    page.mouse.move(470, 380, steps=12)
    page.mouse.up()
    after = wait_for(page, lambda now, prev: stable(now, prev)
                     and changed(now, before).mean() > MIN_CHANGED, "the orbit to redraw")
    assert changed(after, empty_view).mean() > MIN_CHANGED, "the scene is still in view"


def test_server_mode_shows_the_rasterizer_render_at_the_same_place(browser, urls, scene_page,
                                                                   empty_view):
    _, client_image = scene_page  # initial camera, before the orbit test moved it
    page = browser.new_page()
    page.goto(urls["server"])
    image = wait_for(page, lambda now, prev: black_share(now) > 0.1 and stable(now, prev)
                     and changed(now, empty_view).mean() > MIN_CHANGED,
                     "the server-side render to arrive")
    page.close()
    server_mask, client_mask = changed(image, empty_view), changed(client_image, empty_view)
    iou = (server_mask & client_mask).sum() / (server_mask | client_mask).sum()
    assert iou > 0.6, f"server and client renders cover different pixels (IoU {iou:.2f})"


def test_go_to_camera_moves_the_view(scene_page):
    page, _ = scene_page
    before = screenshot(page)
    page.get_by_role("button", name="Go to camera").click()
    wait_for(page, lambda now, prev: stable(now, prev) and changed(now, before).mean()
             > MIN_CHANGED, "the view to jump to the training camera")


OPEN_WEBSOCKET = """port => new Promise(done => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, [%s]);
    ws.onopen = () => { ws.close(); done("open"); };
    ws.onerror = () => done("refused");
})"""
"""JavaScript a page runs to try the viewer's websocket (as any page's script could)."""


def test_only_the_viewers_own_page_with_its_token_gets_in(browser):
    import http.server
    import threading

    from splat3d import Gaussians
    from viewer import Viewer, ViewerConfig

    class ForeignPage(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = b"<html><body>another site</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    # Another site on this machine: same host, other port, so the same cookie jar.
    foreign = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ForeignPage)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    script = OPEN_WEBSOCKET % json.dumps(f"viser-v{__import__('viser').__version__}")
    page = browser.new_page()
    try:
        with Viewer(Gaussians.random_sphere(100), ViewerConfig(port=0, require_token=True)) as v:
            assert page.goto(v.url.partition("?")[0]).status == 403, "no token, no page"
            assert page.goto(v.url).status == 200
            deadline = time.monotonic() + WAIT_TIMEOUT
            while v.num_clients == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert v.num_clients == 1, "the page's own websocket (from viser's worker) got in"
            assert page.evaluate(script, v.port) == "open"
            page.goto(f"http://127.0.0.1:{foreign.server_address[1]}/")
            assert page.evaluate(script, v.port) == "refused", "the cookie alone is not enough"
    finally:
        page.close()
        foreign.shutdown()


def test_screenshot_button_saves_the_view_as_png(scene_page, screenshot_dir):
    page, _ = scene_page
    page.get_by_role("button", name="Save screenshot").click()
    page.get_by_text("Saved").wait_for(timeout=WAIT_TIMEOUT * 1000)
    saved = sorted(screenshot_dir.glob("screenshot_*.png"))
    assert [p.name for p in saved] == ["screenshot_0001.png"]
    image = np.asarray(Image.open(saved[0]))
    assert image.shape[2] == 3 and max(image.shape[:2]) == 384
    assert image.std() > 10, "the saved render shows the scene"
