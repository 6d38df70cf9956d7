"""Rendering verdicts and settings for people: tables on a terminal, unbroken plain lines
elsewhere (see ``output.plain``); machines get JSON from the commands themselves."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from verifix.sandbox.verdict import Status, TestChange, Verdict

from .output import plain, stdout

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


def status_label(status: str) -> str:
    """The one spelling of a status people read, in prose and tables alike: NOT VERIFIED
    (the README's and the headline's), while JSON keeps the enum value NOT_VERIFIED."""
    return status.replace("_", " ")


def plural(count: int, noun: str) -> str:
    """``1 test``, ``2 tests``: a count and its noun, in the number the count asks for."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _outcome(value: str | None) -> str:
    if value is None:
        return "[dim]not run[/dim]"
    colour = {"passed": "green", "xfailed": "green", "xpassed": "green", "skipped": "yellow"}
    return f"[{colour.get(value, 'red')}]{value}[/]"


def _headline(message: str) -> str:
    """The line that says what went wrong: the first line of pytest's last block of ``E``
    lines (``assert 81 == 12``, ``ValueError: ...``; the ``+ where`` lines after it only
    explain it), else the last line."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    headline = lines[-1] if lines else ""
    for index, line in enumerate(lines):
        if line.startswith("E ") and (index == 0 or not lines[index - 1].startswith("E ")):
            headline = line[1:].strip()
    return headline[:200]


def _changes(title: str, changes: list[TestChange], with_message: bool) -> None:
    """A list of tests and how each went: a table on a terminal, else one
    ``id  before -> after  message`` line per test, never folded."""
    if not plain():
        stdout.print(_table(title, changes, with_message))
        return
    stdout.print(f"{title}:")
    for change in changes[:_LIST_LIMIT]:
        line = f"{escape(change.id)}  {_outcome(change.before)} -> {_outcome(change.after)}"
        if with_message and change.message:
            line += f"  {escape(_headline(change.message))}"
        stdout.print(line)
    if len(changes) > _LIST_LIMIT:
        stdout.print(f"... and {len(changes) - _LIST_LIMIT} more (--json lists all)")


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


def settings(title: str | None, rows: list[tuple[str, str, str]], header: bool = True) -> None:
    """Named values and where each came from: a table on a terminal, else a line per value,
    ``name: value  (source)``, a value of several lines (setup commands) indented below."""
    if not plain():
        table = Table(title=title, title_justify="left", show_header=header)
        table.add_column("setting")
        table.add_column("value", overflow="fold")
        table.add_column("source", overflow="fold")
        for name, value, source in rows:
            table.add_row(escape(name), escape(value), escape(source))
        stdout.print(table)
        return
    if title:
        stdout.print(f"{escape(title)}:")
    for name, value, source in rows:
        lines = value.splitlines() or [""]
        suffix = f"  ({escape(source)})" if source else ""
        if len(lines) == 1:
            stdout.print(f"{escape(name)}: {escape(lines[0])}{suffix}")
            continue
        stdout.print(f"{escape(name)}:{suffix}")
        for line in lines:
            stdout.print(f"  {escape(line)}")


def tests(v: Verdict) -> None:
    """The tests a verdict rests on: targets, tests that broke, tests failing throughout."""
    if v.targets:
        _changes("Target tests (fail -> pass?)", v.targets, with_message=True)
    if v.broken:
        _changes("Tests that broke (pass -> fail)", v.broken, with_message=True)
    if v.still_failing:
        _changes(
            "Still failing (before and after; not counted against the patch)",
            v.still_failing,
            with_message=False,
        )


#: How the stages of a check read, in the order they run.
_STAGE_WORDS = {
    "apply": "apply",
    "targets": "targets alone",
    "affected": "affected tests",
    "full": "full suite",
}


def _stages(v: Verdict) -> str:
    """``stages: targets alone 0.6s, affected tests 2.3s (decided here)``: what ran, for
    how long, and which stage decided; empty when no patch ran."""
    ran = [
        f"{words} {v.timings[f'{name}_s']:.1f}s" + (" (decided here)" if name == v.stage else "")
        for name, words in _STAGE_WORDS.items()
        if f"{name}_s" in v.timings
    ]
    return f"stages: {', '.join(ran)}" if ran else ""


def verdict(v: Verdict) -> None:
    stdout.print(f"[{_STYLE[v.status]}]{status_label(v.status.value)}[/]  {escape(v.reason)}")
    if v.rejected:
        stdout.print(escape(v.rejected.rstrip()))
    tests(v)
    for flag in v.flags:
        stdout.print(f"[magenta]test-aware:[/magenta] {escape(flag)}")
    for err in v.errors:
        stdout.print(f"[red]error:[/red] {escape(err)}")
    if v.ignored_ids:
        shown = ", ".join(v.ignored_ids[:5])
        stdout.print(
            f"[dim]ignored {plural(len(v.ignored_ids), 'id')} naming no test: {escape(shown)}[/dim]"
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
    stages = _stages(v)
    if stages:
        stdout.print(f"[dim]{escape(stages)}[/dim]")
