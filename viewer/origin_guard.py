"""Who may load the viewer's page and open its websocket: an Origin / Host / token check.

The viewer serves a page and a websocket on one port. A web page from any other site that
the user has open can point its JavaScript at ``ws://127.0.0.1:8080``; browsers allow that
(websockets are not covered by the same-origin policy) and tell the server only the page's
``Origin``. Likewise a DNS-rebinding page reaches the HTTP side under its own name, which
shows in the ``Host`` header. So every request is checked here before viser sees it:

* default (loopback): the ``Host`` must be this machine's loopback name for the port the
  request arrived on (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``) or the host
  of an allowed origin; a websocket must carry an ``Origin`` from the allow-list (the
  loopback origins ``http://127.0.0.1:PORT``, ``http://localhost:PORT``,
  ``http://[::1]:PORT`` plus :attr:`AccessPolicy.extra_origins`). A missing ``Origin`` on
  a websocket, ``Origin: null`` and any other origin are refused with 403 (a plain HTTP
  request may omit ``Origin``, as page loads do, but one it carries must be allowed).
* token mode (:attr:`AccessPolicy.token`): every request must present the token,
  either as ``?token=...`` (the URL printed at start) or as the cookie that the first
  page load with that query sets. viser's page opens its websocket at the page URL with
  the query removed, so the cookie is what reaches the websocket. The cookie is
  ``SameSite=Strict`` and ``HttpOnly``; a websocket's ``Origin`` must still be allowed or be
  the page's own (``scheme://`` + ``Host``), so a page on another port of the same host
  cannot use it. The token, not the ``Host``, then proves that the request comes from
  the viewer's own page, so any ``Host`` is accepted (the server may be reached by any
  of the machine's names).

Why by hand: viser 1.1.1 hands ``websockets.asyncio.server.serve`` a ``process_request``
callback that serves its static page, and checks neither ``Origin`` nor ``Host``; it offers
no hook to add a check, and websockets' own ``origins=`` option is neither exposed by viser
nor able to check ``Host``, a token, or an origin that depends on the port bound.

The one patch point is :func:`guard_new_servers`: while a viewer constructs its
``viser.ViserServer`` (which binds the port inside its constructor), the ``serve`` function
in ``websockets.asyncio.server`` is replaced by one that wraps the ``process_request`` viser
passes in :meth:`AccessPolicy.check` and then restores the original. A module lock keeps two
viewers from overlapping; the :class:`Viewer` refuses to run if the wrapper was not used
(a viser that no longer starts its server this way must not serve unguarded). For those
milliseconds the replacement is process-wide: a websockets server that other code starts
from another thread at that moment gets the same check (it fails closed: loopback only).
"""

from __future__ import annotations

import contextlib
import hmac
import http
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import websockets.asyncio.server as ws_server
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

ProcessRequest = Callable[[ServerConnection, Request], Awaitable[Response | None] | Response | None]
"""The ``process_request`` hook of ``websockets.asyncio.server.serve``."""

TOKEN_QUERY = "token"
"""Query parameter that carries the token in the printed URL."""

_SERVE_LOCK = threading.Lock()


