"""Fakes for the engine's seams (``agent.protocols``): a scripted chat model charged to a real
``Budget``, and a verifier that judges patches in memory with the real verdict rules.

They make the engine's tests run in milliseconds with no Docker engine and no model server;
the end-to-end tests prove the real ``Model`` and ``VerifySession`` against the same seams.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from verifix.agent.budget import Budget
from verifix.sandbox.container import ExecResult
from verifix.sandbox.testrun import CheckRun, TestReport, TestResult
from verifix.sandbox.verdict import Verdict, judge
from verifix.sandbox.verify import Checks


@dataclass(frozen=True)
class FakeReply:
    text: str
    prompt_tokens: int = 10
    completion_tokens: int = 5
    cost: float = 0.01


@dataclass
class ScriptedChat:
    """Replies in order; each call reserves and settles ``cost`` on the real budget, so the
    budget's refusal (``BudgetExhausted``) reaches the engine as it would from litellm. A
    reply may be a callable of (messages, sampling): candidates in threads ask in any
    order, and their sampling (the seed) says which one asks."""

    replies: list[str | Callable[[list[dict[str, str]], dict[str, float | int]], str]]
    budget: Budget = field(default_factory=lambda: Budget(1.0))
    cost: float = 0.01
    seen: list[list[dict[str, str]]] = field(default_factory=list)
    sampled: list[dict[str, float | int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def preflight(self) -> None:
        """Nothing to check: no network."""

    def context_budget(self) -> int:
        return 2000

    def worst_case(self, messages: list[dict[str, str]]) -> float:
        return self.cost

    def complete(self, messages: list[dict[str, str]], **sampling: float | int) -> FakeReply:
        self.budget.reserve(self.cost)
        with self.lock:
            self.seen.append([dict(m) for m in messages])
            self.sampled.append(dict(sampling))
        with self.lock:
            text = self.replies.pop(0) if self.replies else "I have nothing more."
        if callable(text):
            text = text(messages, sampling)
        self.budget.settle(self.cost, self.cost, 10, 5)
        return FakeReply(text, cost=self.cost)


#: A test: the patch under test ("" for the base tree) -> passed, failed, or None: not run.
Check = Callable[[str], bool | None]


class MemoryVerifier:
    """A verifier whose tests are functions of the patch text, judged by the real
    ``verdict.judge``: what the engine sees is exactly what a Docker run would give it."""

    def __init__(
        self,
        root: Path,
        tests: dict[str, Check],
        targets: list[str] | None = None,
        base: str = "",
    ):
        self._root = root
        self.tests = tests
        self._targets = targets
        #: Patches already part of the base tree (a kept reproduction test).
        self.base = base
        self.baseline: TestReport | None = None
        self.checked: list[str] = []

    @property
    def root(self) -> Path:
        return self._root

    @property
    def targets_named(self) -> list[str] | None:
        return self._targets

    def _report(self, patch: str) -> TestReport:
        results = {}
        for test_id, check in self.tests.items():
            passed = check(self.base + patch)
            if passed is not None:
                outcome = "passed" if passed else "failed"
                message = "" if passed else f"E   AssertionError in {test_id}"
                results[test_id] = TestResult(test_id, outcome, message)
        return TestReport(results, ExecResult(0, "", False, 0.0), "pytest")

    def run_baseline(self) -> TestReport:
        self.baseline = self._report("")
        return self.baseline

    def run(self, patch: str | None) -> CheckRun:
        return CheckRun(True, "", self._report(patch or ""))

    def check(self, patch: str | None) -> Verdict:
        self.checked.append(patch or "")
        baseline = self.baseline or self.run_baseline()
        patched = self._report(patch or "")
        return judge(baseline, patched, targets=self._targets, must_pass=None, confirm=patched)


class MemorySandbox:
    """``runner.Sandbox`` with ``MemoryVerifier`` sessions: the use case end to end (baseline,
    reproduction, repair, record) with no engine."""

    def __init__(self, tests: dict[str, Check]):
        self.tests = tests
        self.facts = {"image": "memory", "python": "3.11", "cached": True, "snapshot": "memory"}
        self.sessions: list[MemoryVerifier] = []
        self.workspaces: list[FakeWorkspace] = []
        #: What every workspace answers (``FakeWorkspace.answers``).
        self.answers: dict[str, str] = {}

    def __call__(self, request, snap, model, events) -> MemorySandbox:
        self.root = snap.root
        return self

    @contextmanager
    def session(self, checks: Checks) -> Iterator[MemoryVerifier]:
        verifier = MemoryVerifier(
            self.root, self.tests, checks.targets, base="".join(checks.base_patches)
        )
        self.sessions.append(verifier)
        yield verifier

    @contextmanager
    def workspace(self, base_patches: list[str], step_timeout_s: int) -> Iterator[FakeWorkspace]:
        workspace = FakeWorkspace(dict(self.answers), step_timeout_s)
        self.workspaces.append(workspace)
        yield workspace


@dataclass(frozen=True)
class FakeResult:
    command: str
    exit_code: int
    output: str
    timed_out: bool = False
    seconds: float = 0.01

    def observation(self) -> str:
        return f"$ {self.command}\n{self.output}\n[exit code {self.exit_code}]"


@dataclass
class FakeWorkspace:
    """Answers commands from a table (unknown ones: exit 127); remembers what ran."""

    answers: dict[str, str] = field(default_factory=dict)
    step_timeout_s: int = 5
    ran: list[str] = field(default_factory=list)

    def run(self, command: str) -> FakeResult:
        self.ran.append(command)
        if command in self.answers:
            return FakeResult(command, 0, self.answers[command])
        return FakeResult(command, 127, f"sh: {command.split()[0]}: not found")
