"""Where output goes: results on stdout, progress and errors on stderr (rich)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text
from verifix.agent.events import Event, Spend, Step

from . import progress

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def plain() -> bool:
    """Whether results go out as plain lines instead of tables.

    A table folds a long cell across lines to fit the width (80 columns in a CI log), which
    breaks test ids and image names for grep and for copying. So tables are only for a
    terminal; a pipe, a file or a CI job (``CI`` is set; some runners give commands a
    pseudo-terminal) gets one unbroken line per row.
    """
    isatty = getattr(stdout.file, "isatty", None)
    return not (isatty is not None and isatty()) or bool(os.environ.get("CI"))


#: A braille spinner, one frame per 80 ms: it moves even while the step's seconds do not.
_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def live_terminal() -> bool:
    """Whether stderr can hold a live status line: a terminal that understands cursor
    movement, and no CI job (whose log keeps every redraw as a line of its own)."""
    return stderr.is_terminal and not stderr.is_dumb_terminal and not os.environ.get("CI")


class ProgressLog:
    """Progress on stderr: a dim line per step with the elapsed time; silent with ``--quiet``.

    It subscribes to a run's events (``event``) and takes the sandbox's plain messages
    (``log(message)``, or ``steps(phase)`` for a callback that names the phase). Used as a
    context manager on a terminal, it also keeps one live status line below those lines,
    redrawn in place a few times a second: the phase (environment, model, tests), how long
    the current step has run, the money spent so far and the step itself, so a setup
    command, a test run or a model call that takes minutes shows it is alive. Off a
    terminal (a pipe, a file, a CI log) there is no status: only the whole lines, with no
    carriage returns or escape sequences for a log to keep.
    """

    def __init__(self, quiet: bool = False, spent: float | None = None) -> None:
        self.quiet = quiet
        #: The money spent so far, for a command that calls a model (None: one that doesn't).
        self.spent = spent
        self.started = time.monotonic()
        self.step = ""
        self.step_started = self.started
        self.phase = "starting"
        self._live: Live | None = None

    def __enter__(self) -> ProgressLog:
        if not self.quiet and live_terminal():
            # stdout is left alone: the patch or the JSON there must reach it unchanged.
            self._live = Live(
                get_renderable=self._status,
                console=stderr,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=False,
            )
            self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __call__(self, message: str, phase: str = "") -> None:
        self.event(Step(message, phase))

    def steps(self, phase: str) -> Callable[[str], None]:
        """A sandbox ``progress`` callback whose messages belong to ``phase``."""
        return lambda message: self.event(Step(message, phase))

    def event(self, event: Event) -> None:
        """Show one of a run's events: a line, and the status's phase and spend."""
        if isinstance(event, Spend):
            self.spent = event.spent
            return
        message = progress.line(event)
        if self.quiet or message is None:
            return
        now = time.monotonic()
        self.step, self.step_started = message, now
        self.phase = progress.phase(event) or self.phase
        if self._live is not None:
            self._live.refresh()  # the line goes above the new status, not the old one
        stderr.print(f"[dim]{now - self.started:6.1f}s[/dim]  {escape(message)}", highlight=False)

    def _status(self) -> Text:
        """The status line as it reads now; one line, the step cut short to fit."""
        now = time.monotonic()
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(_FRAMES[int(now / 0.08) % len(_FRAMES)], style="cyan")
        line.append(f" {self.phase}", style="bold")
        line.append(f"  {now - self.step_started:.0f}s (total {now - self.started:.0f}s)")
        if self.spent is not None:
            line.append(f"  ${self.spent:.4f}", style="green")
        line.append(f"  {' '.join(self.step.split())}", style="dim")
        return line


def error(message: str) -> None:
    stderr.print(f"[bold red]error:[/bold red] {escape(message)}", markup=True)