def normalise_origin(origin: str, field: str = "allowed_origins") -> str:
    """``origin`` as browsers send it (``scheme://host[:port]``, lower case, no default port).

    Raises:
        ValueError: ``origin`` is not an ``http``/``https`` origin with a host and without
            a path, query or credentials (``null`` and ``*`` are refused: they would
            admit any page).
    """
    parts = urllib.parse.urlsplit(origin.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (parts.scheme.lower() not in ("http", "https") or not parts.hostname or port == -1
            or parts.path not in ("", "/") or parts.query or parts.fragment
            or parts.username is not None or "*" in origin):
        raise ValueError(f"viewer: {field} entry {origin!r} is not an origin; expected "
                         f"scheme://host[:port] such as https://viewer.example.org:8443")
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def loopback_hosts(port: int) -> frozenset[str]:
    """``Host`` header values that name this machine's loopback interface at ``port``."""
    names = ("127.0.0.1", "localhost", "[::1]")
    hosts = {f"{name}:{port}" for name in names}
    return frozenset(hosts | set(names)) if port == 80 else frozenset(hosts)


def loopback_origins(port: int) -> frozenset[str]:
    """Origins of the viewer's own page when it is opened through loopback at ``port``."""
    return frozenset(normalise_origin(f"http://{host}") for host in loopback_hosts(port))


@dataclass(frozen=True)
class AccessPolicy:
    """Which requests the viewer's server answers; see the module docstring.

    Example:
        >>> policy = AccessPolicy(extra_origins=("https://lab.example",))
        >>> sorted(policy.hosts(8080))[:2]
        ['127.0.0.1:8080', '[::1]:8080']
    """

    extra_origins: tuple[str, ...] = ()
    """Origins allowed besides loopback ones, normalised (:func:`normalise_origin`)."""
    token: str | None = None
    """Secret every request must present (query or cookie); None: no token needed."""

    def origins(self, port: int) -> frozenset[str]:
        """Origins a websocket may come from when the server listens on ``port``."""
        return loopback_origins(port) | frozenset(self.extra_origins)

    def hosts(self, port: int) -> frozenset[str]:
        """``Host`` values accepted without a token: loopback and the allowed origins' hosts."""
        extra = {urllib.parse.urlsplit(origin).netloc for origin in self.extra_origins}
        return loopback_hosts(port) | frozenset(extra)

    def cookie_name(self, port: int) -> str:
        """Cookie holding the token; per port, because cookies are shared across ports."""
        return f"splat3d_viewer_{port}"

    def refusal(self, request: Request, port: int) -> str | None:
        """Why ``request``, received on ``port``, must be refused; None when it may pass.

        A request with any ``Upgrade`` header counts as a websocket handshake (and needs an
        ``Origin``), whatever viser later makes of it.
        """
        headers = request.headers
        host_values, origin_values = headers.get_all("Host"), headers.get_all("Origin")
        if len(host_values) != 1 or len(origin_values) > 1:
            return "expected exactly one Host header and at most one Origin header"
        host = host_values[0].strip().lower()
        origin = origin_values[0].strip().lower() if origin_values else None
        if self.token is not None and not self._has_token(request, port):
            return "this viewer needs the token of the URL it printed at start (?token=...)"
        if self.token is None and host not in self.hosts(port):
            return (f"Host {host!r} is not this viewer's address; open http://127.0.0.1:"
                    f"{port} or pass --allowed-origins with the origin you use")
        if origin is None:
            return "a websocket needs an Origin header" if headers.get_all("Upgrade") else None
        same_page = self.token is not None and origin in (f"http://{host}", f"https://{host}")
        if origin not in self.origins(port) and not same_page:
            hint = "" if origin == "null" else f"; pass --allowed-origins {origin} to allow it"
            return f"Origin {origin!r} may not use this viewer{hint}"
        return None

    def check(self, process_request: ProcessRequest | None) -> ProcessRequest:
        """``process_request`` with this policy in front: a refused request gets 403 and
        never reaches it; a page load with the token in its query also sets the cookie."""

        async def guarded(connection: ServerConnection, request: Request) -> Response | None:
            port = int(connection.local_address[1])
            reason = self.refusal(request, port)
            if reason is not None:
                return connection.respond(http.HTTPStatus.FORBIDDEN,
                                          f"splat3d viewer: {reason}\n")
            response = None
            if process_request is not None:
                response = process_request(connection, request)
                if isinstance(response, Awaitable):
                    response = await response
            if response is not None and self.token is not None \
                    and self._query_token(request) is not None:
                response.headers["Set-Cookie"] = (f"{self.cookie_name(port)}={self.token}; "
                                                  f"Path=/; HttpOnly; SameSite=Strict")
            return response

        return guarded

    def _has_token(self, request: Request, port: int) -> bool:
        assert self.token is not None
        name = self.cookie_name(port)
        cookies = [value for header in request.headers.get_all("Cookie")
                   for key, _, value in (pair.strip().partition("=")
                                         for pair in header.split(";")) if key == name]
        offered = [self._query_token(request), *cookies]
        return any(value is not None and hmac.compare_digest(value.encode(), self.token.encode())
                   for value in offered)

    @staticmethod
    def _query_token(request: Request) -> str | None:
        query = urllib.parse.urlsplit(request.path).query
        values = urllib.parse.parse_qs(query).get(TOKEN_QUERY, [])
        return values[0] if len(values) == 1 else None


@contextlib.contextmanager
def guard_new_servers(policy: AccessPolicy) -> Iterator[list[int]]:
    """While active, websockets servers started with ``websockets.asyncio.server.serve``
    (as viser's server thread does) pass every request through ``policy`` first.

    Yields a list that gets one entry per guarded ``serve`` call, so the caller can check
    that the server it started really is guarded.
    """
    guarded_calls: list[int] = []
    with _SERVE_LOCK:
        original = ws_server.serve

        def serve(*args: object, process_request: ProcessRequest | None = None,
                  **kwargs: object) -> ws_server.serve:
            guarded_calls.append(1)
            return original(*args, process_request=policy.check(process_request), **kwargs)

        ws_server.serve = serve  # type: ignore[assignment,misc]
        try:
            yield guarded_calls
        finally:
            ws_server.serve = original  # type: ignore[misc]
