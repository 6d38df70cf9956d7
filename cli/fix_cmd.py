"""``verifix fix``: an issue in, a verified patch out. Argument parsing and rendering only:
the work is ``agent.runner.run``, what happens around it for GitHub is ``agent.delivery``."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from verifix.agent import delivery, github, runner, settings
from verifix.agent.engine import Limits
from verifix.agent.events import fan_out
from verifix.agent.model import Budget, Model
from verifix.sandbox.errors import UsageError, VerifixError
from verifix.sandbox.verify import Checks

from . import exit_codes, model_flags, run_report
from . import fix_options as o
from .common import (
    NO_ENV_OPTIONS,
    EnvOptions,
    QuietOpt,
    TestOpt,
    TestsAliasOpt,
    env_options,
    local_issue,
    targets,
)
from .output import ProgressLog, stderr


@env_options(rebuild=True)
def fix(
    target: o.Target = ".",
    issue_file: o.IssueFile = None,
    issue_text: o.IssueText = None,
    test: TestOpt = None,
    tests_alias: TestsAliasOpt = None,
    as_json: o.AsJson = False,
    model: o.ModelName = None,
    api_base: o.ApiBase = None,
    price_in: o.PriceIn = None,
    price_out: o.PriceOut = None,
    accept_unknown_cost: o.AcceptUnknownCost = False,
    locate_with_model: o.LocateWithModel = False,
    reasoning_effort: o.ReasoningEffort = None,
    max_cost: o.MaxCost = None,
    max_attempts: o.MaxAttempts = None,
    timeout: o.Timeout = 1800,
    explore: o.Explore = None,
    max_steps: o.MaxSteps = 10,
    step_timeout: o.StepTimeout = 60,
    candidates: o.Candidates = 1,
    strategy: o.StrategyName = "linear",
    stop_at: o.StopAt = None,
    judge: o.JudgeModel = None,
    apply: o.Apply = False,
    commit: o.Commit = False,
    allow_path: o.AllowPath = None,
    no_repro: o.NoRepro = False,
    output: o.Output = None,
    quiet: QuietOpt = False,
    envopts: EnvOptions = NO_ENV_OPTIONS,
    github_api_url: o.GitHubApiUrl = None,
    all_comments: o.AllComments = False,
    branch: o.Branch = None,
    pr: o.OpenPr = False,
    ready: o.Ready = False,
    progress_comment: o.ProgressCommentOpt = False,
    outputs: o.Outputs = None,
    comment: o.CommentOpt = False,
) -> int:
    """Fix an issue: the model proposes patches, each is verified in the sandbox.

    Exit codes: 0 a verified patch, 1 none within the limits, 2 usage or configuration,
    3 environment, sandbox or model-provider failure.
    """
    started = datetime.now(timezone.utc)
    the_issue = local_issue(target, issue_file, issue_text)
    from_github = the_issue is None
    if (pr or comment or ready or progress_comment) and not from_github:
        raise UsageError(
            "--pr, --ready, --comment and --progress-comment need a GitHub issue reference"
        )
    repo = Path("." if from_github else target)
    source = None
    if from_github:
        ref = github.parse_reference(target, repo)
        source = delivery.Source(github.GitHub(github_api_url), ref, all_comments, branch)
    runner.check_search(strategy, candidates, stop_at)
    settings.check_effort(reasoning_effort)
    flags = settings.Flags(
        model, api_base, price_in, price_out, accept_unknown_cost, max_cost, max_attempts
    )
    # Everything the model needs is checked before any container starts.
    trusted = source is None or github.origin_matches(repo, source.ref)
    chosen = settings.for_repo(repo if trusted else None, flags)
    config = replace(chosen.config, reasoning_effort=reasoning_effort)
    llm = Model(config, Budget(chosen.max_cost), deadline=time.monotonic() + timeout)
    llm.preflight()  # a missing key or a closed port: before any clone or container
    if source is not None and (pr or comment):
        skip = source.skip_reason()
        if skip:
            stderr.print(f"skipped: {skip}")
            delivery.write_outputs(outputs, verdict="skipped", pr_url="", cost=0.0)
            if as_json:
                skipped = runner.Run(None, repo, started, ended="skipped", skip_reason=skip)
                run_report.print_json({**skipped.summary(), **delivery.nothing_done()})
            return exit_codes.VERIFIED
    log = ProgressLog(quiet, spent=0.0)
    board: delivery.ProgressComment | None = None
    events = log.event
    with log:  # the live status line is gone before the result is printed
        if source is not None:
            the_issue, repo = source.fetch(repo, started, events)
            if progress_comment:
                board = delivery.ProgressComment(source)
                events = fan_out(log.event, board)
        request = runner.Request(
            repo,
            the_issue,
            lambda: llm,
            Limits(
                chosen.max_attempts, timeout, max_steps if model_flags.explores(llm, explore) else 0
            ),
            Checks(targets=targets(test, tests_alias)),
            config=envopts.config,
            overrides=envopts.overrides(),
            rebuild=envopts.rebuild,
            reproduce_first=not no_repro,
            allowed=tuple(allow_path or ()),
            step_timeout_s=step_timeout,
            locate_with_model=locate_with_model,
            strategy=strategy,
            candidates=candidates,
            stop_at=stop_at,
            judge=model_flags.judge_for(judge, llm, chosen.max_cost),
        )
        try:
            result = runner.run(request, events)
        except (VerifixError, KeyboardInterrupt) as exc:
            if board is not None:  # a progress comment must not say "working" forever
                board.finish(f"stopped: {exc or 'interrupted'}")
            raise
    if result.baseline_error:
        raise UsageError(f"the tests cannot run on the base tree: {result.baseline_error}")
    code = run_report.headline(result, output, patch_to_stdout=not as_json)
    handover = delivery.Handover(apply, commit, pr, not ready, comment)
    done = delivery.hand_over(result, handover, source, run_report.say)
    pr_url = done["pull_request"] or ""
    verdict = "verified" if result.patch else "not-verified"
    if board is not None:
        board.finish(verdict + (f": {pr_url}" if pr_url else f" ({result.stopped})"))
    delivery.write_outputs(outputs, verdict=verdict, pr_url=pr_url, cost=llm.budget.spent)
    if as_json:
        run_report.print_json({**result.summary(), **done})
    return code
