"""``verifix fix``: an issue in, a verified patch out."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from verifix.agent import deliver, github, record, settings
from verifix.agent import issue as issues
from verifix.agent.envadvice import ModelAdvisor
from verifix.agent.loop import Attempt, Limits, Outcome, repair
from verifix.agent.model import Budget, Model, known_prices
from verifix.agent.repro import Reproduction, reproduce
from verifix.sandbox import environment, snapshot
from verifix.sandbox.engine import connect
from verifix.sandbox.errors import UsageError, VerifixError
from verifix.sandbox.snapshot import repo_root
from verifix.sandbox.verify import Checks, VerifySession

from . import exit_codes
from .common import (
    ConfigOpt,
    EnvOpt,
    ImageOpt,
    PythonOpt,
    QuietOpt,
    RebuildOpt,
    SetupOpt,
    SetupTimeoutOpt,
    TestCmdOpt,
    TestOpt,
    TestsAliasOpt,
    TestTimeoutOpt,
    build_spec,
    cli_overrides,
    targets,
)
from .github_cmd import ProgressComment
from .output import ProgressLog, stderr, stdout

MODEL_PANEL = "Model"
LIMITS_PANEL = "Limits"


def origin_ok(repo: Path, ref: github.IssueRef | None) -> bool:
    """Whether ``repo`` is a checkout of the issue's repository (then work in it)."""
    return ref is not None and github.origin_matches(repo, ref)


def resolve_model(repo: Path | None, flags: settings.Flags) -> settings.Resolved:
    """The run's model and limits: the user's settings, and the repo's where it may set
    them (``repo`` None: a repository verifix has not checked out yet, so none)."""
    table = settings.repo_model_table(repo_root(repo)) if repo is not None else {}
    return settings.resolve(flags, table, known_prices)


