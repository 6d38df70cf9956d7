"""The use case every front end shares: a request (issue, repo, model, limits, options) in,
a ``Run`` (attempts, chosen patch, spend, why it stopped) out, reporting through events.

``verifix fix``, ``demo``, the git hook and GitHub delivery all call ``run``; the CLI only
parses arguments and renders. Steps: snapshot, environment, baseline; then the repair
task on the failing tests, or, when nothing fails, a reproduction task first whose test
becomes the repair's target; then the run record. A run that a provider error or Ctrl-C
ends still writes its record (the money spent is accounted for).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from verifix.sandbox import environment, snapshot
from verifix.sandbox.engine import connect
from verifix.sandbox.errors import UsageError, VerifixError
from verifix.sandbox.shell import Shell
from verifix.sandbox.snapshot import Snapshot
from verifix.sandbox.testrun import TestReport
from verifix.sandbox.verify import Checks, VerifySession

from . import explore, record
from .consensus import normal_form, tally
from .engine import Attempt, Limits, Outcome, solve
from .envadvice import ModelAdvisor
from .events import Events, Step, steps
from .explore import Workspace
from .issue import Issue
from .judge import Judge
from .model_locate import ModelLocator
from .parallel import Parallel
from .pool import VerifierPool
from .protocols import ChatModel, Localizer, Verifier
from .repair import RepairTask
from .reproduce import ReproductionTask
from .tree import Tree

FIX_SCHEMA = "verifix.fix/1"

#: Distinct fixes a judge compares at most (the best-voted ones). Four left the correct
#: fix out at N=16 when overfitting ones outnumbered it (benchmarks/scaling.py: 69%
#: resolved with a judge right 70% of the time; 78% with eight).
_FINALISTS = 8

_REPRO_CONTEXT = "## The reproduction test (already added; do not edit it)\n```diff\n{patch}```"


class Sandbox(Protocol):
    """Where a run's patches are judged: an environment made once, then a ``Verifier``
    session per set of checks (the baseline's, then the reproduction test's)."""

    #: What the record says of the environment (image, Python, cached, snapshot).
    facts: dict[str, Any]

    def session(self, checks: Checks) -> AbstractContextManager[Verifier]: ...

    def workspace(
        self, base_patches: list[str], step_timeout_s: int
    ) -> AbstractContextManager[Workspace]:
        """A scratch copy of the base tree (plus ``base_patches``) for exploration
        commands, apart from every session that judges patches."""
        ...


@dataclass
class Request:
    """What to fix, where, with which model and within which limits.

    ``issue`` None means "the tests that fail are the issue" (the git hook). ``model`` is
    called once, when the first failing test makes one needed, so a run whose tests pass
    never loads a model; None means tests only, nothing is sent to a model.
    """

    repo: Path
    issue: Issue | None
    model: Callable[[], ChatModel] | None
    limits: Limits
    checks: Checks = field(default_factory=Checks)
    #: A ``--config`` file and the environment flags, applied over detection.
    config: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    rebuild: bool = False
    #: On a green repo: write a failing test first (else accept a patch that breaks nothing).
    reproduce_first: bool = True
    #: Write the failing test first even when tests already fail: they may fail for other
    #: reasons (a batch, whose instances name no target, must not take them for the issue).
    always_reproduce: bool = False
    #: Globs of refused paths the model may edit anyway (``--allow-path``).
    allowed: tuple[str, ...] = ()
    #: The tree to test: the working tree by default; the hook passes a commit or the index.
    snapshot: Callable[[Path], AbstractContextManager[Snapshot]] = snapshot.of_worktree
    localizer: Localizer | None = None
    #: Let the model choose among the locator's top files, on the run's budget.
    locate_with_model: bool = False
    #: How attempts are searched: "linear" (one conversation), "parallel" (``candidates``
    #: side by side) or "tree" (best-first by the process reward).
    strategy: str = "linear"
    candidates: int = 1
    #: Stop once this many accepted patches are the same fix.
    stop_at: int | None = None
    #: The model that compares distinct verified patches; None: the vote decides.
    judge: Callable[[], ChatModel] | None = None
    keep_record: bool = True
    #: Seconds one exploration command may run (``limits.max_steps`` says how many).
    step_timeout_s: int = 60
    #: Where patches are judged: this machine's Docker engine unless a caller (a test, a
    #: remote executor) brings its own.
    sandbox: Callable[[Request, Snapshot, ChatModel | None, Events], Sandbox] = field(
        default=lambda request, snap, model, events: DockerSandbox(
            snap,
            events,
            config=request.config,
            overrides=request.overrides,
            rebuild=request.rebuild,
            model=model,
        )
    )


@dataclass
class Run:
    """What a run did. The single source for the headline, ``--json``, the record and
    ``verifix show``."""

    issue: Issue | None
    repo: Path
    started: datetime
    model: ChatModel | None = None
    fix: Outcome | None = None
    reproduction: Outcome | None = None
    #: Failing test ids on the base tree, and the baseline's counts.
    failing: list[str] = field(default_factory=list)
    baseline: dict[str, int] = field(default_factory=dict)
    #: Why the tests could not run on the base tree at all ("" when they ran).
    baseline_error: str = ""
    #: The image, Python, test command and snapshot the patch was judged in.
    environment: dict[str, Any] = field(default_factory=dict)
    #: Why the run ended when no task did: "green" (nothing fails, the hook), "no model",
    #: "skipped" (``skip_reason`` says why), "interrupted", "error: ...".
    ended: str = ""
    skip_reason: str = ""
    #: What the model was asked and said when it chose the files (``--locate-with-model``).
    localization: list[dict[str, str]] = field(default_factory=list)
    #: The judge's conversation, when it was asked.
    judging: list[dict[str, str]] = field(default_factory=list)
    #: Seconds spent in each phase (environment, baseline, reproduction, repair), for the
    #: record and the batch report: where a run's time went.
    phases: dict[str, float] = field(default_factory=dict)
    record: Path | None = None

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Adds the time spent inside to ``phase`` (also when it ends by an exception)."""
        started = time.monotonic()
        try:
            yield
        finally:
            spent = time.monotonic() - started
            self.phases[phase] = round(self.phases.get(phase, 0.0) + spent, 2)

    @property
    def winner(self) -> Attempt | None:
        """The accepted fix attempt."""
        return self.fix.accepted if self.fix else None

    @property
    def test_patch(self) -> str:
        """The reproduction test verifix kept ("" for none)."""
        kept = self.reproduction.accepted if self.reproduction else None
        return (kept.patch or "") if kept else ""

    @property
    def patch(self) -> str | None:
        """What to hand over: the reproduction test (if one was written) plus the fix."""
        winner = self.winner
        return self.test_patch + winner.patch if winner and winner.patch else None

    @property
    def stopped(self) -> str:
        """Why the run ended, in the record's words."""
        if self.ended:
            return self.ended
        if self.fix is not None:
            return self.fix.stopped
        if self.reproduction is not None:
            return f"reproduction: {self.reproduction.stopped}"
        return ""

    def best(self) -> Attempt | None:
        """The attempt to report: the winner, else the fix attempt that came closest."""
        return self.fix.best() if self.fix else None

    def status(self) -> tuple[str, str]:
        """``VERIFIED``, ``NO_REGRESSIONS`` or ``NOT_FIXED``, and one sentence why."""
        winner = self.winner
        if self.ended == "skipped":
            return "SKIPPED", self.skip_reason
        if winner is None:
            best = self.best()
            why = _why(best)
            return "NOT_FIXED", f"stopped at the {self.stopped}" + (
                f"; best attempt #{best.number}: {why}" if best else ""
            )
        assert winner.verdict is not None
        if not winner.verdict.targets:
            why = "nothing broke, and nothing shows the issue is fixed (--no-repro)"
            return "NO_REGRESSIONS", why
        return "VERIFIED", winner.verdict.reason

    def spend(self) -> dict[str, Any]:
        """Money and tokens of every model call in the run (environment repair included)."""
        budget = self.model.budget if self.model else None
        return {
            "cost": budget.spent if budget else 0.0,
            "calls": budget.calls if budget else 0,
            "prompt_tokens": budget.prompt_tokens if budget else 0,
            "completion_tokens": budget.completion_tokens if budget else 0,
            "usage_clamped": budget.clamped if budget else 0,
        }

    def summary(self) -> dict[str, Any]:
        """``fix --json`` (schema ``verifix.fix/1``, documented in the README), less what
        delivery adds (``applied``, ``branch``, ``pull_request``)."""
        status, reason = self.status()
        winner, chosen = self.winner, self.best()
        spend = self.spend()
        repro = self.reproduction
        return {
            "schema": FIX_SCHEMA,
            "status": status,
            "reason": reason,
            "stopped": self.stopped,
            "detail": self.fix.detail if self.fix else "",
            "patch": self.patch,
            "explanation": winner.explanation() if winner else None,
            "verified_attempt": winner.number if winner else None,
            "best_attempt": chosen.number if chosen else None,
            "attempts": [
                {
                    "number": a.number,
                    "id": a.id,
                    "parent": a.parent,
                    "candidate": a.candidate,
                    "status": a.verdict.status.value if a.verdict else None,
                    "reason": a.verdict.reason if a.verdict else a.error,
                    "accepted": a.accepted,
                    "cost": a.cost,
                    "prompt_tokens": a.prompt_tokens,
                    "completion_tokens": a.completion_tokens,
                    "seconds": round(a.seconds, 2),
                }
                for a in (self.fix.attempts if self.fix else [])
            ],
            "verdict": chosen.verdict.to_json() if chosen and chosen.verdict else None,
            "votes": self.fix.votes if self.fix else [],
            "reproduction": (
                {
                    "stopped": repro.stopped,
                    "test_ids": repro.accepted.tests if repro.accepted else [],
                    "attempts": len(repro.attempts),
                }
                if repro is not None
                else None
            ),
            "cost": spend["cost"],
            "calls": spend["calls"],
            "tokens": {"prompt": spend["prompt_tokens"], "completion": spend["completion_tokens"]},
            "environment": self.environment,
            "baseline": self.baseline,
            "phases": self.phases,
            "record": str(self.record) if self.record else None,
        }


