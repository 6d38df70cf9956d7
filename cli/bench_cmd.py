"""``verifix bench ...``: many SWE-bench-style instances at once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from verifix.agent import bench, ray_executor, runner, settings, swebench
from verifix.agent.engine import Limits
from verifix.agent.model import Budget, Model
from verifix.sandbox.errors import UsageError

from . import bench_report, exit_codes
from . import fix_options as o
from .output import ProgressLog, plain, stdout

bench_app = typer.Typer(help="Run and check many SWE-bench-style instances at once.")

Dataset = Annotated[
    Path, typer.Argument(help="A SWE-bench-format dataset: a JSON list or JSON lines.")
]
Repos = Annotated[
    Path | None,
    typer.Option(
        "--repos",
        help="A folder of clones or mirrors: OWNER+NAME (a repo inside, or itself), "
        "OWNER__NAME or NAME. Default: mirrors fetched into verifix's cache from GitHub "
        "(VERIFIX_GIT_BASE moves it).",
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
    repos: Repos = None,
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


@bench_app.command("run")
def run(
    dataset: Dataset,
    repos: Repos = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where predictions.jsonl, records go.")
    ] = Path("verifix-bench"),
    instance: Only = None,
    span: Span = None,
    pattern: Pattern = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Instances side by side on this machine (default 1)."),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="local (threads on this machine) or ray (a task per instance on the nodes "
            "of a Ray cluster; pip install 'verifix[ray]').",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="The Ray cluster's head, HOST:PORT or ray://HOST:10001 (default: "
            "RAY_ADDRESS, else the cluster started on this machine).",
        ),
    ] = None,
    max_total_cost: Annotated[
        float | None,
        typer.Option("--max-total-cost", help="USD for the whole batch, on top of --max-cost."),
    ] = None,
    model: o.ModelName = None,
    api_base: o.ApiBase = None,
    price_in: o.PriceIn = None,
    price_out: o.PriceOut = None,
    accept_unknown_cost: o.AcceptUnknownCost = False,
    max_cost: o.MaxCost = None,
    max_attempts: o.MaxAttempts = None,
    timeout: o.Timeout = 1800,
    candidates: o.Candidates = 1,
    strategy: o.StrategyName = "linear",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> int:
    """Repair every instance of a dataset: predictions in the SWE-bench format, a record per
    instance and a summary with verifix's own check.

    The problem statement is the issue; the instance's tests are never shown to the model.
    A second run into the same --output skips the instances already predicted.
    Exit codes: 0 the batch ran (whatever it resolved), 2 usage, 3 environment or provider.
    """
    runner.check_search(strategy, candidates, None)
    runs_on = _executor(executor, workers, ray_address)
    chosen = swebench.select(swebench.load_all(dataset), instance, span, pattern)
    flags = settings.Flags(
        model, api_base, price_in, price_out, accept_unknown_cost, max_cost, max_attempts
    )
    resolved = settings.for_repo(None, flags)  # a dataset's repositories may not set a model
    probe = Model(resolved.config, Budget(resolved.max_cost))
    if executor == "local":  # on Ray, the key and the server are the nodes' to have
        probe.preflight()

    def make_model() -> Model:
        return Model(
            resolved.config, Budget(resolved.max_cost), deadline=time.monotonic() + timeout
        )

    batch = bench.Batch(
        repos,
        output,
        make_model,
        resolved.config.model,
        resolved.max_cost,
        Limits(resolved.max_attempts, timeout),
        max_total_cost,
        {"strategy": strategy, "candidates": candidates},
    )
    log = ProgressLog(quiet)
    results = bench.BatchRun(batch, log.event).run(chosen, runs_on)
    rows = [
        (r.instance_id, r.status, str(r.resolved), f"${r.cost:.4f}", f"{r.seconds:.0f}s", r.reason)
        for r in results
    ]
    for row in rows:
        stdout.print(escape("  ".join(row)))
    solved = sum(bool(r.resolved) for r in results)
    spent = sum(r.cost for r in results)
    stdout.print(f"{solved} of {len(results)} resolved by verifix's check; ${spent:.4f}")
    stdout.print(f"predictions: {output / bench.PREDICTIONS}")
    return exit_codes.VERIFIED


def _executor(name: str, workers: int | None, ray_address: str | None) -> bench.Executor:
    """The executor the options name, or a one-line usage error for options that do not
    go together."""
    if name not in ("local", "ray"):
        raise UsageError(f"--executor {name}: choose local or ray")
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    if name == "local":
        if ray_address is not None:
            raise UsageError("--ray-address is for --executor ray")
        return bench.Threads(workers or 1)
    if workers is not None:
        raise UsageError(
            "--workers is for --executor local: on Ray, each node's docker resource sets "
            "how many instances it runs at once"
        )
    return ray_executor.RayExecutor(ray_address or "auto")


@bench_app.command("report")
def report(
    output: Annotated[
        Path, typer.Argument(help="A bench run's output folder (with summary.json).")
    ] = Path("verifix-bench"),
    compare: Annotated[
        list[Path] | None,
        typer.Option(
            "--compare",
            help="Another batch's output folder (repeatable), e.g. the same instances with "
            "more --candidates: drawn as fixes against dollars.",
        ),
    ] = None,
) -> int:
    """Write a batch's report as an HTML page: resolve rate, cost, time, each instance's run."""
    for folder in (output, *(compare or [])):
        if not (folder / bench.SUMMARY).is_file():
            raise UsageError(
                f"{folder} holds no {bench.SUMMARY}: run verifix bench run -o {folder}"
            )
    target = output / "report.html"
    target.write_text(bench_report.page(output, compare), encoding="utf-8")
    stdout.out(str(target), highlight=False)
    return exit_codes.VERIFIED
