"""The attempt engine: one loop for every task, limits that stop it by typed exceptions, and
a search strategy as a pluggable part.

A ``Task`` (repair, reproduction) supplies the opening conversation, turns a reply into a
proposal (or a refusal the model can act on), judges a proposal, and words the feedback.
The ``Engine`` runs one attempt at a time for a strategy: it checks the limits, asks the
model, lets the task propose and judge, publishes events, and keeps every attempt with an
id and the id of the attempt it continued from. A ``Strategy`` decides which conversation
to continue next: ``Linear`` is one conversation; candidates side by side and tree search
are other strategies over the same ``Engine.attempt``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from verifix.sandbox.testrun import PASSING
from verifix.sandbox.verdict import Verdict

from .budget import BudgetExhausted
from .events import (
    AttemptStarted,
    Checking,
    Event,
    Events,
    Explored,
    Judged,
    ProposalRefused,
    Spend,
    Stopped,
)
from .explore import NotACommand, Step, Workspace, command_in
from .protocols import ChatModel, Completion

Messages = list[dict[str, str]]

#: What of a reply goes back into the conversation: a runaway reply (megabytes) would make
#: every later prompt cost its size.
REPLY_KEPT_CHARS = 20_000
_MESSAGE_CHARS = 1500


def trim(text: str, limit: int = _MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, keeping its head and its tail."""
    text = text.strip()
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + "\n[...]\n" + text[-half:]


@dataclass(frozen=True)
class Limits:
    max_attempts: int
    timeout_s: float
    #: Exploration commands the model may run in all (0: none; see ``explore``).
    max_steps: int = 0


class Stop(Exception):
    """Ends a task's attempts; ``reason`` is what the record and the headline say."""

    reason = "stopped"


class Solved(Stop):
    reason = "solved"  # a task's own word replaces it: verified, reproduced


class AttemptLimit(Stop):
    reason = "max attempts"


class TimeLimit(Stop):
    reason = "timeout"


class CostLimit(Stop):
    reason = "cost limit"


class Cancelled(Stop):
    """The strategy has what it needs (``--stop-at``): attempts not started are not made."""

    reason = "stopped early"


class Refused(Exception):
    """A reply that cannot become a proposal; the message is the model's feedback."""


@dataclass
class Attempt:
    """One reply and what became of it."""

    id: str
    number: int
    reply: str
    parent: str | None = None
    #: Which of the candidates side by side wrote it (1 when there is one).
    candidate: int = 1
    patch: str | None = None
    error: str | None = None  # why the reply or its proposal was refused
    verdict: Verdict | None = None
    #: For a reproduction: the new tests that fail as they should.
    tests: list[str] = field(default_factory=list)
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    #: Passed the task's criterion: VERIFIED; in no-regressions mode, nothing broke; for a
    #: reproduction, its test fails on the unpatched code.
    accepted: bool = False

    def explanation(self) -> str:
        """The model's words before its first edit block."""
        return self.reply.split("<<<<<<< SEARCH")[0].rsplit("\n", 2)[0].strip()

    def score(self) -> tuple[int, int, int]:
        """How close an attempt came: accepted first, then targets fixed, then fewer broken;
        an unusable edit is last."""
        if self.verdict is None:
            return (int(self.accepted), -1, 0)
        fixed = sum(1 for t in self.verdict.targets if t.after in PASSING)
        return (int(self.accepted), fixed, -len(self.verdict.broken))


@dataclass
class Outcome:
    """A task's attempts, why they stopped, and every conversation they were part of."""

    task: str = "fix"
    attempts: list[Attempt] = field(default_factory=list)
    stopped: str = ""
    detail: str = ""
    #: The conversation of the attempts, every prompt and reply, for the run record.
    messages: Messages = field(default_factory=list)
    #: The exploration commands the model ran, in order.
    steps: list[Step] = field(default_factory=list)
    #: With several candidates: each one's conversation (``messages`` holds the first's).
    conversations: list[Messages] = field(default_factory=list)
    #: The accepted attempt the selection kept (consensus, a judge); None: the first one.
    chosen: Attempt | None = None
    #: The vote among accepted patches (each distinct fix, its count, its attempts), and
    #: the judge's reason when it chose.
    votes: list[dict[str, Any]] = field(default_factory=list)
    judged: str = ""
    #: Tree search: each node's score (process reward), by attempt id.
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def accepted(self) -> Attempt | None:
        """The attempt the run keeps: the one selection chose, else the first accepted."""
        if self.chosen is not None:
            return self.chosen
        return next((a for a in self.attempts if a.accepted), None)

    def attempts_of(self, candidate: int) -> list[Attempt]:
        return [a for a in self.attempts if a.candidate == candidate]

    def best(self) -> Attempt | None:
        """The accepted attempt, else the judged one whose patch came closest, else the
        last attempt."""
        if self.accepted:
            return self.accepted
        judged = [a for a in self.attempts if a.patch]
        return max(judged, key=Attempt.score) if judged else (self.attempts[-1:] or [None])[0]


