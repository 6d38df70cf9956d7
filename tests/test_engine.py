"""The attempt engine with fakes: a scripted model and an in-memory verifier judged by the
real verdict rules. No Docker engine, no model server; each test takes milliseconds."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import MemoryVerifier, ScriptedChat
from verifix.agent import events as ev
from verifix.agent.budget import Budget
from verifix.agent.engine import Attempt, Engine, Limits, Outcome, solve
from verifix.agent.issue import Issue
from verifix.agent.repair import RepairTask
from verifix.agent.reproduce import ReproductionTask

ISSUE = Issue("add() subtracts", "calc.add(2, 3) returns -1")


def block(path: str, search: str, replace: str, why: str = "") -> str:
    """A reply in the format the repair prompt teaches."""
    return f"{why}\n\n{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


WRONG = block("calc.py", "    return a - b\n", "    return b - a\n", "Swap it.")
RIGHT = block("calc.py", "    return a - b\n", "    return a + b\n", "Add them.")
PROSE = "I think the bug is in calc.py but I will not say how."


def always(_patch: str) -> bool:
    return True


def fixed(patch: str) -> bool:
    return "+    return a + b" in patch


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    return tmp_path


@pytest.fixture
def verifier(repo: Path) -> MemoryVerifier:
    return MemoryVerifier(
        repo, {"tests/test_calc.py::test_add": fixed, "tests/test_x.py::ok": always}
    )


ROOMY = Limits(5, 60)


def repair(verifier, replies, limits=ROOMY, budget=None, **options):
    seen: list[ev.Event] = []
    model = ScriptedChat(list(replies), budget=budget or Budget(1.0))
    task = RepairTask(ISSUE, verifier, model.context_budget(), **options)
    return solve(task, model, limits, seen.append), seen, model


def test_a_linear_run_continues_one_conversation_until_a_patch_is_verified(verifier):
    outcome, _, _ = repair(verifier, [PROSE, WRONG, RIGHT])

    assert outcome.stopped == "verified"
    assert [(a.id, a.parent) for a in outcome.attempts] == [
        ("f1", None),
        ("f2", "f1"),
        ("f3", "f2"),
    ]
    assert outcome.accepted is outcome.attempts[2]


def test_each_attempt_hears_why_the_last_one_failed(verifier):
    _, _, model = repair(verifier, [PROSE, WRONG, RIGHT])

    second, third = model.seen[1][-1]["content"], model.seen[2][-1]["content"]
    assert second.startswith("Your edit could not be applied")
    assert "tests/test_calc.py::test_add" in third and "return b - a" in third


def test_the_attempt_limit_stops_the_run_before_another_model_call(verifier):
    outcome, seen, model = repair(verifier, [WRONG, WRONG, RIGHT], limits=Limits(2, 60))

    assert outcome.stopped == "max attempts"
    assert model.budget.calls == 2
    assert seen[-1] == ev.Stopped("fix", "max attempts", "")


def test_the_cost_limit_stops_the_run_cleanly(verifier):
    outcome, seen, model = repair(verifier, [WRONG, WRONG, RIGHT], budget=Budget(0.025))

    assert outcome.stopped == "cost limit"
    assert len(outcome.attempts) == 2 and model.budget.spent <= 0.025
    assert isinstance(seen[-1], ev.Stopped) and "--max-cost" in seen[-1].detail


def test_the_time_limit_stops_the_run_before_asking(verifier):
    outcome, _, model = repair(verifier, [RIGHT], limits=Limits(5, -1))

    assert outcome.stopped == "timeout"
    assert model.budget.calls == 0 and outcome.attempts == []


def test_events_tell_the_story_in_order(verifier):
    _, seen, _ = repair(verifier, [PROSE, RIGHT])

    kinds = [type(e).__name__ for e in seen]
    assert kinds == [
        "AttemptStarted",
        "Spend",
        "ProposalRefused",
        "AttemptStarted",
        "Spend",
        "Checking",
        "Judged",
        "Stopped",
    ]
    judged = next(e for e in seen if isinstance(e, ev.Judged))
    assert (judged.status, judged.passing, judged.targets, judged.broken) == ("VERIFIED", 1, 1, 0)
    refused = next(e for e in seen if isinstance(e, ev.ProposalRefused))
    assert "no search/replace blocks" in refused.reason


def test_a_patch_that_breaks_a_passing_test_is_not_accepted(repo):
    breaks = {"tests/test_calc.py::test_add": fixed, "tests/test_x.py::ok": lambda p: not p}
    outcome, _, _ = repair(MemoryVerifier(repo, breaks), [RIGHT], limits=Limits(1, 60))

    (attempt,) = outcome.attempts
    assert not attempt.accepted and attempt.verdict and attempt.verdict.broken


def test_without_targets_a_patch_that_breaks_nothing_is_accepted(repo):
    green = MemoryVerifier(repo, {"tests/test_x.py::ok": always})
    outcome, _, _ = repair(green, [RIGHT], require_targets=False)

    assert outcome.stopped == "verified" and not outcome.accepted.verdict.targets


def test_an_edit_to_a_test_file_is_refused_without_reaching_the_verifier(verifier):
    edit_test = RIGHT.replace("calc.py\n", "tests/test_calc.py\n", 1)
    outcome, _, _ = repair(verifier, [edit_test], limits=Limits(1, 60))

    assert "test files are refused" in (outcome.attempts[0].error or "")
    assert verifier.checked == []


REPRO = "tests/test_verifix_repro.py"
REPRO_PASSES = block(REPRO, "", "def test_add():\n    assert True\n")
REPRO_FAILS = block(REPRO, "", "def test_add():\n    assert add(2, 3) == 5\n")


def reproduction_verifier(repo: Path) -> MemoryVerifier:
    def new_test(patch: str) -> bool | None:
        if "test_verifix_repro.py" not in patch:
            return None  # the file does not exist yet: the test does not run
        return "assert True" in patch

    return MemoryVerifier(
        repo, {"tests/test_x.py::ok": always, "tests/test_verifix_repro.py::test_add": new_test}
    )


def test_a_reproduction_is_kept_only_when_its_test_fails_on_the_unpatched_code(repo):
    model = ScriptedChat([REPRO_PASSES, REPRO_FAILS])
    task = ReproductionTask(ISSUE, reproduction_verifier(repo), 2000)

    outcome = solve(task, model, Limits(5, 60), ev.ignore)

    assert outcome.stopped == "reproduced"
    first, second = outcome.attempts
    assert "passes on the current code" in (first.error or "")
    assert second.accepted and second.tests == ["tests/test_verifix_repro.py::test_add"]


def test_a_reproduction_may_not_touch_source_files(repo):
    model = ScriptedChat([RIGHT])
    task = ReproductionTask(ISSUE, reproduction_verifier(repo), 2000)

    outcome = solve(task, model, Limits(1, 60), ev.ignore)

    assert "only test files may be written now" in (outcome.attempts[0].error or "")


class SideBySide:
    """A strategy written against ``Engine.attempt`` alone: two fresh conversations from
    the same opening, then the better one continued. It proves a search strategy plugs in
    without touching the engine."""

    def __init__(self, opening):
        self.opening = opening

    def search(self, engine: Engine) -> None:
        tries = []
        for _ in range(2):
            conversation = [dict(m) for m in self.opening]
            tries.append((engine.attempt(conversation), conversation))
        best, conversation = max(tries, key=lambda t: Attempt.score(t[0]))
        engine.attempt(conversation, best)


def test_a_strategy_is_a_pluggable_part(verifier):
    model = ScriptedChat([PROSE, WRONG, RIGHT])
    task = RepairTask(ISSUE, verifier, 2000)

    outcome = solve(task, model, Limits(5, 60), ev.ignore, Outcome(), SideBySide(task.opening()))

    assert outcome.stopped == "verified"
    assert [(a.id, a.parent) for a in outcome.attempts] == [
        ("f1", None),
        ("f2", None),
        ("f3", "f2"),
    ]
