"""Only the viewer's own page can use it: Origin / Host / token checks on a real server, GUI
values clamped when they arrive over the websocket, and a pause that ends with its browser.

Every test talks to a real :class:`Viewer` on port 0 with the ``websockets`` client (as a
foreign page's JavaScript would) and ``http.client`` (as a DNS-rebinding page would).
"""

from __future__ import annotations

import http.client
import math
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

viser = pytest.importorskip("viser",
                            reason="viewer tests need viser (pip install 'splat3d[viewer]')")

import msgspec  # noqa: E402
import zstandard  # noqa: E402
from viser import _messages  # noqa: E402
from websockets.exceptions import InvalidStatus  # noqa: E402
from websockets.sync.client import ClientConnection, connect  # noqa: E402

from splat3d import Gaussians  # noqa: E402
from splat3d.io import save_ply  # noqa: E402
from viewer import RemoteAccessError, Viewer, ViewerConfig  # noqa: E402
from viewer.gui import NEAR_RANGE, RESOLUTION_RANGE, choose, clamp_float, clamp_int, clamp_rgb  # noqa: E402
from viewer.origin_guard import AccessPolicy, normalise_origin  # noqa: E402

SUBPROTOCOLS = [f"viser-v{viser.__version__}"]


@pytest.fixture()
def viewer():
    v = Viewer(Gaussians.random_sphere(200, opacity=0.6), ViewerConfig(port=0, poll_seconds=0.02))
    yield v
    v.close()


@contextmanager
def websocket(port: int, origin: str | None, host: str | None = None,
              cookie: str | None = None) -> Iterator[ClientConnection]:
    """A websocket to the viewer on 127.0.0.1:port, claiming the ``Host`` header ``host``
    (default ``127.0.0.1:port``) and ``origin``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    headers = {"Cookie": cookie} if cookie is not None else None
    uri = f"ws://{host or f'127.0.0.1:{port}'}"
    with connect(uri, sock=sock, origin=origin, subprotocols=SUBPROTOCOLS,
                 additional_headers=headers, open_timeout=10) as ws:
        yield ws


def refusal(port: int, origin: str | None, host: str | None = None,
            cookie: str | None = None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info, websocket(port, origin, host, cookie):
        pass
    return info.value


def received_types(ws: ClientConnection, seconds: float = 10.0) -> list[str]:
    """Type names of the messages in the frames the server sends within ``seconds``."""
    types: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and "ReplayDoneMessage" not in types:
        frame = ws.recv(timeout=deadline - time.monotonic())
        size, packed = int.from_bytes(frame[:8], "little"), int.from_bytes(frame[8:16], "little")
        inner = zstandard.ZstdDecompressor().decompress(frame[16:16 + packed], max_output_size=size)
        types += [message["type"] for message in msgspec.msgpack.decode(inner)["messages"]]
    return types


def send(ws: ClientConnection, message: _messages.Message) -> None:
    """Send ``message`` the way viser's page does (msgpack of its serialisable dict)."""
    ws.send(msgspec.msgpack.encode(message.as_serializable_dict()))


def register(ws: ClientConnection) -> None:
    """Send the camera message that makes viser count the socket as a connected client."""
    send(ws, _messages.ViewerCameraMessage(
        wxyz=(1.0, 0.0, 0.0, 0.0), position=(0.0, 0.0, -3.0), fov=0.8, near=0.01, far=100.0,
        image_height=300, image_width=400, look_at=(0.0, 0.0, 0.0), up_direction=(0.0, 0.0, 1.0)))


def set_widget(ws: ClientConnection, handle: object, **updates: object) -> None:
    send(ws, _messages.GuiUpdateMessage(handle._impl.uuid, updates))  # type: ignore[attr-defined]


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def http_get(port: int, path: str = "/", **headers: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}", **headers})
    response = conn.getresponse()
    response.read()
    return response


# ---------------------------------------------------------------- Origin and Host
@pytest.mark.parametrize("origin", ["http://evil.example", "null", None, "https://127.0.0.1:{port}",
                                    "http://127.0.0.1:{other}", "http://127.0.0.1.evil.example"])
def test_a_websocket_from_any_other_page_is_refused_at_the_handshake(viewer, origin):
    port = viewer.port
    claimed = origin.format(port=port, other=port + 1) if origin else None
    error = refusal(port, claimed)
    assert error.response.status_code == 403
    body = bytes(error.response.body)
    assert b"splat3d viewer" in body and b"Gaussian" not in body  # a reason, never scene data
    assert viewer.num_clients == 0


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{port}", "http://localhost:{port}",
                                    "http://[::1]:{port}"])
