"""The setup gateway: the one way out of a setup container, holding the credentials.

Setup runs the repository's own build code (``setup.py``, build backends, post-install
hooks) with network access, so whatever setup is handed, that code can read: a proxy URL
with a password, an index URL with a token. And on the host's network it could reach the
host's loopback services. So setup containers sit on an internal Docker network whose only
reachable address is this gateway, a small forwarding proxy in the verifix process:

- ``CONNECT host:port`` and absolute-form ``GET http://...`` requests are forwarded, through
  the host's own proxy when it has one (the gateway adds that proxy's credentials itself);
- a destination that resolves to a loopback, private, link-local or otherwise reserved
  address is refused, unless it is a host the user configured (a package index, say), and
  the connection goes to the address that was checked;
- a package index whose URL holds credentials is served at ``/index/N/`` on the gateway:
  the gateway adds the credentials upstream and rewrites the index's own links back to
  itself, so pip inside sees a plain URL.

What the container is told is only the gateway's address: no secret enters it.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import itertools
import re
import select
import socket
import socketserver
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from .enginehost import ENGINE_VAR
from .errors import SandboxError

if TYPE_CHECKING:
    import docker

_MAX_HEAD = 64 * 1024
_CONNECT_TIMEOUT_S = 30.0
_IDLE_TIMEOUT_S = 300.0
Headers = list[tuple[str, str]]
#: A link to a path on the index's own host (``href="/packages/..."``, ``"url": "/..."``).
_ROOTED_LINK = re.compile(rb"""((?:href=|"url"\s*:\s*)["'])/(?!/)""")
_HOP_HEADERS = ("proxy-authorization", "proxy-connection", "connection", "keep-alive")


@dataclass(frozen=True)
class Upstream:
    """The host's proxy: where the gateway sends traffic, and the credentials it adds."""

    host: str
    port: int
    authorization: str | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def parse(cls, url: str, no_proxy: str = "") -> Upstream:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        auth = None
        if parts.username:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(pair.encode()).decode()
        skip = tuple(h.strip().lstrip(".").lower() for h in no_proxy.split(",") if h.strip())
        return cls(parts.hostname or "", parts.port or 80, auth, skip)

    def bypassed(self, host: str) -> bool:
        host = host.lower()
        return any(h == "*" or host == h or host.endswith("." + h) for h in self.no_proxy)


@dataclass(frozen=True)
class Index:
    """A package index whose URL carries credentials: served on the gateway without them.
    The gateway's ``/index/N/`` stands for the index's origin, so links anywhere on that
    host (``/packages/...`` as well as ``/simple/...``) come back through the gateway."""

    origin: str  # scheme://host[:port], without credentials
    path: str  # the index's own path, such as /simple/
    authorization: str

    @classmethod
    def parse(cls, url: str) -> Index:
        parts = urlsplit(url)
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        origin = urlunsplit((parts.scheme, netloc, "", "", ""))
        return cls(origin, path, "Basic " + base64.b64encode(pair.encode()).decode())


def has_credentials(url: str) -> bool:
    return "://" in url and bool(urlsplit(url).username)


@dataclass
class Gateway:
    """A forwarding proxy on ``bind`` for the duration of one environment build."""

    bind: str
    upstream: Upstream | None = None
    indexes: list[Index] = field(default_factory=list)
    #: ``host:port`` the user configured (indexes, trusted hosts): reachable even when
    #: private or local. Only those ports: a configured index on localhost does not open
    #: the host's other local services.
    allowed: frozenset[str] = frozenset()
    #: What was refused, for the build's notes.
    refused: list[str] = field(default_factory=list)
    _server: socketserver.ThreadingTCPServer | None = None
    #: This machine's addresses, read once per build rather than once per request.
    _own: frozenset[str] = frozenset()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{self.bind}:{self._server.server_address[1]}"

    def index_url(self, number: int) -> str:
        """Where pip finds index ``number``: the gateway's stand-in for its origin."""
        return f"{self.url}/index/{number}{self.indexes[number].path}"

    def container_env(self) -> dict[str, str]:
        """Proxy variables for every client in the container: the gateway's address only."""
        env = {}
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            env[name] = env[name.lower()] = self.url
        env["NO_PROXY"] = env["no_proxy"] = f"{self.bind},localhost,127.0.0.1"
        return env

    def __enter__(self) -> Gateway:
        gateway = self
        self._own = host_addresses()

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(_IDLE_TIMEOUT_S)
                gateway._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that went away mid-transfer is not the build's problem

        try:
            self._server = Server((self.bind, 0), Handler)
        except OSError as exc:
            raise SandboxError(
                f"the setup gateway cannot listen on {self.bind}, the engine's address for "
                f"setup containers ({exc.strerror}): if the engine is on another machine, "
                f"set {ENGINE_VAR}=remote"
            ) from exc
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- one request -------------------------------------------------------------------

    def _handle(self, client: socket.socket) -> None:
        head = _read_head(client)
        if head is None:
            return
        line, headers, early = head
        try:
            method, target, _version = line.split(" ", 2)
        except ValueError:
            _reply(client, 400, "bad request line")
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            self._tunnel(client, early, host.strip("[]"), int(port or 443))
        elif target.startswith("http://"):
            self._forward(client, early, method, target, headers)
        elif target.startswith("/index/"):
            self._index(client, method, target, headers)
        else:
            _reply(client, 400, "the setup gateway forwards proxy requests only")

    def _why_refused(self, host: str, port: int) -> tuple[str | None, str | None]:
        """(reason, address to connect to): a name is resolved once, checked, and the
        checked address is used, so a second lookup cannot point elsewhere."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            if self.upstream is not None and not self.upstream.bypassed(host):
                # Behind a proxy the host often resolves nothing outside: the proxy does.
                return None, host
            return f"cannot resolve {host}: {exc}", None
        address = infos[0][4][0]
        if f"{host.lower()}:{port}" in self.allowed:
            return None, address
        own = self._own
        for info in infos:
            ip = ipaddress.ip_address(info[4][0].split("%")[0])
            if (
                ip.is_loopback
                or ip.is_link_local
                or ip.is_unspecified
                or ip.is_multicast
                or (str(ip) in own)
            ):
                reason = (
                    f"{host} is this machine or a link-local address ({ip}); setup may not reach it"
                )
                self.refused.append(reason)
                return reason, None
        return None, address

    def _open(self, host: str, port: int) -> socket.socket:
        """A connection to ``host:port``: through the host's proxy, or direct."""
        if self.upstream is not None and not self.upstream.bypassed(host):
            sock = socket.create_connection(
                (self.upstream.host, self.upstream.port), timeout=_CONNECT_TIMEOUT_S
            )
            request = f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            if self.upstream.authorization:
                request += f"Proxy-Authorization: {self.upstream.authorization}\r\n"
            sock.sendall((request + "\r\n").encode())
            status = _read_head(sock)
            if status is None or " 200 " not in status[0] + " ":
                sock.close()
                raise OSError(f"the host's proxy refused {host}:{port}")
            return sock
        return socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S)

    def _tunnel(self, client: socket.socket, early: bytes, host: str, port: int) -> None:
        reason, address = self._why_refused(host, port)
        if reason:
            _reply(client, 403, reason)
            return
        try:
            upstream = self._open(address if self.upstream is None else host, port)
        except OSError as exc:
            _reply(client, 502, str(exc))
            return
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _splice(client, early, upstream)

    def _forward(
        self, client: socket.socket, early: bytes, method: str, target: str, headers: Headers
    ) -> None:
        parts = urlsplit(target)
        host, port = parts.hostname or "", parts.port or 80
        reason, address = self._why_refused(host, port)
        if reason:
            _reply(client, 403, reason)
            return
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        kept = [(k, v) for k, v in headers if k.lower() not in _HOP_HEADERS]
        try:
            if self.upstream is not None and not self.upstream.bypassed(host):
                upstream = socket.create_connection(
                    (self.upstream.host, self.upstream.port), timeout=_CONNECT_TIMEOUT_S
                )
                request_target = target
                if self.upstream.authorization:
                    kept.append(("Proxy-Authorization", self.upstream.authorization))
            else:
                upstream = socket.create_connection((address, port), timeout=_CONNECT_TIMEOUT_S)
                request_target = path
        except OSError as exc:
            _reply(client, 502, str(exc))
            return
        lines = [f"{method} {request_target} HTTP/1.1", *(f"{k}: {v}" for k, v in kept)]
        upstream.sendall(("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode())
        _splice(client, early, upstream)

    def _index(self, client: socket.socket, method: str, target: str, headers: Headers) -> None:
        number, _, rest = target[len("/index/") :].partition("/")
        if not number.isdigit() or int(number) >= len(self.indexes) or method != "GET":
            _reply(client, 404, "no such index")
            return
        index = self.indexes[int(number)]
        request = urllib.request.Request(f"{index.origin}/{rest}")
        request.add_header("Authorization", index.authorization)
        for key, value in headers:
            if key.lower() in ("accept", "user-agent"):
                request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=_IDLE_TIMEOUT_S) as response:
                status, body = response.status, response.read()
                kind = response.headers.get("Content-Type", "application/octet-stream")
        except urllib.error.HTTPError as exc:
            status, body, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
        except OSError as exc:
            _reply(client, 502, str(exc))
            return
        if "html" in kind or "json" in kind:  # the index's own links lead back here
            here = f"/index/{number}/"
            body = body.replace(index.origin.encode() + b"/", f"{self.url}{here}".encode())
            body = _ROOTED_LINK.sub(rb"\1" + here.encode(), body)
        client.sendall(
            f"HTTP/1.1 {status} OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )


def host_addresses() -> frozenset[str]:
    """Every address of this machine's own interfaces (a service listening on all of them
    is as local as one on loopback): Linux's routing table of local addresses, and what the
    host name resolves to elsewhere."""
    found: set[str] = set()
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        lines = []
    for before, line in itertools.pairwise(lines):
        if "/32 host LOCAL" in line:
            found.add(before.split()[-1])
    with contextlib.suppress(OSError):
        found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    return frozenset(found)


def _read_head(sock: socket.socket) -> tuple[str, Headers, bytes] | None:
    """The request (or status) line, the headers (at most 64 KiB of them), and any bytes
    that arrived after them (the start of a body, or of a tunnelled stream)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > _MAX_HEAD:
            return None
        data += chunk
    head, _, early = data.partition(b"\r\n\r\n")
    line, *rest = head.decode("latin-1").split("\r\n")
    headers = []
    for raw in rest:
        key, _, value = raw.partition(":")
        headers.append((key.strip(), value.strip()))
    return line.strip(), headers, early


def _reply(client: socket.socket, status: int, message: str) -> None:
    body = f"verifix setup gateway: {message}\n".encode()
    client.sendall(
        f"HTTP/1.1 {status} Refused\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}"
        "\r\nConnection: close\r\n\r\n".encode()
        + body
    )


def _splice(client: socket.socket, early: bytes, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes or nothing moves for a while."""
    sockets = [client, upstream]
    try:
        if early:
            upstream.sendall(early)
        while True:
            ready, _, _ = select.select(sockets, [], [], _IDLE_TIMEOUT_S)
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()


#: The internal Docker network setup containers join: it reaches nothing but the host.
SETUP_NETWORK = "verifix-setup"


def setup_route(mode: str, remote: bool) -> tuple[str, bool]:
    """(the setup container's network, whether the gateway serves it) for a setup mode.

    On this machine's engine: ``gateway`` (default) an internal network whose only way out
    is the gateway; ``host`` the host's network (its loopback too: for a proxy only the
    host can reach); ``bridge`` Docker's default bridge; ``none`` no network. On another
    machine's engine no address of that machine reaches the gateway in this process, so
    setup uses that machine's own networks: ``gateway`` and ``bridge`` its bridge, ``host``
    its host network; ``none`` stays none. Test runs get no network either way.
    """
    if mode == "none":
        return "none", False
    if remote:
        return ("host" if mode == "host" else "bridge"), False
    return (SETUP_NETWORK if mode == "gateway" else mode), True


def route(client: docker.DockerClient, mode: str, remote: bool = False) -> tuple[str, str | None]:
    """(the container's network, the address the gateway listens on, or None for no
    gateway) for a setup mode; see ``setup_route``."""
    from docker.errors import APIError, NotFound

    name, gated = setup_route(mode, remote)
    if not gated:
        return name, None
    if name == "host":
        return "host", "127.0.0.1"
    try:
        network = client.networks.get(name)
    except NotFound:
        try:
            network = client.networks.create(
                name, driver="bridge", internal=True, labels={"verifix": "1"}
            )
        except APIError:  # another verifix made it in the meantime
            network = client.networks.get(name)
    network.reload()
    return name, network.attrs["IPAM"]["Config"][0]["Gateway"]
