"""Rendering verdicts and environment specs for people (tables) and machines (JSON)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from verifix.sandbox.verdict import Status, TestChange, Verdict

from .output import stdout

_STYLE = {
    Status.VERIFIED: "bold green",
    Status.NOT_VERIFIED: "bold red",
    Status.DOES_NOT_APPLY: "bold red",
    Status.NO_TARGET: "bold yellow",
    Status.TARGETS_ALREADY_PASS: "bold yellow",
    Status.SUSPECT: "bold magenta",
    Status.ERROR: "bold red",
}
_LIST_LIMIT = 20


def _outcome(value: str | None) -> str:
    if value is None:
        return "[dim]not run[/dim]"
    colour = {"passed": "green", "xfailed": "green", "xpassed": "green", "skipped": "yellow"}
    return f"[{colour.get(value, 'red')}]{value}[/]"


def _headline(message: str) -> str:
    """The line that says what went wrong: pytest's last ``E`` line, else the last line."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors[-1] if errors else lines[-1] if lines else "")[:200]


def _table(title: str, changes: list[TestChange], with_message: bool) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    table.add_column("test", overflow="fold")
    table.add_column("before")
    table.add_column("after")
    if with_message:
        table.add_column("message", overflow="fold", max_width=60)
    for change in changes[:_LIST_LIMIT]:
        row = [escape(change.id), _outcome(change.before), _outcome(change.after)]
        if with_message:
            row.append(escape(_headline(change.message)))
        table.add_row(*row)
    if len(changes) > _LIST_LIMIT:
        table.caption = f"... and {len(changes) - _LIST_LIMIT} more (--json lists all)"
    return table


def verdict(v: Verdict) -> None:
    label = v.status.value.replace("_", " ")
    stdout.print(f"[{_STYLE[v.status]}]{label}[/]  {escape(v.reason)}")
    if v.rejected:
        stdout.print(escape(v.rejected.rstrip()))
    if v.targets:
        stdout.print(_table("Target tests (fail -> pass?)", v.targets, with_message=True))
    if v.broken:
        stdout.print(_table("Tests that broke (pass -> fail)", v.broken, with_message=True))
    if v.still_failing:
        stdout.print(
            _table(
                "Still failing (before and after; not counted against the patch)",
                v.still_failing,
                with_message=False,
            )
        )
    for flag in v.flags:
        stdout.print(f"[magenta]test-aware:[/magenta] {escape(flag)}")
    for err in v.errors:
        stdout.print(f"[red]error:[/red] {escape(err)}")
    if v.ignored_ids:
        shown = ", ".join(v.ignored_ids[:5])
        stdout.print(
            f"[dim]ignored {len(v.ignored_ids)} ids that name no test: {escape(shown)}[/dim]"
        )
    env = v.environment
    if env:
        counts = "; ".join(
            f"{side}: " + ", ".join(f"{n} {k}" for k, n in sorted(c.items()))
            for side, c in v.counts.items()
        )
        stdout.print(
            f"[dim]environment {env.get('image')} (base {env.get('base_image')}, "
            f"Python {env.get('python')}, {'cached' if env.get('cached') else 'built now'}); "
            f"{escape(counts)}[/dim]"
        )
        for note in env.get("notes", []):
            stdout.print(f"[yellow]note:[/yellow] {escape(note)}")