def _why(attempt: Attempt | None) -> str:
    if attempt is None:
        return ""
    return attempt.error or (attempt.verdict.reason if attempt.verdict else "")


STRATEGIES = ("linear", "parallel", "tree")


def check_search(strategy: str, candidates: int, stop_at: int | None) -> None:
    """The search options make sense together, or a one-line usage error."""
    if strategy not in STRATEGIES:
        raise UsageError(f"--strategy {strategy}: choose {', '.join(STRATEGIES)}")
    if candidates < 1:
        raise UsageError("--candidates must be at least 1")
    if strategy == "tree" and candidates > 1:
        raise UsageError("--strategy tree searches one tree: drop --candidates")
    if stop_at is None:
        return
    if strategy == "tree":
        if stop_at < 2:
            raise UsageError("--stop-at must be at least 2 (agreeing accepted patches)")
    elif not 2 <= stop_at <= candidates:
        raise UsageError(
            "--stop-at must be between 2 and --candidates (or use it with --strategy tree)"
        )


def issue_from_failures(label: str, baseline: TestReport) -> Issue:
    """The issue when the tests are the report (the hook): which fail, and how."""
    messages = "\n".join(
        f"- {r.id}: {r.message[-500:]}" for r in baseline.results.values() if r.failed
    )
    return Issue(title=f"Tests fail on {label}", body=f"These tests fail:\n{messages}")


