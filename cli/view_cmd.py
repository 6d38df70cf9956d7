"""``verifix view``: a recorded run as a self-contained HTML page (``show`` is the terminal
view of the same record)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from verifix.agent import record
from verifix.sandbox.snapshot import repo_root

from . import html_view
from .output import stderr, stdout


def view(
    run: Annotated[
        str | None, typer.Argument(help="A run file, a timestamp (prefix), or nothing: the latest.")
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="The repository the run was in.")] = Path(
        "."
    ),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The page's file [default: next to the record]."),
    ] = None,
) -> int:
    """Write a run as an HTML page: the issue, candidates or tree, diffs, verdicts, spend."""
    path = Path(run) if run and Path(run).is_file() else record.find(repo_root(repo), run)
    data = json.loads(path.read_text())
    target = output or path.with_suffix(".html")
    target.write_text(html_view.page(data), encoding="utf-8")
    stderr.print(f"open it in a browser: file://{target.resolve()}", soft_wrap=True)
    stdout.out(str(target), highlight=False)
    return 0
