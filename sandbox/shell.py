"""A scratch container for looking around: the run's environment, the base tree at /repo,
no network, commands run as the unprivileged test user, each under a timeout.

The model's exploration commands (``grep -rn``, ``sed -n``, ``python -c``, one test) run
here and never in the container that judges patches: whatever a command does (edits files,
plants a ``sitecustomize``, fills the disk) cannot reach a verdict, and the container is
removed with everything in it when the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .container import Container
from .environment import Environment, limits
from .errors import SandboxError
from .incontainer.supervise import HOME, TESTER_ID
from .snapshot import Snapshot
from .testrun import prepare_container
from .tree import load

if TYPE_CHECKING:
    import docker

#: What of a command's output comes back: its head and its tail, the middle cut.
OUTPUT_HEAD_CHARS = 3000
OUTPUT_TAIL_CHARS = 2000


@dataclass(frozen=True)
class ShellResult:
    command: str
    exit_code: int
    output: str  # stdout and stderr interleaved, head and tail kept
    timed_out: bool
    seconds: float

    def observation(self) -> str:
        """The result as the model reads it."""
        status = (
            f"timed out after {self.seconds:.0f}s (stopped)"
            if self.timed_out
            else f"exit code {self.exit_code}"
        )
        body = self.output if self.output.strip() else "(no output)"
        return f"$ {self.command}\n{body}\n[{status}]"


def trim_output(text: str, head: int = OUTPUT_HEAD_CHARS, tail: int = OUTPUT_TAIL_CHARS) -> str:
    """``text`` with its middle cut when it is longer than ``head`` + ``tail`` characters,
    saying how much was cut: a command that prints megabytes costs a few thousand."""
    if len(text) <= head + tail:
        return text
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut ...]\n{text[-tail:]}"


class Shell:
    """One scratch container of ``env`` holding ``snapshot`` (plus ``base_patches``), for
    any number of commands; removed on exit, always."""

    def __init__(
        self,
        client: docker.DockerClient,
        env: Environment,
        snapshot: Snapshot,
        base_patches: list[str] | None = None,
        step_timeout_s: int = 60,
    ) -> None:
        self.client = client
        self.env = env
        self.snapshot = snapshot
        self.base_patches = list(base_patches or [])
        self.step_timeout_s = step_timeout_s
        self.container: Container | None = None

    def __enter__(self) -> Shell:
        self.container = Container.start(
            self.client,
            self.env.image,
            network="none",
            limits=limits(self.env.spec),
            kind="shell",
            env=self.env.run_env(self.snapshot.scm_version),
        )
        try:
            prepare_container(self.container)
            load(self.container, self.snapshot, self.base_patches)  # sealed: the tester's
        except BaseException:
            self.container.remove()
            self.container = None
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.container is not None:
            self.container.remove()
            self.container = None

    def run(self, command: str) -> ShellResult:
        """``command`` with sh in /repo as the test user, stopped after the step timeout."""
        from docker.errors import DockerException

        assert self.container is not None, "use the shell inside its with-block"
        try:
            result = self.container.run(
                command,
                self.step_timeout_s,
                env={"HOME": HOME},
                user=f"{TESTER_ID}:{TESTER_ID}",
            )
        except DockerException as exc:
            raise SandboxError(f"the scratch container failed: {exc}") from exc
        return ShellResult(
            command,
            result.exit_code,
            trim_output(result.output),
            result.timed_out,
            result.duration_s,
        )