def run(request: Request, events: Events, *, label: str = "the base tree") -> Run:
    """Carry out ``request``; see the module's docstring. Raises ``UsageError`` for a
    request that cannot be carried out (a named target that already passes), and lets a
    provider failure or Ctrl-C through after recording what was spent."""
    result = Run(request.issue, request.repo, datetime.now(timezone.utc))
    with request.snapshot(request.repo) as snap:
        result.repo = snap.repo
        try:
            _work(request, snap, result, events, label)
        except (VerifixError, KeyboardInterrupt) as exc:
            if result.model is not None and result.model.budget.calls:
                result.ended = (
                    "interrupted" if isinstance(exc, KeyboardInterrupt) else f"error: {exc}"
                )
                _keep(request, result, events)
                best = result.best()
                if best is not None:
                    events(Step(f"best attempt: #{best.number}: {_why(best)}"))
            raise
        if result.fix is not None or result.reproduction is not None:
            _keep(request, result, events)
    return result


def _keep(request: Request, result: Run, events: Events) -> None:
    """Write the run record (with every secret in it redacted) and say where."""
    if not request.keep_record:
        return
    result.record = record.write(result.repo, record.build(result))
    spent = result.model.budget.spent if result.model else 0.0
    events(Step(f"run record: {result.record} (${spent:.4f} spent)"))


def _model(request: Request, result: Run) -> ChatModel | None:
    """The request's model, made and checked (key set, server reachable) on first need."""
    if result.model is None and request.model is not None:
        result.model = request.model()
        result.model.preflight()
    return result.model


