"""``verifix show``: a recorded ``verifix fix`` run, readably."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from verifix.agent import record
from verifix.sandbox.snapshot import repo_root
from verifix.sandbox.verdict import Status, TestChange, Verdict

from . import render, show_search
from .output import plain, stdout


def _attempt_row(attempt: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """An attempt as number, result, why, cost and seconds, spelled as verdicts are."""
    verdict = attempt["verdict"]
    result = render.status_label(verdict["status"]) if verdict else "UNUSABLE EDIT"
    why = (verdict["reason"] if verdict else attempt["error"]) or ""
    return (
        str(attempt["number"]),
        result,
        why,
        f"${attempt['cost']:.4f}",
        f"{attempt['seconds']:.1f}",
    )


def _deciding(attempts: list[dict[str, Any]], verified: int | None) -> dict[str, Any] | None:
    """The attempt whose tests say how the run ended: the verified one, else the last that
    was judged."""
    judged = [a for a in attempts if a["verdict"]]
    chosen = [a for a in judged if a["number"] == verified] or judged[-1:]
    return chosen[0] if chosen else None


def _verdict(data: dict[str, Any]) -> Verdict:
    """A recorded verdict back as the object ``render`` draws (its JSON is ``asdict``)."""
    return Verdict(
        status=Status(data["status"]),
        reason=data["reason"],
        **{
            side: [TestChange(**change) for change in data.get(side, [])]
            for side in ("targets", "broken", "still_failing")
        },
    )


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
    tokens = out["prompt_tokens"] + out["completion_tokens"]
    stdout.print(
        f"model {escape(data['model']['name'] or 'unnamed')}; stopped: {out['stopped']}; "
        f"${out['cost']:.4f} in {render.plural(out['calls'], 'call')}, "
        f"{render.plural(tokens, 'token')}"
    )
    attempts = [_attempt_row(attempt) for attempt in data["attempts"]]
    if plain():
        for number, result, why, cost, seconds in attempts:
            stdout.print(f"attempt {number}  {result}  {cost}  {seconds}s  {escape(why)}")
    else:
        table = Table(title_justify="left")
        for column in ("#", "result", "why", "cost", "seconds"):
            table.add_column(column, overflow="fold")
        for number, result, why, cost, seconds in attempts:
            table.add_row(number, result, escape(why), cost, seconds)
        stdout.print(table)
    for line in [
        *show_search.candidates(data["attempts"]),
        *show_search.tree(data["attempts"], (data.get("tree") or {}).get("scores", {})),
        *show_search.votes(data.get("selection")),
    ]:
        stdout.print(escape(line))
    deciding = _deciding(data["attempts"], out["verified_attempt"])
    if deciding is not None:
        stdout.print(f"[bold]tests of attempt {deciding['number']}:[/bold]")
        render.tests(_verdict(deciding["verdict"]))
    if out["patch"]:
        stdout.print(f"[bold green]verified patch (attempt {out['verified_attempt']}):[/]")
        stdout.out(out["patch"], end="", highlight=False)
    if prompts:
        conversations = [("localization", (data.get("localization") or {}).get("messages", []))]
        conversations.append(("reproduction", (data.get("reproduction") or {}).get("messages", [])))
        fixes = data.get("conversations") or [data["messages"]]
        for number, messages in enumerate(fixes, 1):
            conversations.append(
                (f"fix (candidate {number})" if len(fixes) > 1 else "fix", messages)
            )
        for name, messages in conversations:
            for message in messages:
                stdout.rule(f"{name}: {message['role']}")
                stdout.out(message["content"], highlight=False)
    return 0
