"""Where output goes: results on stdout, progress and errors on stderr (rich)."""

from __future__ import annotations

import os
import time

from rich.console import Console
from rich.markup import escape

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


class ProgressLog:
    """Prints one dim line per step with the elapsed time; silent with ``--quiet``."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.monotonic() - self.started
            stderr.print(f"[dim]{elapsed:6.1f}s[/dim]  {escape(message)}", highlight=False)


def error(message: str) -> None:
    stderr.print(f"[bold red]error:[/bold red] {escape(message)}", markup=True)
