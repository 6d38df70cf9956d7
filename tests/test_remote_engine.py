"""An engine on another machine (``DOCKER_HOST=tcp://...`` or ``ssh://...``): how verifix
tells, where setup goes out, what it refuses, and a real ``verify`` through a TCP engine."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import socket
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BUGGY_MODULE, diff_for, verifix
from verifix.sandbox import engine
from verifix.sandbox.config import read_repo_config, resolve
from verifix.sandbox.detect import detect
from verifix.sandbox.enginehost import EngineHost, is_loopback, locate
from verifix.sandbox.errors import EngineLost, EngineUnavailable, SandboxError, UsageError
from verifix.sandbox.gateway import SETUP_NETWORK, Gateway, host_addresses, setup_route
from verifix.sandbox.network import CONTAINER_CA_PATH, from_host, on_engine
from verifix.sandbox.prune import owner_running
from verifix.sandbox.settings import Layer

PASSWORD = "pr0xy-passw0rd"
REMOTE = EngineHost("tcp://build-box:2376", True, "DOCKER_HOST names build-box")


# --- which machine the engine is on ----------------------------------------------------


@pytest.mark.parametrize(
    ("docker_host", "remote"),
    [
        (None, False),
        ("unix:///var/run/docker.sock", False),
        ("tcp://127.0.0.1:2375", False),
        ("tcp://localhost:2375", False),
        ("tcp://[::1]:2375", False),
        ("tcp://127.0.1.1:2375", False),
        ("ssh://me@localhost", False),
        ("tcp://10.1.2.3:2376", True),
        ("tcp://build-box.example:2376", True),
        ("https://build-box:2376", True),
        ("ssh://me@build-box", True),
        ("ssh://me@[2001:db8::7]:22", True),
    ],
)
def test_the_address_says_whether_the_engine_is_on_this_machine(docker_host, remote):
    environ = {"DOCKER_HOST": docker_host} if docker_host else {}
    assert locate(environ).remote is remote


def test_verifix_engine_overrides_what_the_address_says():
    tunnel = {"DOCKER_HOST": "tcp://127.0.0.1:2375", "VERIFIX_ENGINE": "remote"}
    assert locate(tunnel).remote and "VERIFIX_ENGINE=remote" in locate(tunnel).why
    assert not locate({"DOCKER_HOST": "tcp://10.1.2.3:2376", "VERIFIX_ENGINE": "local"}).remote
    assert locate({"DOCKER_HOST": "tcp://10.1.2.3:2376", "VERIFIX_ENGINE": "auto"}).remote
    with pytest.raises(UsageError, match="local, remote or auto"):
        locate({"VERIFIX_ENGINE": "elsewhere"})


def test_no_name_is_resolved_to_decide():
    assert is_loopback("localhost") and is_loopback("") and is_loopback("::1")
    assert not is_loopback(socket.gethostname() + ".invalid")


# --- where setup goes out ----------------------------------------------------------------


def test_setup_on_a_remote_engine_never_goes_through_the_local_gateway():
    for mode in ("gateway", "bridge", "host", "none"):
        network, gated = setup_route(mode, remote=True)
        assert not gated and network != SETUP_NETWORK
    assert setup_route("gateway", remote=True) == ("bridge", False)
    assert setup_route("host", remote=True) == ("host", False)
    assert setup_route("none", remote=True) == ("none", False)


def test_setup_on_a_local_engine_keeps_the_gateway():
    assert setup_route("gateway", remote=False) == (SETUP_NETWORK, True)
    assert setup_route("bridge", remote=False) == ("bridge", True)
    assert setup_route("host", remote=False) == ("host", True)
    assert setup_route("none", remote=False) == ("none", False)


@pytest.fixture
def this_machines_settings(tmp_path, monkeypatch) -> Path:
    """A host with a proxy (with a password), a private index and a CA bundle of its own."""
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("HTTPS_PROXY", f"http://me:{PASSWORD}@proxy.corp.example:3128")
    monkeypatch.setenv("PIP_INDEX_URL", "https://pypi.corp.example/simple")
    monkeypatch.setenv("PIP_CERT", str(ca))
    return ca


def test_a_remote_engine_gets_nothing_of_this_machines_network_settings(
    this_machines_settings,
):
    assert from_host().proxy is not None  # what a local engine's setup would go through

    net = on_engine({}, {}, REMOTE)

    assert net.proxy is None and net.index_urls == () and net.ca_bundle is None
    env = net.container_env(None)
    assert not {"HTTPS_PROXY", "PIP_INDEX_URL", "PIP_CERT"} & set(env)
    assert PASSWORD not in json.dumps(env)
    assert any("another machine" in note for note in net.notes)


def test_a_remote_engine_uses_its_own_proxy_or_the_configured_one():
    own = {"https_proxy": "http://proxy.dc.example:3128", "no_proxy": "registry.dc.example"}
    env = on_engine({}, own, REMOTE).container_env(None)
    assert env["HTTPS_PROXY"] == env["http_proxy"] == "http://proxy.dc.example:3128"
    assert env["NO_PROXY"] == "registry.dc.example"

    configured = {"https_proxy": "http://other.dc.example:8080", "index_url": "https://i/simple"}
    env = on_engine(configured, own, REMOTE).container_env(None)
    assert env["HTTPS_PROXY"] == "http://other.dc.example:8080"
    assert env["PIP_INDEX_URL"] == "https://i/simple"


def test_a_configured_ca_bundle_is_read_here_and_copied_in(tmp_path):
    ca = tmp_path / "dc-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    net = on_engine({"ca_bundle": str(ca)}, {}, REMOTE)
    assert net.ca_bundle == ca
    assert net.container_env(None)["PIP_CERT"] == CONTAINER_CA_PATH
    with pytest.raises(UsageError, match="not a file on this machine"):
        on_engine({"ca_bundle": str(tmp_path / "missing.pem")}, {}, REMOTE)


@pytest.mark.parametrize("key", ["https_proxy", "http_proxy", "index_url", "extra_index_url"])
def test_credentials_for_a_remote_engines_setup_are_refused_without_repeating_them(key):
    with pytest.raises(UsageError) as refused:
        on_engine({key: f"https://me:{PASSWORD}@host.example/simple"}, {}, REMOTE)
    message = str(refused.value)
    assert PASSWORD not in message and "\n" not in message and key in message


def test_an_engine_proxy_with_credentials_is_left_out_with_a_note():
    net = on_engine({}, {"https_proxy": "http://xxxxx:xxxxx@proxy.dc.example:3128"}, REMOTE)
    assert net.proxy is None and "HTTPS_PROXY" not in net.container_env(None)
    assert any("needs credentials" in note for note in net.notes)


def test_without_a_remote_engine_setup_without_a_gateway_still_gets_no_proxy(
    this_machines_settings,
):
    env = from_host().container_env(None)
    assert "HTTPS_PROXY" not in env and PASSWORD not in json.dumps(env)


def test_bootstrap_gets_this_machines_own_settings():
    """Bootstrapping runs pip in a chroot on this machine, on this machine's network."""
    net = from_host({"https_proxy": "http://proxy:3128", "index_url": "https://i/simple"})
    env = net.host_env()
    assert env["HTTPS_PROXY"] == "http://proxy:3128" and env["PIP_INDEX_URL"] == "https://i/simple"


