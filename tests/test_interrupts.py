"""Interrupts and a failing engine at the worst moments: nothing verifix made outlives them.

The moments are driven, not slept for: verifix talks to the engine through a proxy in front
of the real socket, which acts the instant a given request (create, start, exec) has gone
to the engine, so verifix is waiting on exactly that answer; it also plays an engine that
went away or hung, without touching the shared one. A ``git`` or ``tar`` on PATH that stops
and says so marks a snapshot half written.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import OURS, VERIFIX, verifix

REAL_SOCKET = "/var/run/docker.sock"
#: No package installs: the environment builds in seconds and needs no network.
SETUP = ("--setup", "true")


def _start(repo: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VERIFIX), "verify", *SETUP, str(repo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _ours(docker_client) -> list[str]:
    return [c.name for c in docker_client.containers.list(all=True, filters=OURS)]


@pytest.mark.parametrize(
    ("kind", "call", "sig"),
    [
        ("build", rb"POST /[^ ]*/containers/create", signal.SIGTERM),
        ("build", rb"POST /[^ ]*/containers/[^/ ]+/start", signal.SIGINT),
        ("run", rb"POST /[^ ]*/containers/create", signal.SIGINT),
        ("run", rb"POST /[^ ]*/containers/[^/ ]+/start", signal.SIGTERM),
    ],
)
def test_an_interrupt_as_a_container_is_created_or_started_leaves_no_container(
    make_repo, docker_client, proxy, kind, call, sig
):
    repo = make_repo()
    if kind == "run":  # the environment exists, so the first container is the test run's
        assert verifix("env", "build", *SETUP, str(repo)).code == 0
    proc = _start(repo, {"DOCKER_HOST": proxy.url})
    proxy.on(call, lambda: proc.send_signal(sig))
    _, err = proc.communicate(timeout=300)

    assert proxy.fired, "the request never reached the engine"
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert _ours(docker_client) == []


def _pausing(tmp_path: Path, tool: str, word: str) -> tuple[dict[str, str], Path]:
    """PATH with a ``tool`` that, when called with ``word``, says so and waits to be killed."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "paused"
    bin_dir.mkdir()
    real = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
    script = bin_dir / tool
    script.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do [ "$a" = "{word}" ] && touch {marker} && exec sleep 120; done\n'
        f'exec {real} "$@"\n'
    )
    script.chmod(0o755)
    snaps = tmp_path / "tmp"
    snaps.mkdir()
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(snaps)}, marker


@pytest.mark.parametrize(
    ("tool", "word", "sig"),
    [("git", "archive", signal.SIGTERM), ("tar", "-x", signal.SIGINT)],
)
def test_an_interrupt_while_snapshotting_leaves_no_snapshot_folder(
    make_repo, tmp_path, tool, word, sig
):
    repo = make_repo()
    env, marker = _pausing(tmp_path, tool, word)
    proc = _start(repo, env)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), f"verifix never ran {tool} {word}"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    assert sorted(p.name for p in Path(env["TMPDIR"]).glob("verifix-snap-*")) == []


class EngineProxy:
    """A unix socket forwarding to the real engine; a test picks a request at which to act.

    ``on(pattern, act)`` forwards the first request matching ``pattern`` to the engine and
    then calls ``act``: verifix is then waiting for the engine's answer to exactly that
    request. ``cut`` and ``stall`` are engines that went away or hung.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stalled = threading.Event()
        self.closed = threading.Event()
        self.fired = threading.Event()
        self.trigger: tuple[bytes, Callable[[], None]] | None = None
        self.sockets: list[socket.socket] = []
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def on(self, pattern: bytes, act: Callable[[], None]) -> None:
        self.trigger = (pattern, act)

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            for _ in range(50):  # a busy engine can refuse a connection for a moment
                try:
                    upstream.connect(REAL_SOCKET)
                    break
                except (BlockingIOError, ConnectionRefusedError):
                    time.sleep(0.1)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, request: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
                while self.stalled.is_set() and not self.closed.is_set():
                    time.sleep(0.05)  # held: the engine looks alive and says nothing
                if not data or self.closed.is_set():
                    break
                sink.sendall(data)
                if request and self.trigger and not self.fired.is_set():
                    pattern, act = self.trigger
                    if re.search(pattern, data):
                        self.fired.set()
                        act()
            except OSError:
                break
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def stall(self) -> None:
        """The engine hangs: nothing more goes either way, connections stay open."""
        self.stalled.set()

    def cut(self) -> None:
        """The engine goes away: open connections drop, new ones are refused."""
        self.closed.set()
        self.server.close()
        self.path.unlink(missing_ok=True)
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy(tmp_path):
    engine = EngineProxy(tmp_path / "engine.sock")
    yield engine
    engine.cut()


#: The first command verifix runs in the test container: it waits for the engine's answer.
EXEC_START = rb"POST /[^ ]*/exec/[^/ ]+/start"


def _remove_leftovers(docker_client) -> list[str]:
    """What the lost engine kept verifix from removing; removed here, named for the asserts."""
    names = _ours(docker_client)
    for container in docker_client.containers.list(all=True, filters=OURS):
        container.remove(force=True)
    return names


def test_an_engine_lost_mid_run_is_one_line_and_exit_3(make_repo, docker_client, proxy):
    repo = make_repo()
    assert verifix("env", "build", *SETUP, str(repo)).code == 0
    proc = _start(repo, {"DOCKER_HOST": proxy.url})
    proxy.on(EXEC_START, proxy.cut)
    _, err = proc.communicate(timeout=300)
    _remove_leftovers(docker_client)

    assert proc.returncode == 3, err
    lines = err.strip().splitlines()
    assert "went away" in lines[-1] and "verifix env prune" in lines[-1], err
    assert "Traceback" not in err and "ConnectionError" not in err


def test_a_hung_engine_still_lets_sigterm_end_the_run(make_repo, docker_client, proxy):
    repo = make_repo()
    assert verifix("env", "build", *SETUP, str(repo)).code == 0
    proc = _start(repo, {"DOCKER_HOST": proxy.url})
    stalled_at: list[float] = []

    def stall_then_terminate() -> None:
        proxy.stall()
        stalled_at.append(time.monotonic())
        proc.send_signal(signal.SIGTERM)

    proxy.on(EXEC_START, stall_then_terminate)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail("SIGTERM did not end verifix while the engine hung")
    finally:
        proxy.cut()
        _remove_leftovers(docker_client)

    assert time.monotonic() - stalled_at[0] < 60  # the removal's bound, not the tests'
    assert proc.returncode == 3, err
    assert "stopped answering" in err.strip().splitlines()[-1], err
    assert "Traceback" not in err
