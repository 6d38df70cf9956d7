"""Verifiers side by side: candidates in threads each borrow one of several sessions (one
container each, same environment) for a check, so checks run at once and never share a
container. The baseline runs once, in the first session; the others take its report."""

from __future__ import annotations

import queue
from pathlib import Path

from verifix.sandbox.testrun import CheckRun, TestReport
from verifix.sandbox.verdict import Verdict

from .protocols import Verifier


class VerifierPool:
    """A ``Verifier`` over ``sessions``: each call borrows a free one (blocking when all
    are busy) and gives it back."""

    def __init__(self, sessions: list[Verifier]) -> None:
        self.first = sessions[0]
        self._free: queue.Queue[Verifier] = queue.Queue()
        for session in sessions:
            self._free.put(session)
        baseline = self.first.baseline or self.first.run_baseline()
        for session in sessions[1:]:
            session.baseline = baseline  # one baseline run for all of them

    @property
    def baseline(self) -> TestReport | None:
        return self.first.baseline

    @baseline.setter
    def baseline(self, report: TestReport | None) -> None:
        self.first.baseline = report

    @property
    def root(self) -> Path:
        return self.first.root

    @property
    def targets_named(self) -> list[str] | None:
        return self.first.targets_named

    def run_baseline(self) -> TestReport:
        return self.first.baseline or self.first.run_baseline()

    def check(self, patch: str | None) -> Verdict:
        session = self._free.get()
        try:
            return session.check(patch)
        finally:
            self._free.put(session)

    def run(self, patch: str | None) -> CheckRun:
        session = self._free.get()
        try:
            return session.run(patch)
        finally:
            self._free.put(session)