class Task(Protocol):
    """One kind of work for the engine: what to ask, what to accept, what to say back."""

    name: str
    #: The word ``Outcome.stopped`` takes when an attempt is accepted.
    solved: str

    def opening(self) -> Messages:
        """The conversation's first messages: the system prompt and the first request."""
        ...

    def propose(self, reply: str) -> str:
        """The patch a reply proposes; raises ``Refused`` with the model's feedback."""
        ...

    def judge(self, attempt: Attempt) -> None:
        """Judge ``attempt.patch``: set ``verdict`` or ``error``, ``tests``, ``accepted``."""
        ...

    def feedback(self, attempt: Attempt) -> str:
        """What went wrong with ``attempt``, in words the model can act on."""
        ...


class Strategy(Protocol):
    """Decides which conversation the next attempt continues; stops by raising ``Stop``
    (the engine's limits raise it too)."""

    def search(self, engine: Engine) -> None: ...


class Engine:
    """Runs attempts of one task under limits, publishing what happens."""

    def __init__(
        self,
        task: Task,
        model: ChatModel,
        limits: Limits,
        events: Events,
        outcome: Outcome | None = None,
        workspace: Workspace | Sequence[Workspace] | None = None,
    ) -> None:
        self.task = task
        self.model = model
        self.limits = limits
        self.events = events
        #: Where exploration commands run: candidate i uses the i-th (cycling), so what one
        #: candidate changes in its scratch copy is never what another reads. Empty: the
        #: model may not run any.
        self.workspaces: list[Workspace] = (
            list(workspace) if isinstance(workspace, Sequence) else [workspace] if workspace else []
        )
        self._lock = threading.RLock()  # attempt numbers, the outcome, event order
        self._cancelled = ""
        self.outcome = outcome if outcome is not None else Outcome(task.name)
        self.outcome.task = task.name
        self._numbered = len(self.outcome.attempts)
        self.started = time.monotonic()

    def cancel(self, why: str) -> None:
        """Make no more attempts (those under way finish): a strategy has what it needs."""
        self._cancelled = why

    @property
    def cancelled(self) -> str:
        """Why the strategy cancelled the attempts not yet started ("" if it did not)."""
        return self._cancelled

    def publish(self, event: Event) -> None:
        """Events from candidates in threads reach subscribers one at a time."""
        with self._lock:
            self.events(event)

    def run(self, strategy: Strategy) -> Outcome:
        """Search until a ``Stop``; the outcome says why. Attempts are in ``outcome`` as
        they happen, so a caller holding it keeps them when an error ends the run."""
        try:
            strategy.search(self)
            raise AttemptLimit()
        except Stop as stop:
            self.outcome.stopped = self.task.solved if isinstance(stop, Solved) else stop.reason
            self.outcome.detail = str(stop)
        self.publish(Stopped(self.task.name, self.outcome.stopped, self.outcome.detail))
        return self.outcome

    def attempt(
        self,
        conversation: Messages,
        parent: Attempt | None = None,
        sampling: dict[str, float | int] | None = None,
        candidate: int = 1,
    ) -> Attempt:
        """One attempt continuing ``conversation``: ask (running the commands the model asks
        for first, when it may explore), propose, judge. The replies and the feedback are
        appended to ``conversation``; raises ``Solved`` once it is accepted, and a limit's
        ``Stop`` before asking when one is reached. ``sampling`` (temperature, seed) goes
        to the model; strategies call this from several threads at once."""
        with self._lock:
            if self._cancelled:
                raise Cancelled(self._cancelled)
            number = self._numbered + 1
            if number > self.limits.max_attempts:
                raise AttemptLimit()
            self._numbered = number
        self._check_time()
        budget = self.model.budget
        attempt_id = f"{self.task.name[0]}{number}"
        self.publish(
            AttemptStarted(
                self.task.name,
                attempt_id,
                parent.id if parent else None,
                number,
                self.limits.max_attempts,
                budget.spent,
                budget.prompt_tokens + budget.completion_tokens,
                candidate,
            )
        )
        started = time.monotonic()
        options = sampling or {}
        reply, refusal = self._explore(
            conversation, self._ask(conversation, options), parent, options, candidate
        )
        attempt = Attempt(
            attempt_id,
            number,
            reply.text,
            parent=parent.id if parent else None,
            candidate=candidate,
            cost=reply.cost,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
        )
        with self._lock:
            self.outcome.attempts.append(attempt)
        conversation.append({"role": "assistant", "content": trim(reply.text, REPLY_KEPT_CHARS)})
        if refusal:
            attempt.error = refusal
            self.publish(ProposalRefused(self.task.name, attempt.id, number, refusal))
        else:
            self._propose_and_judge(attempt)
        attempt.seconds = time.monotonic() - started
        if attempt.accepted:
            raise Solved()
        conversation.append({"role": "user", "content": self.task.feedback(attempt)})
        return attempt

    def _check_time(self) -> None:
        if time.monotonic() - self.started > self.limits.timeout_s:
            raise TimeLimit()

    def _ask(self, conversation: Messages, sampling: dict[str, float | int]) -> Completion:
        """One model call, charged to the budget; a budget that cannot cover it stops."""
        budget = self.model.budget
        try:
            reply = self.model.complete(conversation, **sampling)
        except BudgetExhausted as exc:
            raise CostLimit(str(exc)) from exc
        self.publish(
            Spend(budget.spent, budget.prompt_tokens + budget.completion_tokens, budget.calls)
        )
        return reply

    def _explore(
        self,
        conversation: Messages,
        reply: Completion,
        parent: Attempt | None,
        sampling: dict[str, float | int],
        candidate: int,
    ) -> tuple[Completion, str | None]:
        """Run the commands the model asks for, one per reply, until it sends something
        else; returns that reply, and why it is refused when it asks for one command too
        many (or several at once)."""
        if not self.workspaces:
            return reply, None
        workspace = self.workspaces[(candidate - 1) % len(self.workspaces)]
        while True:
            try:
                command = command_in(reply.text)
            except NotACommand as exc:
                return reply, str(exc)
            if command is None:
                return reply, None
            with self._lock:
                used = len(self.outcome.steps)
            if used >= self.limits.max_steps:
                return reply, (
                    f"all {self.limits.max_steps} commands are used: send the search/replace "
                    "blocks now"
                )
            result = workspace.run(command)
            step = Step(
                f"{self.task.name[0]}s{len(self.outcome.steps) + 1}",
                parent.id if parent else None,
                command,
                result.observation(),
                result.exit_code,
                result.timed_out,
                round(result.seconds, 2),
                reply.cost,
            )
            with self._lock:
                self.outcome.steps.append(step)
            self.publish(
                Explored(
                    self.task.name,
                    step.id,
                    len(self.outcome.steps),
                    command,
                    result.exit_code,
                    result.timed_out,
                    result.seconds,
                )
            )
            conversation.append(
                {"role": "assistant", "content": trim(reply.text, REPLY_KEPT_CHARS)}
            )
            conversation.append({"role": "user", "content": step.output})
            self._check_time()
            reply = self._ask(conversation, sampling)
        return reply, None

    def _propose_and_judge(self, attempt: Attempt) -> None:
        name = self.task.name
        try:
            attempt.patch = self.task.propose(attempt.reply)
        except Refused as exc:
            attempt.error = str(exc)
        else:
            self.publish(Checking(name, attempt.id, attempt.number))
            self.task.judge(attempt)
        if attempt.verdict is not None:
            verdict = attempt.verdict
            self.publish(
                Judged(
                    name,
                    attempt.id,
                    attempt.number,
                    attempt.accepted,
                    verdict.status.label,
                    sum(1 for t in verdict.targets if t.after in PASSING),
                    len(verdict.targets),
                    len(verdict.broken),
                    verdict.reason,
                )
            )
        elif attempt.accepted:
            self.publish(
                Judged(
                    name,
                    attempt.id,
                    attempt.number,
                    True,
                    "REPRODUCED",
                    len(attempt.tests),
                    len(attempt.tests),
                    0,
                    ", ".join(attempt.tests),
                )
            )
        else:
            self.publish(ProposalRefused(name, attempt.id, attempt.number, attempt.error or ""))


class Linear:
    """Today's strategy: one conversation, each attempt continuing the last with its
    feedback, until one is accepted or a limit stops it."""

    def __init__(self, conversation: Messages) -> None:
        self.conversation = conversation

    def search(self, engine: Engine) -> None:
        parent: Attempt | None = None
        while True:
            parent = engine.attempt(self.conversation, parent)


def solve(
    task: Task,
    model: ChatModel,
    limits: Limits,
    events: Events,
    outcome: Outcome | None = None,
    strategy: Strategy | None = None,
    workspace: Workspace | Sequence[Workspace] | None = None,
) -> Outcome:
    """Run ``task`` with ``strategy`` (default: one linear conversation, recorded in
    ``outcome.messages``); with a ``workspace`` (one per candidate, or one for all), the
    model may run commands there first."""
    engine = Engine(task, model, limits, events, outcome, workspace)
    if strategy is None:
        engine.outcome.messages.extend(task.opening())
        strategy = Linear(engine.outcome.messages)
    return engine.run(strategy)
