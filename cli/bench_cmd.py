"""``verifix bench ...``: many SWE-bench-style instances at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from verifix.agent import bench, swebench

from . import exit_codes
from .output import ProgressLog, plain, stdout

bench_app = typer.Typer(help="Run and check many SWE-bench-style instances at once.")

Dataset = Annotated[
    Path, typer.Argument(help="A SWE-bench-format dataset: a JSON list or JSON lines.")
]
Repos = Annotated[
    Path,
    typer.Option(
        "--repos",
        help="A folder of clones or mirrors: OWNER+NAME (a repo inside, or itself), "
        "OWNER__NAME or NAME.",
    ),
]
Only = Annotated[
    list[str] | None, typer.Option("--instance", help="Only this instance (repeatable).")
]
Span = Annotated[str | None, typer.Option("--slice", help="Instances A:B (Python's rules).")]
Pattern = Annotated[
    str | None, typer.Option("--filter", help="Only instances whose id matches this regex.")
]


@bench_app.command("validate")
def validate(
    dataset: Dataset,
    repos: Repos = Path("."),
    instance: Only = None,
    span: Span = None,
    pattern: Pattern = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per instance (JSON lines).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> int:
    """Check a dataset with detected environments: each gold patch must be VERIFIED and each
    unpatched tree must not be.

    Exit codes: 0 every instance holds, 1 some do not (each says why), 2 usage.
    """
    chosen = swebench.select(swebench.load_all(dataset), instance, span, pattern)
    log = ProgressLog(quiet or as_json)
    results = []
    for number, item in enumerate(chosen, 1):
        log(f"[{number}/{len(chosen)}] {item.instance_id}")
        result = bench.validate(item, repos, log.event)
        results.append(result)
        if as_json:
            stdout.out(json.dumps(result.to_json()), highlight=False)
    if not as_json:
        _table(results)
    held = sum(r.holds for r in results)
    if not as_json:
        stdout.print(f"{held} of {len(results)} instances hold")
    return exit_codes.VERIFIED if held == len(results) else exit_codes.NOT_VERIFIED


def _table(results: list[bench.Validation]) -> None:
    rows = [
        (r.instance_id, "holds" if r.holds else "FAILS", f"{r.seconds:.0f}s", r.reason)
        for r in results
    ]
    if plain():
        for row in rows:
            stdout.print(escape("  ".join(row)))
        return
    table = Table(title_justify="left")
    for column in ("instance", "result", "time", "why"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    stdout.print(table)