def fix(
    target: Annotated[
        str,
        typer.Argument(help="The repo (default: .), or a GitHub issue: URL, OWNER/REPO#N or '#N'."),
    ] = ".",
    issue_file: Annotated[
        Path | None, typer.Option("--issue-file", help="The issue as a markdown or text file.")
    ] = None,
    issue_text: Annotated[
        str | None, typer.Option("--issue-text", help="The issue as text.")
    ] = None,
    test: TestOpt = None,
    tests_alias: TestsAliasOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON instead of the patch.")
    ] = False,
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
        float | None,
        typer.Option(
            "--max-cost", help="Hard limit in USD [default: 1.00].", rich_help_panel=LIMITS_PANEL
        ),
    ] = None,
    max_attempts: Annotated[
        int | None,
        typer.Option(
            "--max-attempts", help="Patches to try [default: 5].", rich_help_panel=LIMITS_PANEL
        ),
    ] = None,
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
    allow_path: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-path",
            help="Let the model edit files matching this glob that are refused by default "
            "(CI, hooks, build scripts, .verifix.toml); repeatable.",
        ),
    ] = None,
    no_repro: Annotated[
        bool,
        typer.Option("--no-repro", help="On a green repo, accept a patch that breaks nothing."),
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the patch here, not to stdout.")
    ] = None,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
    image: ImageOpt = None,
    python: PythonOpt = None,
    setup: SetupOpt = None,
    test_cmd: TestCmdOpt = None,
    env: EnvOpt = None,
    test_timeout: TestTimeoutOpt = None,
    setup_timeout: SetupTimeoutOpt = None,
    rebuild: RebuildOpt = False,
    github_api_url: Annotated[
        str | None,
        typer.Option(
            "--github-api-url",
            help="GitHub Enterprise API (or GITHUB_API_URL).",
            rich_help_panel="GitHub",
        ),
    ] = None,
    all_comments: Annotated[
        bool,
        typer.Option(
            "--all-comments",
            help="Read comments by anyone, not only collaborators.",
            rich_help_panel="GitHub",
        ),
    ] = False,
    branch: Annotated[
        str | None,
        typer.Option(
            "--ref",
            help="Branch to fix when verifix clones the issue's repo.",
            rich_help_panel="GitHub",
        ),
    ] = None,
    pr: Annotated[
        bool,
        typer.Option(
            "--pr",
            help="Push the verified patch and open a pull request (draft).",
            rich_help_panel="GitHub",
        ),
    ] = False,
    ready: Annotated[
        bool,
        typer.Option(
            "--ready", help="Open the pull request ready for review.", rich_help_panel="GitHub"
        ),
    ] = False,
    progress_comment: Annotated[
        bool,
        typer.Option(
            "--progress-comment",
            help="Keep one issue comment updated while working.",
            rich_help_panel="GitHub",
        ),
    ] = False,
    outputs: Annotated[
        Path | None,
        typer.Option(
            "--outputs",
            help="Append verdict=, pr-url=, cost= lines (GITHUB_OUTPUT).",
            rich_help_panel="GitHub",
        ),
    ] = None,
    comment: Annotated[
        bool,
        typer.Option(
            "--comment",
            help="When nothing is verified, say so on the issue.",
            rich_help_panel="GitHub",
        ),
    ] = False,
) -> int:
    """Fix an issue: the model proposes patches, each is verified in the sandbox.

    Exit codes: 0 a verified patch, 1 none within the limits, 2 usage or configuration,
    3 environment, sandbox or model-provider failure.
    """
    started = datetime.now(timezone.utc)
    # Anything with a '#' that is not a folder is meant as an issue reference.
    from_github = github.looks_like_reference(target) or (
        "#" in target and not Path(target).exists()
    )
    if from_github and (issue_file or issue_text):
        raise UsageError(f"{target} names the issue already: drop --issue-file/--issue-text")
    if not from_github and (issue_file is None) == (issue_text is None):
        raise UsageError(
            "name the issue: a GitHub reference (URL, OWNER/REPO#N, '#N'), "
            "--issue-file PATH or --issue-text TEXT"
        )
    if (pr or comment or ready or progress_comment) and not from_github:
        raise UsageError(
            "--pr, --ready, --comment and --progress-comment need a GitHub issue reference"
        )
    repo = Path("." if from_github else target)
    ref = github.parse_reference(target, repo) if from_github else None
    if not from_github:
        the_issue = (
            issues.from_file(issue_file) if issue_file else issues.from_text(issue_text or "")
        )
    flags = settings.Flags(
        model, api_base, price_in, price_out, accept_unknown_cost, max_cost, max_attempts
    )
    # Everything the model needs is checked before any container starts.
    chosen = resolve_model(repo if not from_github or origin_ok(repo, ref) else None, flags)
    max_attempts = chosen.max_attempts
    llm = Model(chosen.config, Budget(chosen.max_cost), deadline=time.monotonic() + timeout)
    hub = github.GitHub(github_api_url) if ref is not None else None
    if ref is not None and hub is not None and (pr or comment):
        skip = _skip_reason(hub, ref)
        if skip:
            stderr.print(f"skipped: {skip}")
            _write_outputs(outputs, verdict="skipped", pr_url="", cost=0.0)
            if as_json:
                _print_json(_skipped_json(skip))
            return exit_codes.VERIFIED
    overrides = cli_overrides(image, python, setup, test_cmd, env, test_timeout, setup_timeout)
    log = ProgressLog(quiet, cost=lambda: llm.budget.spent)
    progress: Callable[[str], None] = log
    board: ProgressComment | None = None
    with log:  # the live status line is gone before the result is printed
        if ref is not None and hub is not None:
            the_issue = hub.issue(ref, started=started, all_comments=all_comments)
            progress(f"issue {ref}: {the_issue.title} ({len(the_issue.comments)} comments read)")
            if not origin_ok(repo, ref):
                repo = github.checkout(hub, ref, branch)
            if progress_comment:
                progress = board = ProgressComment(hub, ref, progress)
        try:
            result = run_fix(
                repo,
                the_issue,
                llm,
                Limits(max_attempts, timeout),
                Checks(targets=targets(test, tests_alias)),
                config,
                progress,
                reproduce_first=not no_repro,
                allowed=tuple(allow_path or ()),
                overrides=overrides,
                rebuild=rebuild,
            )
        except (VerifixError, KeyboardInterrupt) as exc:
            if board is not None:  # a progress comment must not say "working" forever
                board.finish(f"stopped: {exc or 'interrupted'}")
            raise
        progress(f"run record: {result.record} (verifix show)")
    code = _report(result, llm, output, patch_to_stdout=not as_json)
    delivered: dict[str, Any] = {"applied": False, "branch": None, "pull_request": None}
    if result.patch:
        if commit:
            made = deliver.commit_to_branch(
                result.repo, result.patch, the_issue, result.winner.explanation()
            )
            delivered["branch"] = made
            stderr.print(f"committed on branch {made} (git switch {made})")
        if apply:
            deliver.apply_to_worktree(result.repo, result.patch)
            delivered["applied"] = True
            stderr.print(f"applied to {result.repo}")
    pr_url = _to_github(result, the_issue, hub, ref, pr=pr, draft=not ready, comment=comment)
    delivered["pull_request"] = pr_url or None
    verdict = "verified" if result.patch else "not-verified"
    if board is not None:
        board.finish(f"{verdict}" + (f": {pr_url}" if pr_url else f" ({result.outcome.stopped})"))
    _write_outputs(outputs, verdict=verdict, pr_url=pr_url, cost=llm.budget.spent)
    if as_json:
        _print_json(_fix_json(result, llm, delivered))
    return code