def test_the_loopback_page_gets_the_scene(viewer, origin):
    with websocket(viewer.port, origin.format(port=viewer.port)) as ws:
        types = received_types(ws)
    assert "GaussianSplatsMessage" in types and "GuiSliderMessage" in types


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:{other}"])
def test_a_forged_host_is_refused_on_http_and_websocket(viewer, host):
    port = viewer.port
    host = host.format(port=port, other=port + 1)
    assert http_get(port, Host=host).status == 403
    assert http_get(port).status == 200  # the same request under the real name is served
    rebinding_page = f"http://{host}"  # DNS rebinding: the page's origin is the forged name
    assert refusal(port, rebinding_page, host=host).response.status_code == 403
    assert refusal(port, f"http://127.0.0.1:{port}", host=host).response.status_code == 403


def test_a_cross_origin_http_request_is_refused(viewer):
    assert http_get(viewer.port, Origin="http://evil.example").status == 403


def test_allowed_origins_admit_exactly_those_pages():
    with Viewer(Gaussians.random_sphere(50), ViewerConfig(
            port=0, allowed_origins=("HTTPS://Lab.Example:443/",))) as v:
        with websocket(v.port, "https://lab.example", host="lab.example") as ws:
            assert "GaussianSplatsMessage" in received_types(ws)
        assert refusal(v.port, "https://other.example", host="lab.example") \
            .response.status_code == 403
        assert http_get(v.port, Host="lab.example").status == 200


@pytest.mark.parametrize("origin", ["lab.example", "null", "*", "ftp://lab.example",
                                    "https://lab.example/path", "https://user@lab.example",
                                    "https://lab.example:99999"])
def test_origins_that_are_not_origins_are_config_errors(origin):
    with pytest.raises(ValueError, match=r"allowed_origins entry .* expected scheme://host"):
        ViewerConfig(allowed_origins=(origin,))


def test_origins_are_normalised_like_browsers_send_them():
    assert normalise_origin("HTTP://LOCALHOST:80") == "http://localhost"
    assert normalise_origin("https://[::1]:8443") == "https://[::1]:8443"
    assert "http://127.0.0.1" in AccessPolicy().origins(80)


