"""Proxy, index and CA settings for setup, read from the host's real configuration, and the
setup gateway that keeps their secrets on the host (issue 9, part 6)."""

from __future__ import annotations

import base64
import io
import json
import socket
import tarfile
import threading
import urllib.error
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import verifix
from verifix.sandbox.gateway import Gateway, Index, Upstream, host_addresses
from verifix.sandbox.network import CONTAINER_CA_PATH, from_host

TOKEN = "s3cret-index-t0ken"
PASSWORD = "pr0xy-passw0rd"


def test_host_proxy_pip_config_and_ca_are_carried_over(tmp_path, monkeypatch):
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\n"
        "index-url = https://pypi.corp.example/simple\n"
        "extra-index-url = file:///opt/wheels https://mirror.corp.example/simple\n"
        f"cert = {ca}\n"
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("PIP_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("no_proxy", "localhost")

    net = from_host()

    assert net.proxy == "http://proxy.corp.example:3128" and net.no_proxy == "localhost"
    assert net.index_urls == (
        "https://pypi.corp.example/simple",
        "https://mirror.corp.example/simple",
    )
    assert any("file:///opt/wheels" in n for n in net.notes)
    assert net.ca_bundle == ca
    env = net.container_env(None)
    assert env["PIP_CERT"] == env["REQUESTS_CA_BUNDLE"] == CONTAINER_CA_PATH
    assert env["PIP_INDEX_URL"] == "https://pypi.corp.example/simple"
    assert "HTTPS_PROXY" not in env  # without a gateway, no way out is handed over


def test_config_overrides_win(monkeypatch, tmp_path):
    monkeypatch.setenv("HTTP_PROXY", "http://host-proxy:1")
    net = from_host({"http_proxy": "http://cfg-proxy:2", "ca_bundle": str(tmp_path / "missing")})
    assert net.proxy == "http://cfg-proxy:2"
    assert net.ca_bundle is None
    assert any("does not exist" in n for n in net.notes)


def test_no_secret_from_proxy_or_index_settings_is_handed_to_setup(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", f"http://me:{PASSWORD}@proxy.corp.example:3128")
    net = from_host({"index_url": f"https://me:{TOKEN}@pypi.corp.example/simple"})
    with net.gateway("127.0.0.1") as gate:
        env = net.container_env(gate)
    assert TOKEN not in json.dumps(env) and PASSWORD not in json.dumps(env)
    assert env["HTTPS_PROXY"] == gate.url
    assert env["PIP_INDEX_URL"] == gate.url + "/index/0/simple/"
    assert "127.0.0.1" in env["PIP_TRUSTED_HOST"].split()
    assert TOKEN not in json.dumps(net.cache_relevant())


# --- the gateway on the host, against local servers ------------------------------------


class Recorder(ThreadingHTTPServer):
    """A local HTTP server that records every request: a host service, or an index."""

    def __init__(self, auth: str | None = None, bind: str = "127.0.0.1") -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.auth = auth
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                given = self.headers.get("Authorization")
                owner.seen.append((self.path, given))
                if owner.auth and given != owner.auth:
                    self.send_response(401)
                    self.end_headers()
                    return
                status, kind, body = owner.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__((bind, 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def answer(self, path: str) -> tuple[int, str, bytes]:
        return 200, "text/plain", b"a host secret"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254", "own-address"])
def test_the_gateway_refuses_this_machines_services_and_link_local_ones(host):
    """Loopback, cloud metadata, and a service listening on all of the host's interfaces
    reached through one of its other addresses."""
    service = Recorder(bind="0.0.0.0")
    if host == "own-address":
        host = sorted(a for a in host_addresses() if not a.startswith("127."))[0]
    with Gateway("127.0.0.1") as gate:
        proxied = urllib.request.build_opener(urllib.request.ProxyHandler({"http": gate.url}))
        with pytest.raises(urllib.error.HTTPError, match="403"):
            proxied.open(f"http://{host}:{service.port}/secret", timeout=10)
        sock = socket.create_connection(("127.0.0.1", int(gate.url.rsplit(":", 1)[1])))
        sock.sendall(f"CONNECT {host}:{service.port} HTTP/1.1\r\n\r\n".encode())
        assert b" 403 " in sock.recv(200)
    service.shutdown()
    assert service.seen == []
    assert gate.refused


def test_a_configured_host_is_reachable_but_only_on_its_port():
    index, other = Recorder(), Recorder()
    with Gateway("127.0.0.1", allowed=frozenset({f"127.0.0.1:{index.port}"})) as gate:
        proxied = urllib.request.build_opener(urllib.request.ProxyHandler({"http": gate.url}))
        assert proxied.open(f"http://127.0.0.1:{index.port}/ok", timeout=10).status == 200
        with pytest.raises(urllib.error.HTTPError, match="403"):
            proxied.open(f"http://127.0.0.1:{other.port}/secret", timeout=10)
    assert index.seen == [("/ok", None)] and other.seen == []


class Index_(Recorder):
    """A private index: a simple page whose link is rooted at the host, and one wheel."""

    def __init__(self, auth: str, wheel: bytes) -> None:
        self.wheel = wheel
        super().__init__(auth)

    def answer(self, path: str) -> tuple[int, str, bytes]:
        if path.startswith("/simple/vfxprobe"):
            link = '<a href="/files/vfxprobe-1.0-py3-none-any.whl">vfxprobe-1.0</a>'
            return 200, "text/html", f"<html><body>{link}</body></html>".encode()
        if path == "/files/vfxprobe-1.0-py3-none-any.whl":
            return 200, "application/octet-stream", self.wheel
        return 404, "text/plain", b"no"


def wheel() -> bytes:
    """A minimal pure-Python wheel of ``vfxprobe`` 1.0."""
    files = {
        "vfxprobe.py": "ANSWER = 42\n",
        "vfxprobe-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: vfxprobe\nVersion: 1.0\n",
        "vfxprobe-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    files["vfxprobe-1.0.dist-info/RECORD"] = "".join(f"{p},,\n" for p in files) + (
        "vfxprobe-1.0.dist-info/RECORD,,\n"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return out.getvalue()


def test_a_credentialed_index_is_served_without_its_credentials():
    index = Index_(basic("me", TOKEN), wheel())
    entry = Index.parse(f"http://me:{TOKEN}@127.0.0.1:{index.port}/simple")
    with Gateway("127.0.0.1", indexes=[entry]) as gate:
        page = urllib.request.urlopen(gate.index_url(0) + "vfxprobe/", timeout=10).read()
        assert b'href="/index/0/files/vfxprobe-1.0-py3-none-any.whl"' in page
        got = urllib.request.urlopen(f"{gate.url}/index/0/files/vfxprobe-1.0-py3-none-any.whl")
        assert got.read() == index.wheel
    assert all(auth == basic("me", TOKEN) for _, auth in index.seen)


def refusing_proxy() -> tuple[int, list[bytes]]:
    """A host proxy that records the first request it gets and refuses it (407): its port,
    and what it saw."""
    seen: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))

    def once() -> None:
        conn, _ = server.accept()
        seen.append(conn.recv(4096))
        conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
        conn.close()

    threading.Thread(target=once, daemon=True).start()
    return server.getsockname()[1], seen


def test_the_hosts_proxy_gets_its_credentials_from_the_gateway_not_from_setup():
    target = Recorder()
    port, seen = refusing_proxy()
    upstream = Upstream.parse(f"http://me:{PASSWORD}@127.0.0.1:{port}")
    allowed = frozenset({f"127.0.0.1:{target.port}"})
    with Gateway("127.0.0.1", upstream=upstream, allowed=allowed) as gate:
        sock = socket.create_connection(("127.0.0.1", int(gate.url.rsplit(":", 1)[1])))
        sock.sendall(f"CONNECT 127.0.0.1:{target.port} HTTP/1.1\r\n\r\n".encode())
        assert b" 502 " in sock.recv(200)  # the test proxy said 407: nothing went through
    assert seen and basic("me", PASSWORD).encode() in seen[0]


def test_behind_a_proxy_a_name_only_the_proxy_can_resolve_goes_to_the_proxy():
    port, seen = refusing_proxy()
    upstream = Upstream.parse(f"http://127.0.0.1:{port}")
    with Gateway("127.0.0.1", upstream=upstream) as gate:
        sock = socket.create_connection(("127.0.0.1", int(gate.url.rsplit(":", 1)[1])))
        sock.sendall(b"CONNECT pypi.corp.invalid:443 HTTP/1.1\r\n\r\n")
        sock.recv(200)
    assert seen and seen[0].startswith(b"CONNECT pypi.corp.invalid:443 ")


# --- end to end: a real setup container ------------------------------------------------


def test_setup_installs_from_a_private_index_and_never_sees_a_secret(make_repo, docker_client):
    index = Index_(basic("me", TOKEN), wheel())
    service = Recorder()
    probe = (
        "import os, urllib.request as u\n"
        "open('/setup-env.txt', 'w').write(repr(dict(os.environ)))\n"
        f"for url in ('http://127.0.0.1:{service.port}/direct', 'http://localhost:{service.port}/local'):\n"
        "    try:\n"
        "        u.build_opener(u.ProxyHandler({'http': os.environ['HTTP_PROXY']}))"
        ".open(url, timeout=5)\n"
        "    except Exception as exc:\n"
        "        print('refused', exc)\n"
    )
    repo = make_repo()
    (repo / "probe.py").write_text(probe)
    (repo / ".verifix.toml").write_text(
        "[sandbox]\n"
        'setup = ["python -m pip install --no-cache-dir vfxprobe", "python probe.py"]\n'
        f'proxy = {{ index_url = "http://me:{TOKEN}@127.0.0.1:{index.port}/simple" }}\n'
    )
    built = verifix("env", "build", str(repo))
    assert built.code == 0, built.err
    image = built.out.split()[0]
    box = docker_client.containers.create(image, ["true"], network_mode="none")
    archive = b"".join(box.get_archive("/setup-env.txt")[0])  # read from the image itself
    box.remove()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        env_text = tar.extractfile("setup-env.txt").read().decode()
    answer = docker_client.containers.run(
        image,
        ["python", "-c", "import vfxprobe; print(vfxprobe.ANSWER)"],
        remove=True,
        network_mode="none",
    )
    docker_client.images.remove(image)
    assert answer.strip() == b"42"  # installed from the private index, through the gateway
    assert TOKEN not in env_text and "HTTP_PROXY" in env_text
    assert service.seen == []  # the host's local service was never reached
    assert index.seen and all(auth == basic("me", TOKEN) for _, auth in index.seen)