def _write_outputs(path: Path | None, *, verdict: str, pr_url: str, cost: float) -> None:
    """GitHub Actions' step outputs: ``key=value`` lines appended to $GITHUB_OUTPUT."""
    if path is not None:
        with path.open("a") as out:
            out.write(f"verdict={verdict}\npr-url={pr_url}\ncost={cost:.4f}\n")


def _to_github(
    result: FixRun,
    the_issue: issues.Issue,
    hub: github.GitHub | None,
    ref: github.IssueRef | None,
    *,
    pr: bool,
    draft: bool,
    comment: bool,
) -> str:
    """Open the pull request (--pr) or say on the issue what was tried (--comment);
    returns the pull request's URL, or ""."""
    if hub is None or ref is None:
        return ""
    if result.patch and pr:
        url = _open_pr(hub, ref, result.repo, result.patch, the_issue, result.winner, draft)
        stderr.print(f"pull request: {url}")
        return url
    if not result.patch and comment:
        best = result.outcome.best()
        why = (best.error or (best.verdict.reason if best.verdict else "")) if best else "none"
        body = github.failure_comment(result.outcome.stopped, len(result.outcome.attempts), why)
        stderr.print(f"commented: {hub.comment(ref, body)}")
    return ""


def _skip_reason(hub: github.GitHub, ref: github.IssueRef) -> str | None:
    """Why not to work on an issue that is closed, locked, or already has a verifix PR."""
    state = hub.issue_state(ref)
    if state.get("state") == "closed":
        return f"{ref} is closed"
    if state.get("locked"):
        return f"{ref} is locked"
    existing = hub.open_verifix_pr(ref)
    return f"{ref} already has an open verifix pull request: {existing}" if existing else None


def _open_pr(
    hub: github.GitHub,
    ref: github.IssueRef,
    repo: Path,
    patch: str,
    the_issue: issues.Issue,
    winner: Attempt,
    draft: bool,
) -> str:
    """Commit on a fresh verifix/issue-N branch, push it, open the pull request."""
    assert winner.verdict is not None
    base = subprocess.run(
        ["git", "-C", str(repo), "branch", "--show-current"], capture_output=True, text=True
    ).stdout.strip()
    taken = github.remote_branches(repo, f"verifix/issue-{ref.number}", hub, ref)
    explanation = winner.explanation()
    branch = deliver.commit_to_branch(repo, patch, the_issue, explanation, taken)
    github.push(repo, branch, hub, ref)
    title = f"Fix #{ref.number}: {the_issue.title}"
    body = github.pr_body(the_issue, explanation, winner.verdict)
    return hub.open_pull_request(ref, branch, base or "main", title, body, draft)


_REPRO_CONTEXT = "## The reproduction test (already added; do not edit it)\n```diff\n{patch}```"


@dataclass
class FixRun:
    """What ``run_fix`` did: the loop's outcome, the reproduction (if one was needed), the
    patch to hand over (the reproduction test plus the fix), and the record's path."""

    outcome: Outcome
    repo: Path
    record: Path
    reproduction: Reproduction | None = None
    #: What the record says of the environment (image, Python, test command, ...) and of
    #: the baseline run's counts; ``fix --json`` reports them too.
    environment: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, int] = field(default_factory=dict)

    @property
    def winner(self) -> Attempt:
        """The accepted attempt; only asked for when ``patch`` is set."""
        winner = self.outcome.verified
        assert winner is not None
        return winner

    @property
    def patch(self) -> str | None:
        winner = self.outcome.verified
        if winner is None or not winner.patch:
            return None
        test = self.reproduction.patch if self.reproduction and self.reproduction.patch else ""
        return test + winner.patch


