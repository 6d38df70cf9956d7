"""``verifix fix``: an issue in, a verified patch out."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from verifix.agent import deliver, record
from verifix.agent import issue as issues
from verifix.agent.loop import Limits, Outcome, repair
from verifix.agent.model import Budget, Model, ModelConfig
from verifix.sandbox import environment, snapshot
from verifix.sandbox.engine import connect
from verifix.sandbox.errors import UsageError
from verifix.sandbox.verify import Checks, VerifySession

from . import exit_codes
from .common import ConfigOpt, RepoArg, build_spec
from .output import ProgressLog, stderr, stdout

MODEL_PANEL = "Model"
LIMITS_PANEL = "Limits"


def _model_config(
    model: str | None,
    api_base: str | None,
    price_in: float | None,
    price_out: float | None,
    accept_unknown_cost: bool,
) -> ModelConfig:
    name = model or os.environ.get("VERIFIX_MODEL")
    if not name:
        raise UsageError(
            "no model configured: pass --model (any litellm model string, e.g. "
            "openai/gpt-4o-mini) or set VERIFIX_MODEL"
        )
    if (price_in is None) != (price_out is None):
        raise UsageError("--price-in and --price-out go together")
    return ModelConfig(
        model=name,
        api_base=api_base or os.environ.get("VERIFIX_API_BASE"),
        price_in=price_in,
        price_out=price_out,
        accept_unknown_cost=accept_unknown_cost,
    )


def fix(
    repo: RepoArg = Path("."),
    issue_file: Annotated[
        Path | None, typer.Option("--issue-file", help="The issue as a markdown or text file.")
    ] = None,
    issue_text: Annotated[
        str | None, typer.Option("--issue-text", help="The issue as text.")
    ] = None,
    tests: Annotated[
        list[str] | None,
        typer.Option("--test", "-t", help="A failing test the fix must make pass (repeatable)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="litellm model string (or VERIFIX_MODEL).",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(
            "--api-base",
            help="OpenAI-compatible endpoint (Ollama, vLLM, ...).",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = None,
    price_in: Annotated[
        float | None,
        typer.Option(
            "--price-in",
            help="USD per million prompt tokens, if litellm lacks it.",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = None,
    price_out: Annotated[
        float | None,
        typer.Option(
            "--price-out", help="USD per million reply tokens.", rich_help_panel=MODEL_PANEL
        ),
    ] = None,
    accept_unknown_cost: Annotated[
        bool,
        typer.Option(
            "--accept-unknown-cost",
            help="Run a model with no known price.",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = False,
    max_cost: Annotated[
        float, typer.Option("--max-cost", help="Hard limit in USD.", rich_help_panel=LIMITS_PANEL)
    ] = 1.0,
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", help="Patches to try.", rich_help_panel=LIMITS_PANEL)
    ] = 5,
    timeout: Annotated[
        int, typer.Option("--timeout", help="Wall-clock seconds.", rich_help_panel=LIMITS_PANEL)
    ] = 1800,
    apply: Annotated[
        bool, typer.Option("--apply", help="Apply the verified patch to the working tree.")
    ] = False,
    commit: Annotated[
        bool,
        typer.Option("--commit", help="Commit it on a new branch verifix/... (no checkout)."),
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the patch here, not to stdout.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    config: ConfigOpt = None,
) -> int:
    """Fix an issue: the model proposes patches, each is verified in the sandbox.

    Exit codes: 0 a verified patch, 1 none within the limits, 2 usage or configuration,
    3 environment, sandbox or model-provider failure.
    """
    if (issue_file is None) == (issue_text is None):
        raise UsageError("pass the issue with --issue-file PATH or --issue-text TEXT (one of them)")
    the_issue = issues.from_file(issue_file) if issue_file else issues.from_text(issue_text or "")
    if max_cost <= 0 or max_attempts < 1:
        raise UsageError("--max-cost must be above 0 and --max-attempts at least 1")
    # Everything the model needs is checked before any container starts.
    llm = Model(
        _model_config(model, api_base, price_in, price_out, accept_unknown_cost), Budget(max_cost)
    )
    progress = ProgressLog(quiet)
    checks = Checks(targets=list(tests) if tests else None)
    outcome, snap_repo, record_path = run_fix(
        repo, the_issue, llm, Limits(max_attempts, timeout), checks, config, progress
    )
    progress(f"run record: {record_path} (verifix show)")
    code = _report(outcome, llm, output)
    winner = outcome.verified
    if winner is not None and winner.patch:
        if commit:
            branch = deliver.commit_to_branch(
                snap_repo, winner.patch, the_issue, winner.explanation()
            )
            stderr.print(f"committed on branch {branch} (git switch {branch})")
        if apply:
            deliver.apply_to_worktree(snap_repo, winner.patch)
            stderr.print(f"applied to {snap_repo}")
    return code


def run_fix(
    repo: Path,
    the_issue: issues.Issue,
    llm: Model,
    limits: Limits,
    checks: Checks,
    config: Path | None,
    progress: ProgressLog,
) -> tuple[Outcome, Path, Path]:
    """Snapshot, environment, baseline, the loop, the run record: ``fix`` and ``demo``."""
    started = datetime.now(timezone.utc)
    client = connect()
    with snapshot.of_worktree(repo) as snap:
        spec = build_spec(snap, config, {})
        env = environment.prepare(client, snap, spec, progress)
        with VerifySession(client, env, snap, checks, progress) as session:
            baseline = session.run_baseline()
            if baseline.error:
                raise UsageError(f"the tests cannot run on the base tree: {baseline.error}")
            if not checks.targets and not any(r.failed for r in baseline.results.values()):
                raise UsageError(
                    "no test fails on the base tree, so nothing can show a fix works: name a "
                    "failing test with --test (reproduction tests are not written yet)"
                )
            outcome = repair(the_issue, session, llm, limits, progress)
        run = record.build(
            the_issue,
            outcome,
            llm,
            started=started,
            environment={
                "image": env.image,
                "base_image": env.base.ref,
                "python": env.base.python,
                "test_command": baseline.command,
                "snapshot": snap.description,
            },
            baseline_counts=dict(baseline.counts),
        )
        path = record.write(snap.repo, run)
    return outcome, snap.repo, path


def _report(outcome: Outcome, llm: Model, output: Path | None) -> int:
    spent = (
        f"{len(outcome.attempts)} attempts, ${llm.budget.spent:.4f}, "
        f"{llm.budget.prompt_tokens + llm.budget.completion_tokens} tokens"
    )
    winner = outcome.verified
    if winner is None:
        best = outcome.best()
        stderr.print(f"[bold red]NOT FIXED[/] stopped at the {outcome.stopped} ({spent})")
        if best is not None:
            why = best.error or (best.verdict.reason if best.verdict else "")
            stderr.print(f"best attempt: #{best.number}: {escape(why)}")
        return exit_codes.NOT_VERIFIED
    assert winner.patch is not None
    stderr.print(f"[bold green]VERIFIED[/] attempt {winner.number} ({spent})")
    if winner.explanation():
        stderr.print(escape(winner.explanation()))
    if output:
        output.write_text(winner.patch)
        stderr.print(f"patch written to {output}")
    else:
        stdout.out(winner.patch, end="", highlight=False)
    return exit_codes.VERIFIED
