"""One running container: copy files in, run commands under a timeout, always clean up.

A container lives for one verification run and is reused for every check in it (a reset
between checks is far cheaper than a new container). It is removed on success, failure,
exceptions and Ctrl-C, because the ``with`` block's exit always runs.
"""

from __future__ import annotations

import io
import select
import shlex
import struct
import tarfile
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from .engine import (
    CLEANUP_TIMEOUT_S,
    call_timeout,
    closing,
    interrupts_deferred,
    lost,
    owner_labels,
    remove_at_exit,
)
from .errors import SandboxError

if TYPE_CHECKING:
    import docker

#: Output kept per command: the head (how it started) and the tail (how it ended).
OUTPUT_CAP_BYTES = 64 * 1024
_KILL_GRACE_S = 5
#: How long past a command's own timeout (and its kill grace) its output stream may stay
#: open: by then the command is dead, so a stream still open is an engine that hung.
_STREAM_SLACK_S = 30
_STDOUT, _STDERR = 1, 2

#: Enough for package installs and test suites that chown or switch users; everything else
#: Docker grants by default (raw sockets, mknod, chroot, audit, ...) is dropped.
_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID"]


@dataclass(frozen=True)
class Limits:
    memory: str
    cpus: float
    pids: int


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str
    timed_out: bool
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class CappedBuffer:
    """Keeps the first and last ``cap/2`` bytes of a stream and counts what it dropped."""

    def __init__(self, cap: int = OUTPUT_CAP_BYTES) -> None:
        self.half = cap // 2
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_len = 0
        self.dropped = 0

    def write(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail.append(chunk)
        self.tail_len += len(chunk)
        while self.tail_len - len(self.tail[0]) >= self.half:
            self.tail_len -= len(self.tail[0])
            self.dropped += len(self.tail.popleft())

    def text(self) -> str:
        tail = b"".join(self.tail)
        if self.tail_len > self.half:
            self.dropped += self.tail_len - self.half
            tail = tail[-self.half :]
            self.tail, self.tail_len = deque([tail]), len(tail)
        middle = f"\n[... {self.dropped} bytes of output omitted ...]\n" if self.dropped else ""
        return bytes(self.head).decode(errors="replace") + middle + tail.decode(errors="replace")


#: How long a create may take while it holds Ctrl-C (see ``start``).
CREATE_TIMEOUT_S = 15


#: What a timed-out command left, killed: all of its user's processes.
_SWEEP = "kill -9 -1 2>/dev/null; true"
#: The same for root: every process but PID 1 (the init), the main process (``sleep
#: infinity``, whose end would stop the container), kernel threads and the sweep itself.
_ROOT_SWEEP = (
    "for d in /proc/[0-9]*; do p=${d#/proc/}; "
    '[ "$p" = 1 ] || [ "$p" = "$$" ] && continue; '
    'case "$(tr "\\0" " " < "$d/cmdline" 2>/dev/null)" in "sleep infinity "|"") continue;; esac; '
    'kill -9 "$p" 2>/dev/null; done; true'
)


def _being_removed(exc: BaseException) -> bool:
    """The engine's answer when another caller (the exit backstop on Ctrl-C, a worker's
    own cleanup) is removing the container already: it will be gone, nothing to do."""
    return getattr(getattr(exc, "response", None), "status_code", None) == 409 and (
        "already in progress" in str(exc)
    )


class Container:
    """A labelled container running ``sleep infinity``; commands run in it through exec."""

    def __init__(self, client: docker.DockerClient, name: str) -> None:
        self.client = client
        self.name = name
        self.raw: docker.models.containers.Container | None = None
        self._dirs: set[str] = set()  # directories known to exist: no mkdir exec per upload

    @classmethod
    def start(
        cls,
        client: docker.DockerClient,
        image: str,
        *,
        network: str,
        limits: Limits,
        kind: str,
        env: dict[str, str] | None = None,
    ) -> Container:
        """Create and start a container, removing it if anything (Ctrl-C included) stops that.

        The name is chosen before the engine is asked, so the container can be removed by
        name even when an interrupt lands while it is being started; the create call itself
        holds interrupts until its answer is bound (at most ``CREATE_TIMEOUT_S``). The exit
        backstop (labels) covers the instant between this method returning and the
        caller's ``with``.
        """
        from docker.errors import DockerException

        remove_at_exit(client)
        if closing():
            raise SandboxError("the run is ending: no new container")
        box = cls(client, f"verifix-{kind}-{uuid.uuid4().hex[:16]}")
        try:
            # Held interrupts wait for this answer, so it is bounded tighter than other
            # calls: Ctrl-C on a hung engine must end the run within a minute.
            with interrupts_deferred(), call_timeout(client, CREATE_TIMEOUT_S):
                box.raw = client.containers.create(
                    image,
                    ["sleep", "infinity"],
                    name=box.name,
                    labels=owner_labels(kind),
                    environment=env or {},
                    network_mode=network,
                    mem_limit=limits.memory,
                    memswap_limit=limits.memory,
                    nano_cpus=int(limits.cpus * 1e9),
                    pids_limit=limits.pids,
                    cap_drop=["ALL"],
                    cap_add=_CAPABILITIES,
                    security_opt=["no-new-privileges"],
                    working_dir="/",
                    # An init as PID 1 reaps orphans: killed test processes leave no zombies.
                    init=True,
                )
            if closing():  # the backstop may have listed the containers before this one
                raise SandboxError("the run is ending: no new container")
            box.raw.start()
        except BaseException as exc:
            box.remove()
            if isinstance(exc, DockerException):
                raise SandboxError(f"could not start a container from {image}: {exc}") from exc
            raise
        return box

    @property
    def id(self) -> str:
        assert self.raw is not None, "the container was never created"
        return self.raw.id

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove the container by name; safe to call twice, before it was created and after
        the engine already removed it. Bounded and not cut short by a second Ctrl-C: an
        interrupted removal is the leak this exists to prevent."""
        from docker.errors import DockerException, NotFound

        api = self.client.api
        with interrupts_deferred(), call_timeout(self.client, CLEANUP_TIMEOUT_S):
            try:
                api.remove_container(self.name, force=True, v=True)
            except NotFound:
                pass
            except DockerException as exc:
                if _being_removed(exc):
                    return
                # One retry: removal can race with the engine finishing a killed exec.
                time.sleep(0.5)
                try:
                    api.remove_container(self.name, force=True, v=True)
                except NotFound:
                    pass
                except DockerException as again:
                    if not _being_removed(again):
                        raise

    def run(
        self,
        command: str | list[str],
        timeout_s: int,
        *,
        env: dict[str, str] | None = None,
        workdir: str = "/repo",
        user: str = "",
    ) -> ExecResult:
        """Run ``command`` with sh (a list: as is, no shell), killed inside the container
        after ``timeout_s``; stdout and stderr come back interleaved, capped. ``user``
        (``uid:gid``) runs it unprivileged; the default is the image's (root)."""
        return self._exec(command, timeout_s, env, workdir, split=False, user=user)[0]

    def run_split(
        self,
        command: str | list[str],
        timeout_s: int,
        *,
        env: dict[str, str] | None = None,
        stdout_cap: int = OUTPUT_CAP_BYTES,
    ) -> tuple[ExecResult, bytes]:
        """Like ``run``, but stdout comes back apart from stderr: its first ``stdout_cap``
        bytes whole (the rest dropped), stderr capped as usual.

        A check sends its results on stdout and the test output on stderr, so one exec does
        what would otherwise take an exec, an upload and a download (each about as slow as
        an exec on a busy engine). A list ``command`` runs as is, without a shell.
        """
        return self._exec(command, timeout_s, env, "/repo", split=True, stdout_cap=stdout_cap)

    def _exec(
        self,
        command: str | list[str],
        timeout_s: int,
        env: dict[str, str] | None,
        workdir: str,
        split: bool,
        stdout_cap: int = 0,
        user: str = "",
    ) -> tuple[ExecResult, bytes]:
        """``timeout`` puts the command in its own process group and kills the group, so the
        whole tree dies, not only the client's view of it; anything that escaped the group
        is swept with ``kill -9 -1`` afterwards."""
        api = self.client.api
        argv = command if isinstance(command, list) else ["sh", "-c", command]
        wrapped = ["timeout", "-k", str(_KILL_GRACE_S), str(timeout_s), *argv]
        started = time.monotonic()
        exec_id = api.exec_create(
            self.id,
            wrapped,
            environment=env or {},
            workdir=workdir,
            stdout=True,
            stderr=True,
            user=user,
        )["Id"]
        out = bytearray()
        capped = CappedBuffer()
        sock = api.exec_start(exec_id, socket=True)
        try:
            deadline = started + timeout_s + _KILL_GRACE_S + _STREAM_SLACK_S
            for stream, chunk in _frames(sock, deadline):
                if split and stream == _STDOUT:
                    out += chunk[: max(stdout_cap - len(out), 0)]
                else:
                    capped.write(chunk)
        finally:
            sock.close()
        duration = time.monotonic() - started
        exit_code = api.exec_inspect(exec_id)["ExitCode"]
        timed_out = exit_code in (124, 137) and duration >= timeout_s - 0.5
        if timed_out:
            # As the command's user, so that the container stays usable: an unprivileged
            # one's ``kill -9 -1`` reaches only its own leftovers; root's would reach the
            # main process too and stop the container, so root spares it by name.
            sweep = api.exec_create(
                self.id,
                ["sh", "-c", _ROOT_SWEEP if user in ("", "0", "root") else _SWEEP],
                user=user,
            )
            api.exec_start(sweep["Id"])
        return ExecResult(exit_code, capped.text(), timed_out, duration), bytes(out)

    def put_files(self, directory: str, files: dict[str, bytes]) -> None:
        """Write small files under ``directory`` (created if needed) in one archive."""
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            for name, content in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(content)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(content))
        self.ensure_dir(directory)
        self.client.api.put_archive(self.id, directory, data.getvalue())

    def put_archive(self, directory: str, stream: BinaryIO) -> None:
        self.ensure_dir(directory)
        self.client.api.put_archive(self.id, directory, stream)

    def ensure_dir(self, directory: str) -> None:
        if directory in self._dirs:
            return
        result = self.run(f"mkdir -p {shlex.quote(directory)}", 60, workdir="/")
        if not result.ok:
            raise SandboxError(f"could not create {directory} in the sandbox: {result.output}")
        self._dirs.add(directory)