def run_fix(
    repo: Path,
    the_issue: issues.Issue,
    llm: Model,
    limits: Limits,
    checks: Checks,
    config: Path | None,
    progress: Callable[[str], None],
    *,
    reproduce_first: bool = True,
    allowed: tuple[str, ...] = (),
    overrides: dict[str, Any] | None = None,
    rebuild: bool = False,
) -> FixRun:
    """Snapshot, environment, baseline, a reproduction test when nothing fails, the loop,
    and the run record: ``fix`` and ``demo``. A run that a provider error or Ctrl-C ends
    still writes its record (the money spent is accounted for) and names its best attempt.
    ``overrides`` are the environment flags (``--python``, ``--setup``, ...), applied over
    detection and the repo's configuration exactly as ``verify`` applies them."""
    started = datetime.now(timezone.utc)
    client = connect()
    outcome = Outcome()
    repro: Reproduction | None = None
    facts: dict[str, Any] = {"environment": {}, "baseline": {}}

    def keep(stopped: str) -> Path:
        outcome.stopped = outcome.stopped or stopped
        run = record.build(
            the_issue,
            outcome,
            llm,
            started=started,
            environment=facts["environment"],
            baseline_counts=facts["baseline"],
            reproduction=repro,
        )
        return record.write(snap.repo, run)

    def attempts(session: VerifySession, **options: Any) -> None:
        """The repair loop on ``session``, its attempts kept in ``outcome`` as they come."""
        repair(
            the_issue, session, llm, limits, progress, allowed=allowed, outcome=outcome, **options
        )

    with snapshot.of_worktree(repo) as snap:
        try:
            spec = build_spec(snap, config, overrides or {})
            # A setup step that fails may be repaired by the model, on the run's budget.
            advisor = ModelAdvisor(llm, progress)
            env = environment.prepare(
                client, snap, spec, progress, rebuild=rebuild, advisor=advisor
            )
            facts["environment"] = {
                "image": env.image,
                "base_image": env.base.ref,
                "python": env.base.python,
                "cached": env.cached,
                "snapshot": snap.description,
            }
            with VerifySession(client, env, snap, checks, progress) as session:
                baseline = session.run_baseline()
                if baseline.error:
                    raise UsageError(f"the tests cannot run on the base tree: {baseline.error}")
                facts["environment"]["test_command"] = baseline.command
                facts["baseline"] = dict(baseline.counts)
                results = baseline.results
                passing = [t for t in checks.targets or [] if t in results and results[t].passed]
                if passing:
                    raise UsageError(
                        f"--test {passing[0]} already passes on the base tree, so it cannot "
                        "show a fix: name a test that fails because of the issue"
                    )
                green = not checks.targets and not any(r.failed for r in results.values())
                if not green:
                    attempts(session)
                elif not reproduce_first:
                    progress("nothing fails and --no-repro: accepting a patch that breaks nothing")
                    attempts(session, require_targets=False)
                else:
                    progress("nothing fails on the base tree: reproducing the issue as a test")
                    repro = Reproduction()
                    reproduce(the_issue, session, llm, limits, progress, repro)
                    outcome.stopped = f"reproduction: {repro.stopped}"
            if repro is not None and repro.patch:
                outcome.stopped = ""
                fix_checks = Checks(targets=repro.test_ids, base_patches=[repro.patch])
                with VerifySession(client, env, snap, fix_checks, progress) as session:
                    attempts(session, extra_context=_REPRO_CONTEXT.format(patch=repro.patch))
        except (VerifixError, KeyboardInterrupt) as exc:
            if llm.budget.calls:  # something was spent: the record must say on what
                why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"error: {exc}"
                path = keep(why)
                best = outcome.best()
                if best is not None:
                    what = best.error or (best.verdict.reason if best.verdict else "")
                    progress(f"best attempt: #{best.number}: {what}")
                progress(f"run record: {path} (${llm.budget.spent:.4f} spent)")
            raise
        path = keep("")
    return FixRun(outcome, snap.repo, path, repro, facts["environment"], facts["baseline"])


FIX_SCHEMA = "verifix.fix/1"


def _status(result: FixRun) -> tuple[str, str]:
    """The run's status (``VERIFIED``, ``NO_REGRESSIONS``, ``NOT_FIXED``) and one sentence
    why: the same words for the headline on stderr and for ``--json``."""
    outcome = result.outcome
    winner = outcome.verified
    if winner is None:
        best = outcome.best()
        why = (best.error or (best.verdict.reason if best.verdict else "")) if best else ""
        return "NOT_FIXED", f"stopped at the {outcome.stopped}" + (
            f"; best attempt #{best.number}: {why}" if best else ""
        )
    if not any(a.verdict and a.verdict.targets for a in outcome.attempts if a.accepted):
        return "NO_REGRESSIONS", "nothing broke, and nothing shows the issue is fixed (--no-repro)"
    assert winner.verdict is not None
    return "VERIFIED", winner.verdict.reason