class DockerSandbox:
    """The sandbox of a run on this machine's Docker engine: one environment image for the
    snapshot, built (or reused) once, and a fresh test container per set of checks."""

    def __init__(
        self,
        snap: Snapshot,
        events: Events,
        *,
        config: Path | None = None,
        overrides: dict[str, Any] | None = None,
        rebuild: bool = False,
        model: ChatModel | None = None,
    ) -> None:
        self.client = connect()
        self.snap = snap
        self.progress = steps(events, "tests")
        spec = environment.spec_for(snap, config, overrides or {})
        # A setup step that fails may be repaired by the model, on the run's budget.
        advisor = ModelAdvisor(model, steps(events)) if model is not None else None
        self.env = environment.prepare(
            self.client,
            snap,
            spec,
            steps(events, "environment"),
            rebuild=rebuild,
            advisor=advisor,
        )
        self.facts = {
            "image": self.env.image,
            "base_image": self.env.base.ref,
            "python": self.env.base.python,
            "cached": self.env.cached,
            "snapshot": snap.description,
        }

    def session(self, checks: Checks) -> AbstractContextManager[Verifier]:
        return VerifySession(self.client, self.env, self.snap, checks, self.progress)

    def workspace(self, base_patches: list[str], step_timeout_s: int) -> Shell:
        return Shell(self.client, self.env, self.snap, base_patches, step_timeout_s)


def _solve(
    request: Request,
    sandbox: Sandbox,
    task: RepairTask | ReproductionTask,
    model: ChatModel,
    outcome: Outcome,
    events: Events,
    base_patches: list[str],
    strategy: str = "linear",
    judge: Judge | None = None,
) -> None:
    """The engine on ``task`` with ``strategy``; with exploration on, the model may first
    run commands in a scratch container of the same environment (never a judging one).
    A tree search adds ``judge``'s estimate of each node to the tests' reward."""
    with ExitStack() as stack:
        workspaces: list[Workspace] = []
        if request.limits.max_steps > 0:
            # One scratch container per candidate: none reads what another changed there.
            n = request.candidates if strategy == "parallel" else 1
            many = f"{n} scratch containers" if n > 1 else "a scratch container"
            events(Step(f"starting {many} for the model's commands (no network)"))
            workspaces = [
                stack.enter_context(sandbox.workspace(base_patches, request.step_timeout_s))
                for _ in range(n)
            ]
            task.exploring = explore.help_text(workspaces[0], request.limits.max_steps)
        limits, plan = request.limits, None
        if strategy == "parallel":
            n = request.candidates
            limits = replace(limits, max_attempts=limits.max_attempts * n)
            plan = Parallel(
                task.opening(), n, request.limits.max_attempts, request.stop_at, _fix_key(task)
            )
            outcome.conversations = plan.conversations
            outcome.messages = plan.conversations[0]
        elif strategy == "tree":
            estimate = None
            if judge is not None and isinstance(task, RepairTask):
                estimate = partial(judge.estimate, task.issue)
            plan = Tree(
                task.opening(), estimate=estimate, stop_at=request.stop_at, same_fix=_fix_key(task)
            )
            outcome.messages = list(plan.opening)
        solve(task, model, limits, events, outcome, plan, workspaces)
        if isinstance(plan, Tree):
            outcome.scores = plan.scores


def _fix_key(task: RepairTask | ReproductionTask) -> Callable[[Attempt], str] | None:
    """What makes two accepted patches the same fix (``consensus``), for ``--stop-at``."""
    if not isinstance(task, RepairTask):
        return None
    return lambda attempt: normal_form(task.files_after(attempt))


def _repair(
    request: Request,
    sandbox: Sandbox,
    session: Verifier,
    checks: Checks,
    result: Run,
    model: ChatModel,
    events: Events,
    **options: Any,
) -> None:
    """The repair task on ``session`` (and, for candidates, sessions beside it), then the
    choice among accepted patches: the vote, and a judge where it is configured."""
    strategy = request.strategy
    if strategy == "linear" and request.candidates > 1:
        strategy = "parallel"
    issue = result.issue
    assert issue is not None
    with ExitStack() as stack:
        verifier: Verifier = session
        if strategy == "parallel" and request.candidates > 1:
            events(Step(f"starting {request.candidates - 1} more test containers"))
            more = [
                stack.enter_context(sandbox.session(checks)) for _ in range(request.candidates - 1)
            ]
            verifier = VerifierPool([session, *more])
        task = RepairTask(
            issue, verifier, model.context_budget(), allowed=request.allowed, **options
        )
        result.fix = Outcome(task.name)
        judge = Judge(request.judge()) if request.judge is not None else None
        try:
            _solve(
                request,
                sandbox,
                task,
                model,
                result.fix,
                events,
                checks.base_patches,
                strategy,
                judge if strategy == "tree" else None,
            )
            _select(task, result, events, judge)
        finally:
            if judge is not None and judge.messages:
                result.judging = judge.messages