def test_a_gateway_that_cannot_listen_says_what_to_do():
    with pytest.raises(SandboxError) as failed, Gateway("198.51.100.7"):
        pass
    assert "VERIFIX_ENGINE=remote" in str(failed.value) and "\n" not in str(failed.value)


def test_a_repository_may_not_name_a_file_of_this_machine_for_setup(tmp_path):
    """The CA bundle is read here and copied into setup, where the repository's code runs."""
    (tmp_path / ".verifix.toml").write_text(
        '[sandbox]\nproxy = {ca_bundle = "/root/.ssh/id_rsa"}\n'
    )
    with pytest.raises(UsageError, match="only your user config or --config"):
        resolve(detect(tmp_path, None), read_repo_config(tmp_path))
    trusted = Layer("--config", {"proxy": {"ca_bundle": "/etc/ssl/dc.pem"}}, "file")
    assert resolve(detect(tmp_path, None), [trusted]).proxy["ca_bundle"] == "/etc/ssl/dc.pem"


# --- reaching the engine -----------------------------------------------------------------


def test_ssh_without_paramiko_is_one_line_that_names_it(monkeypatch):
    if importlib.util.find_spec("paramiko") is not None:
        pytest.skip("paramiko is installed here")
    monkeypatch.setenv("DOCKER_HOST", "ssh://me@build-box")
    with pytest.raises(EngineUnavailable, match="pip install paramiko"):
        engine.connect()


def test_tls_files_that_are_not_there_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", "tcp://build-box:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path / "no-certs"))
    with pytest.raises(EngineUnavailable, match="DOCKER_CERT_PATH"):
        engine.connect()


def test_a_remote_engine_that_does_not_answer_is_not_told_to_start_dockerd(monkeypatch):
    monkeypatch.setattr(engine, "_engine_gone", False)  # lost() marks it; put it back after
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    monkeypatch.setenv("VERIFIX_ENGINE", "remote")
    with pytest.raises(EngineUnavailable) as failed:
        engine.connect()
    assert "dockerd" not in str(failed.value) and "listens on that port" in str(failed.value)
    assert "reachable from here" in str(engine.lost(ConnectionError()))


