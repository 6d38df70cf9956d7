"""The seams of the engine: what it needs of a model, of a verifier and of a localizer.

Each is a ``Protocol``, so any object with these methods plugs in: ``model.Model`` (litellm)
and ``sandbox.verify.VerifySession`` (a Docker container) are the real ones; the unit tests
drive the engine with a scripted model and an in-memory verifier, in milliseconds; remote
executors or a stronger localizer are other implementations, not rewrites.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from verifix.sandbox.testrun import CheckRun, TestReport
from verifix.sandbox.verdict import Verdict

from .budget import Budget


class Completion(Protocol):
    """One reply from a model, with what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cost: float


class ChatModel(Protocol):
    """A chat model charged to a budget. ``complete`` raises ``BudgetExhausted`` when the
    next request could break the budget, and a ``VerifixError`` when the provider fails."""

    budget: Budget

    def preflight(self) -> None:
        """Fail fast, before any container starts, when the model cannot be used (no key,
        no server): a ``VerifixError`` saying what to do."""
        ...

    def complete(self, messages: list[dict[str, str]], **sampling: float | int) -> Completion:
        """One reply; ``sampling`` (``temperature``, ``seed``) varies candidates, and a
        provider that has no such parameter ignores it."""
        ...

    def context_budget(self) -> int:
        """Tokens of repository context the first prompt may hold."""
        ...

    def worst_case(self, messages: list[dict[str, str]]) -> float:
        """The most one request with ``messages`` may cost: what it reserves of the budget
        (a strategy asks before starting a conversation it cannot afford)."""
        ...


class Verifier(Protocol):
    """Judges patches against the base tree's tests: one baseline run, then one check per
    patch, each from a clean copy of the base tree."""

    baseline: TestReport | None

    @property
    def root(self) -> Path:
        """The base tree's files on this machine (edits are matched against them)."""
        ...

    @property
    def targets_named(self) -> list[str] | None:
        """The target tests the user named, or None: the tests failing at baseline."""
        ...

    def run_baseline(self) -> TestReport: ...

    def check(self, patch: str | None) -> Verdict:
        """The verdict on ``patch`` against the baseline (targets fixed, nothing broken)."""
        ...

    def run(self, patch: str | None) -> CheckRun:
        """The raw test run with ``patch`` applied, unjudged (a reproduction test is judged
        by its own rules)."""
        ...


class Localizer(Protocol):
    """Ranks a repository's files for an issue, most relevant first."""

    def rank(self, root: Path, files: list[str], issue_text: str, failures: list[str]) -> list[str]:
        """Paths from ``files`` worth showing in full; ``failures`` are the failing tests'
        messages (tracebacks name files too)."""
        ...
