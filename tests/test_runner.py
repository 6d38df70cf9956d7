"""The use case (``agent.runner.run``) end to end with fakes: a real git repository in a
temporary folder, a scripted model, and an in-memory sandbox judged by the real verdict
rules. The same paths with Docker and the model server are proven in test_fix.py."""

from __future__ import annotations

import json

import pytest
from fakes import MemorySandbox, ScriptedChat
from test_engine import REPRO_FAILS, RIGHT, WRONG, always, block, fixed
from verifix.agent import events as ev
from verifix.agent.engine import Limits
from verifix.agent.issue import Issue
from verifix.agent.model import ModelError
from verifix.agent.runner import Request, run
from verifix.sandbox.errors import UsageError
from verifix.sandbox.verify import Checks

ISSUE = Issue("add() subtracts", "calc.add(2, 3) returns -1")
ADD = "tests/test_calc.py::test_add"
OK = "tests/test_calc.py::test_double"
REPRO_ID = "tests/test_verifix_repro.py::test_add"


def new_test(patch: str) -> bool | None:
    """The reproduction test: absent until written; fails until add() adds."""
    return None if "test_verifix_repro.py" not in patch else fixed(patch)


class Made:
    """A model factory that records whether the run ever asked for the model."""

    def __init__(self, model: ScriptedChat) -> None:
        self.model, self.calls = model, 0

    def __call__(self) -> ScriptedChat:
        self.calls += 1
        return self.model


def request(repo, replies, tests, issue=ISSUE, **options) -> tuple[Request, MemorySandbox]:
    sandbox = MemorySandbox(tests)
    made = Made(ScriptedChat(list(replies))) if replies is not None else None
    return Request(repo, issue, made, Limits(5, 60), sandbox=sandbox, **options), sandbox


def test_a_failing_test_is_fixed_and_the_record_matches_the_run(make_repo):
    repo = make_repo()
    req, _ = request(repo, [WRONG, RIGHT], {ADD: fixed, OK: always})

    result = run(req, ev.ignore)

    assert result.status() == ("VERIFIED", result.winner.verdict.reason)
    assert result.failing == [ADD] and result.winner.number == 2
    saved = json.loads(result.record.read_text())
    assert saved["outcome"]["patch"] == result.patch == result.summary()["patch"]
    assert saved["outcome"]["stopped"] == "verified"
    assert [a["id"] for a in saved["attempts"]] == ["f1", "f2"]


def test_a_green_repo_gets_a_reproduction_test_first_and_hands_over_both(make_repo):
    repo = make_repo()
    tests = {OK: always, REPRO_ID: new_test}
    req, sandbox = request(repo, [REPRO_FAILS, RIGHT], tests)

    result = run(req, ev.ignore)

    assert result.status()[0] == "VERIFIED"
    assert result.patch.startswith(result.test_patch) and result.test_patch
    assert "+    return a + b" in result.patch
    # The fix was judged with the kept test in the base tree, that test its target.
    assert sandbox.sessions[-1].base == result.test_patch
    assert sandbox.sessions[-1].targets_named == [REPRO_ID]
    saved = json.loads(result.record.read_text())
    assert saved["reproduction"]["test_ids"] == [REPRO_ID]
    assert saved["outcome"]["patch"] == result.patch
    # Where the time went, phase by phase, in the record and --json alike.
    assert list(saved["phases"]) == ["environment", "baseline", "reproduction", "repair"]
    assert saved["phases"] == result.summary()["phases"]
    assert all(seconds >= 0 for seconds in saved["phases"].values())


def test_a_green_repo_without_reproduction_accepts_no_regressions_only(make_repo):
    repo = make_repo()
    req, _ = request(repo, [RIGHT], {OK: always}, reproduce_first=False)

    result = run(req, ev.ignore)

    assert result.status()[0] == "NO_REGRESSIONS"
    assert result.reproduction is None


def test_with_no_issue_a_green_tree_never_makes_a_model(make_repo):
    repo = make_repo()
    req, _ = request(repo, [RIGHT], {OK: always}, issue=None)

    result = run(req, ev.ignore)

    assert result.ended == "green" and req.model.calls == 0
    assert result.record is None


def test_with_no_issue_the_failing_tests_become_the_issue(make_repo):
    repo = make_repo()
    req, _ = request(repo, [RIGHT], {ADD: fixed, OK: always}, issue=None)

    result = run(req, ev.ignore, label="abc123")

    assert result.issue.title == "Tests fail on abc123"
    assert ADD in result.issue.body and result.status()[0] == "VERIFIED"


def test_with_no_model_the_run_stops_after_the_baseline(make_repo):
    repo = make_repo()
    req, _ = request(repo, None, {ADD: fixed}, issue=None)

    result = run(req, ev.ignore)

    assert (result.ended, result.failing, result.fix) == ("no model", [ADD], None)


def test_a_named_target_that_already_passes_is_a_usage_error(make_repo):
    repo = make_repo()
    req, _ = request(repo, [RIGHT], {ADD: fixed, OK: always}, checks=Checks(targets=[OK]))

    with pytest.raises(UsageError, match="already passes on the base tree"):
        run(req, ev.ignore)


class FailingChat(ScriptedChat):
    """Answers once, then the provider refuses."""

    def complete(self, messages):
        if self.budget.calls:
            raise ModelError("model scripted refused the API key")
        return super().complete(messages)


def test_a_provider_error_still_writes_the_record_of_what_was_spent(make_repo):
    repo = make_repo()
    req, _ = request(repo, None, {ADD: fixed, OK: always})
    req.model = lambda: FailingChat([WRONG])
    seen: list[ev.Event] = []

    with pytest.raises(ModelError):
        run(req, seen.append)

    (path,) = (repo / ".verifix" / "runs").glob("*.json")
    saved = json.loads(path.read_text())
    assert saved["outcome"]["stopped"].startswith("error: model scripted refused")
    assert saved["outcome"]["cost"] > 0 and len(saved["attempts"]) == 1
    assert ev.Step("best attempt: #1: " + saved["attempts"][0]["verdict"]["reason"]) in seen


def test_the_users_worktree_is_untouched(make_repo):
    repo = make_repo()
    (repo / "calc.py").write_text((repo / "calc.py").read_text() + "# my work\n")
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    req, _ = request(
        repo, [block("calc.py", "    return a - b\n", "    return a + b\n")], {ADD: fixed}
    )

    run(req, ev.ignore)

    after = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert {p: b for p, b in after.items() if ".verifix" not in p.parts} == before


def test_with_always_reproduce_a_failing_tree_still_gets_its_own_test_first(make_repo):
    repo = make_repo()
    unrelated = "tests/test_calc.py::test_broken_for_another_reason"
    tests = {unrelated: lambda p: False, OK: always, REPRO_ID: new_test}
    req, sandbox = request(repo, [REPRO_FAILS, RIGHT], tests, always_reproduce=True)

    result = run(req, ev.ignore)

    assert result.failing == [unrelated]
    assert result.status()[0] == "VERIFIED"  # the unrelated failure is no target
    assert sandbox.sessions[-1].targets_named == [REPRO_ID]