def _frames(sock: Any, deadline: float) -> Iterator[tuple[int, bytes]]:
    """(stream, bytes) frames of an exec's multiplexed output until it ends.

    docker-py's own reader waits on the socket without any limit, so an engine that hangs
    mid-run would hold verifix forever; every wait here ends at ``deadline``. A Ctrl-C still
    interrupts a wait at once (``select`` returns EINTR and the handler raises).
    """
    while True:
        header = _read(sock, 8, deadline)
        if len(header) < 8:
            return
        stream, length = struct.unpack(">BxxxL", header)
        payload = _read(sock, length, deadline)
        if payload:
            yield stream, payload
        if len(payload) < length:
            return


def _read(sock: Any, n: int, deadline: float) -> bytes:
    """Up to ``n`` bytes, fewer only at the end of the stream; ``EngineLost`` past deadline."""
    data = bytearray()
    try:
        while len(data) < n:
            remaining = deadline - time.monotonic()
            pending = getattr(sock, "pending", None)  # TLS: bytes decrypted, not in select
            if not (pending and pending()) and (
                remaining <= 0 or not select.select([sock], [], [], remaining)[0]
            ):
                raise TimeoutError
            want = min(n - len(data), 65536)
            chunk = sock.recv(want) if hasattr(sock, "recv") else sock.read(want)
            if not chunk:
                break
            data += chunk
    except OSError as exc:  # TimeoutError included: reset, refused, silent past the deadline
        raise lost(exc) from exc
    return bytes(data)