def _select(task: RepairTask, result: Run, events: Events, judge: Judge | None) -> None:
    """With several accepted patches: group them into fixes (``consensus``), the most
    votes first; ``judge``, when configured, picks among distinct fixes."""
    outcome = result.fix
    assert outcome is not None
    accepted = [a for a in outcome.attempts if a.accepted]
    if len(accepted) < 2:
        return
    votes = tally(accepted, task.files_after)
    outcome.votes = [
        {"fix": v.key, "count": v.count, "attempts": [a.id for a in v.attempts]} for v in votes
    ]
    outcome.chosen = votes[0].smallest
    if len(votes) > 1 and judge is not None and result.issue is not None:
        finalists = votes[:_FINALISTS]
        choice = judge.pick(
            result.issue, [v.smallest for v in finalists], [v.count for v in finalists]
        )
        if choice is not None:
            outcome.chosen = choice.attempt
            outcome.judged = choice.reason
    assert outcome.chosen is not None
    events(Step(f"chosen: attempt {outcome.chosen.number} ({_vote_line(outcome)})"))


def _vote_line(outcome: Outcome) -> str:
    counts = ", ".join(str(v["count"]) for v in outcome.votes)
    why = f"; the judge: {outcome.judged}" if outcome.judged else ""
    return f"votes {counts}{why}"


def _work(request: Request, snap: Snapshot, result: Run, events: Events, label: str) -> None:
    # With an issue, the model is checked now, before an environment is built for it.
    model = _model(request, result) if request.issue is not None else None
    with result.timed("environment"):
        sandbox = request.sandbox(request, snap, model, events)
    result.environment = dict(sandbox.facts)
    with sandbox.session(request.checks) as session:
        with result.timed("baseline"):
            baseline = session.run_baseline()
        if baseline.error:
            result.baseline_error = baseline.error
            result.ended = "baseline error"
            return
        result.environment["test_command"] = baseline.command
        result.baseline = dict(baseline.counts)
        result.failing = sorted(r.id for r in baseline.results.values() if r.failed)
        named = request.checks.targets or []
        passing = [t for t in named if t in baseline.results and baseline.results[t].passed]
        if passing:
            raise UsageError(
                f"--test {passing[0]} already passes on the base tree, so it cannot show a "
                "fix: name a test that fails because of the issue"
            )
        if request.issue is None:
            if not result.failing:
                result.ended = "green"
                return
            result.issue = issue_from_failures(label, baseline)
        model = _model(request, result)
        if model is None:
            result.ended = "no model"
            return
        issue = result.issue
        assert issue is not None
        tokens = model.context_budget()  # the reproduction's; a repair asks again
        localizer = request.localizer
        if request.locate_with_model:
            chooser = ModelLocator(model, issue, events=events)
            result.localization = chooser.messages
            localizer = chooser
        green = not named and not result.failing
        first_a_test = request.reproduce_first and not named and (green or request.always_reproduce)
        if not first_a_test:
            if green:
                events(Step("nothing fails and --no-repro: accepting a patch that breaks nothing"))
            with result.timed("repair"):
                _repair(
                    request,
                    sandbox,
                    session,
                    request.checks,
                    result,
                    model,
                    events,
                    require_targets=not green,
                    localizer=localizer,
                )
            return
        why = "nothing fails on the base tree" if green else "tests that fail may not be the issue"
        events(Step(f"{why}: reproducing the issue as a test"))
        result.reproduction = Outcome("reproduction")
        repro_task = ReproductionTask(issue, session, tokens, localizer)
        with result.timed("reproduction"):
            _solve(request, sandbox, repro_task, model, result.reproduction, events, [])
    kept = result.reproduction.accepted if result.reproduction else None
    if kept is None or not kept.patch:
        return
    # The kept test is part of the base tree now, and its failing tests are the targets;
    # the baseline of the rest is the one already run, so only the new test file runs.
    added = sorted({test.split("::", 1)[0] for test in kept.tests})
    checks = Checks(
        targets=kept.tests, base_patches=[kept.patch], known_baseline=baseline, added=added
    )
    with result.timed("repair"), sandbox.session(checks) as session:
        _repair(
            request,
            sandbox,
            session,
            checks,
            result,
            model,
            events,
            extra_context=_REPRO_CONTEXT.format(patch=kept.patch),
            localizer=localizer,
        )