# ---------------------------------------------------------------- remote mode and token
def test_remote_mode_without_origins_or_token_refuses_to_start(tmp_path):
    with pytest.raises(RemoteAccessError, match="--require-token"):
        Viewer(Gaussians.random_sphere(10), ViewerConfig(host="0.0.0.0", allow_remote=True))
    save_ply(tmp_path / "scene.ply", Gaussians.random_box(20))
    result = subprocess.run(
        [sys.executable, "-m", "splat3d.cli", "view", str(tmp_path / "scene.ply"), "--host",
         "0.0.0.0", "--allow-remote", "--port", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--require-token" in lines[0] and "--allowed-origins" in lines[0]


def test_the_token_admits_its_page_and_nothing_else():
    with Viewer(Gaussians.random_sphere(50), ViewerConfig(port=0, require_token=True)) as v:
        port, token = v.port, v.token
        assert token and v.url == f"http://127.0.0.1:{port}/?token={token}"
        cookie = f"splat3d_viewer_{port}={token}"
        loopback = f"http://127.0.0.1:{port}"
        assert http_get(port).status == 403
        assert http_get(port, f"/?token={token[:-1]}x").status == 403
        page = http_get(port, f"/?token={token}")
        assert page.status == 200
        set_cookie = page.getheader("Set-Cookie")
        assert set_cookie.startswith(cookie + ";") and "HttpOnly" in set_cookie \
            and "SameSite=Strict" in set_cookie
        assert http_get(port, Cookie=cookie).status == 200  # the page's assets and reloads
        assert refusal(port, loopback).response.status_code == 403
        assert refusal(port, loopback, cookie=f"splat3d_viewer_{port}=wrong") \
            .response.status_code == 403
        assert refusal(port, "http://evil.example", cookie=cookie).response.status_code == 403
        with websocket(port, loopback, cookie=cookie) as ws:
            assert "GaussianSplatsMessage" in received_types(ws)
        # Reached under another name (remote mode): the page's own origin passes with the token.
        remote = f"192.0.2.7:{port}"
        with websocket(port, f"http://{remote}", host=remote, cookie=cookie) as ws:
            assert "GaussianSplatsMessage" in received_types(ws)
        assert refusal(port, f"http://192.0.2.7:{port + 1}", host=remote,
                       cookie=cookie).response.status_code == 403


# ---------------------------------------------------------------- values from the browser
def test_gui_values_sent_over_the_websocket_are_clamped(viewer):
    panel = viewer.panel
    before = viewer.settings
    with websocket(viewer.port, f"http://127.0.0.1:{viewer.port}") as ws:
        received_types(ws)
        register(ws)
        assert wait_until(lambda: viewer.num_clients == 1)
        set_widget(ws, panel.resolution, value=65_536)  # the slider offers at most 2048
        assert wait_until(lambda: viewer.settings.render_resolution == RESOLUTION_RANGE[1])
        assert panel.resolution.value == RESOLUTION_RANGE[1], "the widget shows the clamp"
        set_widget(ws, panel.preview, value=-7)
        set_widget(ws, panel.sh_degree, value=99)
        set_widget(ws, panel.near, value=-5.0)
        set_widget(ws, panel.background, value=(999, -5, 3))
        set_widget(ws, panel.feature_channel, value=12)
        assert wait_until(lambda: viewer.settings.options.background == (1.0, 0.0, 3 / 255))
        settings = viewer.settings
        assert settings.preview_resolution == 32 and settings.options.sh_degree == 3
        assert settings.options.near == NEAR_RANGE[0] and settings.options.feature_channel == 0
        set_widget(ws, panel.mode, value="evil")
        set_widget(ws, panel.output, value="features")  # not offered: no feature channels
        set_widget(ws, panel.near, value=math.nan)
        set_widget(ws, panel.resolution, value=512)  # a valid change after the bad ones
        assert wait_until(lambda: viewer.settings.render_resolution == 512)
        assert viewer.settings.mode == before.mode and viewer.settings.options.output == "rgb"
        assert viewer.settings.options.near == NEAR_RANGE[0]
        assert panel.mode.value == before.mode and panel.output.value == "rgb"


@pytest.mark.parametrize(("value", "expected"), [(5, 5), (-3, 0), (1e300, 10), (math.nan, 7),
                                                 (math.inf, 7), ("4", 4), (None, 7), (2.6, 3)])
def test_clamp_int(value, expected):
    assert clamp_int(value, 0, 10, 7) == expected


ANY_WIRE_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                           st.text(max_size=8), st.lists(st.integers(), max_size=4))
"""What msgpack can carry for a widget value (NaN and infinities included)."""


@settings(max_examples=300, deadline=None, derandomize=True)
@given(ANY_WIRE_VALUE)
def test_clamped_values_always_lie_in_their_range(value):
    assert 0 <= clamp_int(value, 0, 10, 7) <= 10
    near = clamp_float(value, *NEAR_RANGE, 0.5)
    assert NEAR_RANGE[0] <= near <= NEAR_RANGE[1]
    assert all(0.0 <= c <= 1.0 for c in clamp_rgb(value, (0.5, 0.5, 0.5)))


def test_clamp_float_choose_and_rgb():
    assert clamp_float(-math.inf, 0.0, 1.0, 0.5) == 0.5
    assert clamp_float(3.0, 0.0, 1.0, 0.5) == 1.0
    assert choose("server", ("client", "server"), "client") == "server"
    assert choose(["server"], ("client", "server"), "client") == "client"
    assert clamp_rgb((255, 0, 300), (0.0, 0.0, 0.0)) == (1.0, 0.0, 1.0)
    assert clamp_rgb((1, 2), (0.5, 0.5, 0.5)) == (0.5, 0.5, 0.5)
    assert clamp_rgb("abc", (0.5, 0.5, 0.5)) == (0.5, 0.5, 0.5)
    assert clamp_rgb((1, math.nan, 2), (0.5, 0.5, 0.5)) == (0.5, 0.5, 0.5)


# ---------------------------------------------------------------- pause
def test_a_pause_ends_when_the_last_browser_leaves(viewer):
    origin = f"http://127.0.0.1:{viewer.port}"
    with websocket(viewer.port, origin) as first:
        register(first)
        with websocket(viewer.port, origin) as second:
            register(second)
            assert wait_until(lambda: viewer.num_clients == 2)
            set_widget(second, viewer.panel.pause, value=True)
            assert wait_until(lambda: viewer.paused)
        assert wait_until(lambda: viewer.num_clients == 1)
        time.sleep(0.2)
        assert viewer.paused, "another browser is still watching"
    assert wait_until(lambda: not viewer.paused), "nobody is left to lift the pause"
    assert viewer.panel.pause.value is False
    viewer.wait_while_paused()  # returns: training goes on