def test_an_ssh_session_that_ends_is_the_engine_lost(monkeypatch):
    """Over ``ssh://`` docker-py's transport is paramiko, whose errors requests does not
    translate: a session that ends mid-run must still be one line, not a traceback."""

    class SSHException(Exception):
        pass

    monkeypatch.setitem(sys.modules, "paramiko", types.SimpleNamespace(SSHException=SSHException))
    monkeypatch.setattr(engine, "_engine_gone", False)
    monkeypatch.setenv("DOCKER_HOST", "ssh://me@build-box")

    def request(*args, **kwargs):
        raise SSHException("SSH session not active")

    with pytest.raises(EngineLost, match="went away mid-run: check that it is running and reach"):
        engine._losing_engine_raises(request)()


def test_prune_keeps_containers_made_from_another_machine():
    assert owner_running({"verifix.pid": "1", "verifix.host": "another-machine.invalid"})
    assert not owner_running({"verifix.pid": "999999999"})
    assert not owner_running({"verifix.pid": "999999999", "verifix.host": socket.gethostname()})


# --- a real engine, reached over TCP -----------------------------------------------------


class Forwarder:
    """``tcp://ADDRESS:PORT`` in front of the engine's unix socket, for this machine only
    (the engine is root on this machine: no other peer may use it), recording what the
    client asked of the engine."""

    def __init__(self, address: str, engine_socket: str) -> None:
        self.engine_socket = engine_socket
        self.allowed = host_addresses() | {"127.0.0.1"}
        self.sent = bytearray()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.server = socket.create_server((address, 0))
        self.url = f"tcp://{address}:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, (peer, *_) = self.server.accept()
            except OSError:
                return
            if peer not in self.allowed:
                client.close()
                continue
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.engine_socket)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, record: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if record:
                    with self._lock:
                        self.sent += data
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()
        with self._lock:
            for sock in self._open:
                sock.close()


@contextlib.contextmanager
def engine_over_tcp(address: str) -> Iterator[Forwarder]:
    here = engine.where()
    if not here.startswith("unix://"):
        pytest.skip(f"the forwarder needs the engine's unix socket, not {here}")
    forwarder = Forwarder(address, here[len("unix://") :])
    try:
        yield forwarder
    finally:
        forwarder.close()


def another_address() -> str | None:
    """This machine's main address (the one it speaks from), not loopback: to verifix,
    another machine's."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("198.51.100.1", 9))  # no packet is sent: only a route is chosen
        address = probe.getsockname()[0]
        return None if address.startswith("127.") else address
    return None


def verify_fix(make_repo, tmp_path, docker_host: str, *env: tuple[str, str]) -> dict:
    repo = make_repo()
    patch = tmp_path / "fix.diff"
    patch.write_text(diff_for(repo, "calc.py", BUGGY_MODULE.replace("a - b", "a + b")))
    # The engine's machine has no proxy settings of its own here; what it needs of this
    # machine's TLS trust (a CA bundle, when this network intercepts TLS) is configured, as
    # a remote engine's user would.
    config = tmp_path / "remote.toml"
    ca = from_host().ca_bundle
    config.write_text(f"[sandbox]\nproxy = {{ca_bundle = {json.dumps(str(ca))}}}\n" if ca else "")
    result = verifix(
        "verify", "--json", "--patch", str(patch), "--config", str(config), str(repo),
        env={"DOCKER_HOST": docker_host, **dict(env)},
        timeout=300,
    )  # fmt: skip
    assert result.code == 0, result.out + result.err
    verdict = json.loads(result.out)
    assert verdict["status"] == "VERIFIED" and not verdict["environment"]["cached"]
    return verdict


@pytest.mark.docker
def test_verify_through_an_engine_on_another_address_sets_up_on_its_network(make_repo, tmp_path):
    address = another_address()
    forced = () if address else (("VERIFIX_ENGINE", "remote"),)
    with engine_over_tcp(address or "127.0.0.1") as forwarder:
        verdict = verify_fix(make_repo, tmp_path, forwarder.url, *forced)
    notes = " ".join(verdict["environment"]["notes"])
    assert "another machine" in notes and "not verifix's setup gateway" in notes
    # What the engine was asked: setup on its own bridge, never on the gateway's internal
    # network, and no proxy handed to setup (none is configured for the engine's machine).
    assert b'"NetworkMode": "bridge"' in forwarder.sent
    assert SETUP_NETWORK.encode() not in forwarder.sent
    assert b"HTTP_PROXY" not in forwarder.sent and b"HTTPS_PROXY" not in forwarder.sent
    # Test runs: no network, as ever.
    assert b'"NetworkMode": "none"' in forwarder.sent


@pytest.mark.docker
def test_verify_through_a_loopback_tcp_engine_keeps_the_gateway(make_repo, tmp_path):
    with engine_over_tcp("127.0.0.1") as forwarder:
        verdict = verify_fix(make_repo, tmp_path, forwarder.url)
    assert not any("another machine" in note for note in verdict["environment"]["notes"])
    assert SETUP_NETWORK.encode() in forwarder.sent and b"HTTPS_PROXY" in forwarder.sent