def _report(
    result: FixRun, llm: Model, output: Path | None, *, patch_to_stdout: bool = True
) -> int:
    """The headline and explanation on stderr; the patch on stdout (unless ``--json`` takes
    stdout) or in ``--output``."""
    outcome = result.outcome
    spent = (
        f"{len(outcome.attempts)} attempts, ${llm.budget.spent:.4f}, "
        f"{llm.budget.prompt_tokens + llm.budget.completion_tokens} tokens"
    )
    status, _ = _status(result)
    winner = outcome.verified
    if winner is None:
        best = outcome.best()
        stderr.print(f"[bold red]NOT FIXED[/] stopped at the {outcome.stopped} ({spent})")
        if best is not None:
            why = best.error or (best.verdict.reason if best.verdict else "")
            stderr.print(f"best attempt: #{best.number}: {escape(why)}")
        return exit_codes.NOT_VERIFIED
    patch = result.patch
    assert patch is not None
    if status == "NO_REGRESSIONS":
        stderr.print(
            f"[bold yellow]NO REGRESSIONS[/] attempt {winner.number} ({spent}); "
            "nothing shows the issue is fixed (--no-repro)"
        )
    else:
        stderr.print(f"[bold green]VERIFIED[/] attempt {winner.number} ({spent})")
    if result.reproduction and result.reproduction.patch:
        stderr.print("the patch includes the reproduction test that failed before the fix")
    if winner.explanation():
        stderr.print(escape(winner.explanation()))
    if output:
        output.write_text(patch)
        stderr.print(f"patch written to {output}")
    elif patch_to_stdout:
        stdout.out(patch, end="", highlight=False)
    return exit_codes.VERIFIED


def _fix_json(result: FixRun, llm: Model, delivered: dict[str, Any]) -> dict[str, Any]:
    """``fix --json``: what a script needs from the run in one object (schema
    ``verifix.fix/1``, documented in the README); the run record keeps everything else."""
    outcome = result.outcome
    status, reason = _status(result)
    chosen = outcome.verified or outcome.best()
    repro = result.reproduction
    return {
        "schema": FIX_SCHEMA,
        "status": status,
        "reason": reason,
        "stopped": outcome.stopped,
        "patch": result.patch,
        "explanation": outcome.verified.explanation() if outcome.verified else None,
        "verified_attempt": outcome.verified.number if outcome.verified else None,
        "best_attempt": chosen.number if chosen else None,
        "attempts": [
            {
                "number": a.number,
                "status": a.verdict.status.value if a.verdict else None,
                "reason": a.verdict.reason if a.verdict else a.error,
                "accepted": a.accepted,
                "cost": a.cost,
                "prompt_tokens": a.prompt_tokens,
                "completion_tokens": a.completion_tokens,
                "seconds": round(a.seconds, 2),
            }
            for a in outcome.attempts
        ],
        "verdict": chosen.verdict.to_json() if chosen and chosen.verdict else None,
        "reproduction": (
            {"stopped": repro.stopped, "test_ids": repro.test_ids, "attempts": len(repro.attempts)}
            if repro is not None
            else None
        ),
        "cost": llm.budget.spent,
        "calls": llm.budget.calls,
        "tokens": {"prompt": llm.budget.prompt_tokens, "completion": llm.budget.completion_tokens},
        "environment": result.environment,
        "baseline": result.baseline,
        "record": str(result.record),
        **delivered,
    }


def _skipped_json(reason: str) -> dict[str, Any]:
    """``fix --json`` for an issue skipped before any work: the same keys, nothing done."""
    return {
        "schema": FIX_SCHEMA,
        "status": "SKIPPED",
        "reason": reason,
        "stopped": "skipped",
        "patch": None,
        "explanation": None,
        "verified_attempt": None,
        "best_attempt": None,
        "attempts": [],
        "verdict": None,
        "reproduction": None,
        "cost": 0.0,
        "calls": 0,
        "tokens": {"prompt": 0, "completion": 0},
        "environment": {},
        "baseline": {},
        "record": None,
        "applied": False,
        "branch": None,
        "pull_request": None,
    }


def _print_json(data: dict[str, Any]) -> None:
    """One JSON object on stdout, printed as ``verify --json`` prints its verdict."""
    stdout.print_json(json.dumps(data))
