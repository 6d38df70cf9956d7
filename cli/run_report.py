"""What a finished run prints: the headline and the explanation on stderr, the patch on
stdout (or in ``--output``), or the run's summary as JSON. Everything comes from the
``Run``, the same object the record is written from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.markup import escape
from verifix.agent.events import Event
from verifix.agent.runner import Run

from . import exit_codes, progress
from .output import stderr, stdout


def say(event: Event) -> None:
    """An event after the run (what delivery did) as a plain line on stderr; these are
    results, shown even with ``--quiet``."""
    line = progress.line(event)
    if line:
        stderr.print(escape(line))


def headline(run: Run, output: Path | None, *, patch_to_stdout: bool = True) -> int:
    """Print how the run ended; return ``fix``'s exit code (0 verified, 1 not)."""
    spend = run.spend()
    attempts = len(run.fix.attempts) if run.fix else 0
    spent = (
        f"{attempts} attempts, ${spend['cost']:.4f}, "
        f"{spend['prompt_tokens'] + spend['completion_tokens']} tokens"
    )
    status, _ = run.status()
    winner, patch = run.winner, run.patch
    if winner is None or patch is None:
        best = run.best()
        stderr.print(f"[bold red]NOT FIXED[/] stopped at the {run.stopped} ({spent})")
        if best is not None:
            why = best.error or (best.verdict.reason if best.verdict else "")
            stderr.print(f"best attempt: #{best.number}: {escape(why)}")
        return exit_codes.NOT_VERIFIED
    if status == "NO_REGRESSIONS":
        stderr.print(
            f"[bold yellow]NO REGRESSIONS[/] attempt {winner.number} ({spent}); "
            "nothing shows the issue is fixed (--no-repro)"
        )
    else:
        stderr.print(f"[bold green]VERIFIED[/] attempt {winner.number} ({spent})")
    if run.test_patch:
        stderr.print("the patch includes the reproduction test that failed before the fix")
    if winner.explanation():
        stderr.print(escape(winner.explanation()))
    if output:
        output.write_text(patch)
        stderr.print(f"patch written to {output}")
    elif patch_to_stdout:
        stdout.out(patch, end="", highlight=False)
    return exit_codes.VERIFIED


def print_json(data: dict[str, Any]) -> None:
    """One JSON object on stdout, printed as ``verify --json`` prints its verdict."""
    stdout.print_json(json.dumps(data))
