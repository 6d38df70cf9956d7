"""One running container: copy files in, run commands under a timeout, always clean up.

A container lives for one verification run and is reused for every check in it (a reset
between checks is far cheaper than a new container). It is removed on success, failure,
exceptions and Ctrl-C, because the ``with`` block's exit always runs.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import tarfile
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from .engine import owner_labels
from .errors import SandboxError

if TYPE_CHECKING:
    import docker

#: Output kept per command: the head (how it started) and the tail (how it ended).
OUTPUT_CAP_BYTES = 64 * 1024
_KILL_GRACE_S = 5

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


class Container:
    """A labelled container running ``sleep infinity``; commands run in it through exec."""

    def __init__(self, client: docker.DockerClient, raw: docker.models.containers.Container):
        self.client = client
        self.raw = raw
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
        from docker.errors import DockerException

        try:
            raw = client.containers.run(
                image,
                ["sleep", "infinity"],
                detach=True,
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
        except DockerException as exc:
            raise SandboxError(f"could not start a container from {image}: {exc}") from exc
        return cls(client, raw)

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove the container; safe to call twice and after the engine already removed it."""
        from docker.errors import DockerException, NotFound

        try:
            self.raw.remove(force=True, v=True)
        except NotFound:
            pass
        except DockerException:
            # One retry: removal can race with the engine finishing a killed exec.
            time.sleep(0.5)
            with contextlib.suppress(NotFound):
                self.raw.remove(force=True, v=True)

    def run(
        self,
        command: str | list[str],
        timeout_s: int,
        *,
        env: dict[str, str] | None = None,
        workdir: str = "/repo",
    ) -> ExecResult:
        """Run ``command`` with sh (a list: as is, no shell), killed inside the container
        after ``timeout_s``; stdout and stderr come back interleaved, capped."""
        return self._exec(command, timeout_s, env, workdir, split=False)[0]

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
    ) -> tuple[ExecResult, bytes]:
        """``timeout`` puts the command in its own process group and kills the group, so the
        whole tree dies, not only the client's view of it; anything that escaped the group
        is swept with ``kill -9 -1`` afterwards."""
        api = self.client.api
        argv = command if isinstance(command, list) else ["sh", "-c", command]
        wrapped = ["timeout", "-k", str(_KILL_GRACE_S), str(timeout_s), *argv]
        started = time.monotonic()
        exec_id = api.exec_create(
            self.raw.id, wrapped, environment=env or {}, workdir=workdir, stdout=True, stderr=True
        )["Id"]
        out = bytearray()
        capped = CappedBuffer()
        for chunk in api.exec_start(exec_id, stream=True, demux=split):
            if not split:
                capped.write(chunk)
                continue
            stdout_chunk, stderr_chunk = chunk
            if stdout_chunk and len(out) < stdout_cap:
                out += stdout_chunk[: stdout_cap - len(out)]
            if stderr_chunk:
                capped.write(stderr_chunk)
        duration = time.monotonic() - started
        exit_code = api.exec_inspect(exec_id)["ExitCode"]
        timed_out = exit_code in (124, 137) and duration >= timeout_s - 0.5
        if timed_out:
            sweep = api.exec_create(self.raw.id, ["sh", "-c", "kill -9 -1 2>/dev/null; true"])
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
        self.raw.put_archive(directory, data.getvalue())

    def put_archive(self, directory: str, stream: BinaryIO) -> None:
        self.ensure_dir(directory)
        self.raw.put_archive(directory, stream)

    def ensure_dir(self, directory: str) -> None:
        if directory in self._dirs:
            return
        result = self.run(f"mkdir -p {shlex.quote(directory)}", 60, workdir="/")
        if not result.ok:
            raise SandboxError(f"could not create {directory} in the sandbox: {result.output}")
        self._dirs.add(directory)
