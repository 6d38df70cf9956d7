"""``--candidates N``: N independent conversations at once, each checked by the tests.

Model calls are I/O-bound, so each candidate runs in a thread; each judges its patches in
its own container (the verifier pool of ``runner``), all sharing one environment and one
baseline run. Candidates differ by sampling: the first at the provider's default, the
others at rising temperatures, each with its own seed (dropped by providers without one).
The budget is one locked ``Budget`` for all of them: a candidate whose next call it cannot
cover stops, the others go on. With ``stop_at``, the search ends once that many accepted
patches are the same fix (``consensus``); calls already in flight finish and are charged.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable

from .consensus import Agreement
from .engine import (
    Attempt,
    AttemptLimit,
    CostLimit,
    Engine,
    Messages,
    Solved,
    Stop,
    TimeLimit,
)

#: The sampling of candidate i (i >= 1; candidate 0 keeps the provider's default).
TEMPERATURES = (0.7, 1.0, 0.4, 0.85, 1.1, 0.55)


def sampling(index: int) -> dict[str, float | int]:
    """How candidate ``index`` samples: varied, so candidates do not all say the same."""
    if index == 0:
        return {"seed": 0}
    return {"temperature": TEMPERATURES[(index - 1) % len(TEMPERATURES)], "seed": index}


class Parallel:
    """``n`` candidates side by side, each with at most ``per_candidate`` attempts."""

    def __init__(
        self,
        opening: Messages,
        n: int,
        per_candidate: int,
        stop_at: int | None = None,
        same_fix: Callable[[Attempt], str] | None = None,
    ) -> None:
        self.opening = opening
        self.n = n
        self.per_candidate = per_candidate
        self.stop_at = stop_at
        self.agreement = Agreement(stop_at, same_fix)
        #: Each candidate's conversation and why it ended, for the record.
        self.conversations: list[Messages] = [copy.deepcopy(opening) for _ in range(n)]
        self.ended: list[str] = [""] * n
        self._failed: Exception | None = None

    def search(self, engine: Engine) -> None:
        # Daemon threads joined with a timeout: Ctrl-C reaches the main thread at once and
        # ends the run (cleanup removes the containers) instead of waiting for replies.
        threads = [
            threading.Thread(
                target=self._candidate,
                args=(engine, i),
                name=f"verifix-candidate-{i + 1}",
                daemon=True,
            )
            for i in range(self.n)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except BaseException:
            engine.cancel("interrupted")
            raise
        if self._failed is not None:
            raise self._failed
        if any(a.accepted for a in engine.outcome.attempts):
            if engine.cancelled:
                unmade = self.n * self.per_candidate - len(engine.outcome.attempts)
                raise Solved(f"{engine.cancelled}: {unmade} attempts not made")
            raise Solved()
        if all(reason == CostLimit.reason for reason in self.ended):
            raise CostLimit("no candidate could afford another call")
        if TimeLimit.reason in self.ended:
            raise TimeLimit()
        raise AttemptLimit()

    def _candidate(self, engine: Engine, index: int) -> None:
        conversation, parent = self.conversations[index], None
        options = sampling(index)
        try:
            for _ in range(self.per_candidate):
                parent = engine.attempt(conversation, parent, options, candidate=index + 1)
            self.ended[index] = AttemptLimit.reason
        except Solved:
            self.ended[index] = "accepted"
            self._count(engine, engine.outcome.attempts_of(index + 1)[-1])
        except Stop as stop:
            self.ended[index] = stop.reason
        except Exception as exc:  # a provider or sandbox failure ends the whole run
            self.ended[index] = "error"
            self._failed = self._failed or exc
            engine.cancel(f"candidate {index + 1} failed")

    def _count(self, engine: Engine, accepted: Attempt) -> None:
        """One more vote for ``accepted``'s fix; enough of them stop every candidate."""
        if self.agreement.add(accepted):
            engine.cancel(f"{self.stop_at} candidates agree")
