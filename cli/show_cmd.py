"""``verifix show``: a recorded ``verifix fix`` run, readably."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from verifix.agent import record
from verifix.sandbox.snapshot import repo_root

from .output import stdout


def show(
    run: Annotated[
        str | None, typer.Argument(help="A run file, a timestamp (prefix), or nothing: the latest.")
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="The repository the run was in.")] = Path(
        "."
    ),
    prompts: Annotated[bool, typer.Option("--prompts", help="Also print every message.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw record.")] = False,
) -> int:
    """Show what a fix run did: attempts, verdicts, costs and the patch."""
    path = record.find(repo_root(repo), run)
    data = json.loads(path.read_text())
    if as_json:
        stdout.print_json(json.dumps(data))
        return 0
    out = data["outcome"]
    stdout.print(f"[bold]{escape(data['issue']['title'])}[/bold]  ({path.name})")
    stdout.print(
        f"model {escape(data['model']['name'])}; stopped: {out['stopped']}; "
        f"${out['cost']:.4f} in {out['calls']} calls, "
        f"{out['prompt_tokens'] + out['completion_tokens']} tokens"
    )
    table = Table(title_justify="left")
    for column in ("#", "result", "why", "cost", "seconds"):
        table.add_column(column, overflow="fold")
    for attempt in data["attempts"]:
        verdict = attempt["verdict"]
        result = verdict["status"] if verdict else "UNUSABLE EDIT"
        why = verdict["reason"] if verdict else attempt["error"]
        table.add_row(
            str(attempt["number"]),
            result,
            escape(why or ""),
            f"${attempt['cost']:.4f}",
            f"{attempt['seconds']:.1f}",
        )
    stdout.print(table)
    if out["patch"]:
        stdout.print(f"[bold green]verified patch (attempt {out['verified_attempt']}):[/]")
        stdout.out(out["patch"], end="", highlight=False)
    if prompts:
        for message in data["messages"]:
            stdout.rule(message["role"])
            stdout.out(message["content"], highlight=False)
    return 0
