"""The cost limit: every request reserves its worst case first, and is charged after it.

``--max-cost`` is a promise, so it must hold whatever the provider does. A request is sent
only when the worst it can cost (its counted prompt with a margin for another tokenizer,
plus ``max_tokens`` of reply) fits in what is neither spent nor reserved by a request still
in flight; that makes the limit hold under concurrency too. What a request is then charged
never exceeds its reservation, so the reported usage cannot push spend past the limit: a
reply with no usage, zeros, a negative or an absurd count is charged what verifix counted,
clamped to the worst case; a request that timed out or died in transit is charged its whole
worst case, since the provider may have run (and billed) it anyway.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

#: Another model's tokenizer may count the same prompt differently: reserve twice what
#: litellm counts. Honest usage above the reservation would be clamped, so under-charged,
#: so the margin is wide (mainstream tokenizers stay well within 2x of each other on text
#: and code); only an absurd report should ever hit it.
PROMPT_MARGIN = 2.0
PROMPT_SLACK_TOKENS = 64


class BudgetExhausted(Exception):
    """The next request could cost more than is left of --max-cost; the run stops cleanly."""


def prompt_bound(counted: int) -> int:
    """The most prompt tokens a provider may charge for a prompt verifix counted."""
    return math.ceil(max(counted, 0) * PROMPT_MARGIN) + PROMPT_SLACK_TOKENS


def charged_tokens(reported: int | None, counted: int, bound: int) -> int:
    """Tokens to charge: what the provider reported, never less than verifix counted (a
    missing, zero or negative report is not free) and never more than the bound the
    request reserved (an absurd report cannot break the limit)."""
    value = reported if isinstance(reported, int) and not isinstance(reported, bool) else 0
    return min(max(value, counted, 0), bound)


@dataclass
class Budget:
    """Money for the whole run; ``spent`` never exceeds ``max_cost``."""

    max_cost: float
    spent: float = 0.0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Reported usage that was above the reservation and clamped (a provider's bug, or a lie).
    clamped: int = 0
    _reserved: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def left(self) -> float:
        """What a new request may still reserve."""
        with self._lock:
            return self.max_cost - self.spent - self._reserved

    def reserve(self, worst: float) -> None:
        """Hold ``worst`` for one request, or refuse it when it could break the limit."""
        with self._lock:
            left = self.max_cost - self.spent - self._reserved
            if worst > left:
                raise BudgetExhausted(
                    f"the next request could cost ${worst:.4f}, and ${max(left, 0):.4f} of "
                    f"--max-cost ${self.max_cost:.2f} is left"
                )
            self._reserved += worst

    def settle(
        self, worst: float, cost: float, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> float:
        """Release one reservation and charge what the request cost, at most ``worst``."""
        charged = min(max(cost, 0.0), worst)
        with self._lock:
            self._reserved = max(self._reserved - worst, 0.0)
            self.spent += charged
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
        return charged
