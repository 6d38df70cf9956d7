"""Where output goes: results on stdout, progress and errors on stderr (rich)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


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
