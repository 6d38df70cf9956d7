"""What ``fix``'s model flags decide beyond the model itself: whether it explores, and the
judge's model."""

from __future__ import annotations

from collections.abc import Callable

from verifix.agent import settings
from verifix.agent.model import Model

#: Models with at least this many tokens of context explore by default.
EXPLORE_FROM_TOKENS = 32_000


def explores(llm: Model, asked: bool | None) -> bool:
    """``--explore``/``--no-explore``, else whether the model's window is large enough for
    command outputs on top of the code."""
    return asked if asked is not None else llm.window() >= EXPLORE_FROM_TOKENS


def judge_for(name: str | None, llm: Model, max_cost: float) -> Callable[[], Model] | None:
    """The judge's model: the repair model ("same") or another, charged to the same
    budget (one ``Budget`` object, so --max-cost holds for both)."""
    if name is None:
        return None
    if name == "same":
        return lambda: llm
    chosen = settings.for_repo(None, settings.Flags(model=name, max_cost=max_cost))
    judge = Model(chosen.config, llm.budget, deadline=llm.deadline)
    judge.preflight()
    return lambda: judge
