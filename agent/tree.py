"""``--strategy tree``: best-first search over attempts, guided by a process reward.

Every attempt is a node: its conversation up to and including the feedback on it. The
search starts ``width`` fresh conversations from the opening, then repeatedly expands the
node with the best score: it continues that node's conversation (the model reads that
node's feedback) into a child. A node's score is the sandbox's process reward (``reward``)
plus, with a judge, the judge's estimate; each node is expanded at most ``branching``
times, so one promising node cannot absorb the whole budget; when every node is spent,
a fresh conversation starts from the opening.

The search ends at an accepted patch, or, with ``stop_at``, once that many accepted
patches are the same fix (``consensus``): an accepted node is not expanded, the search
goes on with the others, and the vote then chooses among what was accepted. The attempt
limit (nodes in all), the cost limit and the timeout end it too; a search that accepted
something before a limit ended it is solved.
"""

from __future__ import annotations

import copy
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from verifix.sandbox.testrun import PASSING

from .consensus import Agreement
from .engine import Attempt, Engine, Messages, Solved, Stop

#: What one broken test, a run with errors and an unusable edit cost in the reward, where
#: turning every target green earns 1.
BROKEN_PENALTY = 0.25
ERROR_PENALTY = 0.5
UNUSABLE = -1.0


def reward(attempt: Attempt) -> float:
    """The sandbox's process reward: the fraction of target tests passing, minus broken
    tests and errors; an edit that never reached the tests scores lowest."""
    verdict = attempt.verdict
    if verdict is None:
        return UNUSABLE
    targets = len(verdict.targets)
    passing = sum(1 for t in verdict.targets if t.after in PASSING)
    score = passing / targets if targets else 0.0
    score -= BROKEN_PENALTY * len(verdict.broken)
    score -= ERROR_PENALTY if verdict.errors else 0.0
    return score


@dataclass(order=True)
class _Node:
    priority: float
    order: int
    attempt: Attempt = field(compare=False)
    conversation: Messages = field(compare=False)
    expanded: int = field(default=0, compare=False)


class Tree:
    """Best-first search from ``opening``; ``estimate`` (a judge's, in [0, 1]) is added to
    the reward when given."""

    def __init__(
        self,
        opening: Messages,
        width: int = 2,
        branching: int = 2,
        estimate: Callable[[Attempt], float] | None = None,
        stop_at: int | None = None,
        same_fix: Callable[[Attempt], str] | None = None,
    ) -> None:
        self.opening = opening
        self.width = width
        self.branching = branching
        self.estimate = estimate
        self.stop_at = stop_at
        self.agreement = Agreement(stop_at, same_fix)
        #: Every node's score, by attempt id, for the record and ``verifix show``.
        self.scores: dict[str, float] = {}
        self._order = itertools.count()

    def score(self, attempt: Attempt) -> float:
        value = reward(attempt)
        if self.estimate is not None and attempt.verdict is not None:
            value += self.estimate(attempt)
        self.scores[attempt.id] = round(value, 4)
        return value

    def search(self, engine: Engine) -> None:
        try:
            self._search(engine)
        except Solved:
            raise
        except Stop as stop:
            accepted = self.agreement.count
            if accepted:  # a limit ended a search that already has a fix
                raise Solved(f"{stop.reason} after {accepted} accepted") from None
            raise

    def _search(self, engine: Engine) -> None:
        frontier: list[_Node] = []
        for _ in range(self.width):
            self._grow(engine, frontier, copy.deepcopy(self.opening), None)
        while True:
            if not frontier:  # every node spent: a fresh conversation
                self._grow(engine, frontier, copy.deepcopy(self.opening), None)
                continue
            best = frontier[0]
            best.expanded += 1
            if best.expanded >= self.branching:
                heapq.heappop(frontier)
            self._grow(engine, frontier, copy.deepcopy(best.conversation), best.attempt)

    def _grow(
        self, engine: Engine, frontier: list[_Node], conversation: Messages, parent: Attempt | None
    ) -> None:
        """One child of ``parent`` (a root when None); it joins the frontier with its
        score. An accepted child ends the search, or with ``stop_at`` counts one vote."""
        try:
            child = engine.attempt(conversation, parent)
        except Solved:
            accepted = engine.outcome.attempts[-1]
            self.score(accepted)
            if not self.agreement.counting:
                raise
            if self.agreement.add(accepted):
                raise Solved(f"{self.stop_at} accepted patches agree") from None
            return
        node = _Node(-self.score(child), next(self._order), child, conversation)
        heapq.heappush(frontier, node)
