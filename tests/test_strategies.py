"""Strategies on the engine with fakes: candidates side by side, the vote, --stop-at, the
judge, the budget across candidates, and best-first tree search. A scripted model and
in-memory verifiers judged by the real verdict rules; no engine, milliseconds."""

from __future__ import annotations

import json
import re

from conftest import verifix
from fakes import MemorySandbox, ScriptedChat
from test_engine import RIGHT, WRONG, always, block
from verifix.agent import events as ev
from verifix.agent.budget import Budget
from verifix.agent.engine import Limits
from verifix.agent.issue import Issue
from verifix.agent.runner import Request, run

ISSUE = Issue("add() subtracts", "calc.add(2, 3) returns -1")
ADD = "tests/test_calc.py::test_add"
SAME_AS_RIGHT = block("calc.py", "    return a - b\n", "    return (a + b)  # fixed\n", "Same.")
OTHER_FIX = block("calc.py", "    return a - b\n", "    return sum((a, b))\n", "Sum them.")


def adds(patch: str) -> bool:
    return any(s in patch for s in ("+    return a + b", "+    return (a + b)", "sum((a, b))"))


def fix(make_repo, replies, *, model=None, judge=None, tests=None, **options):
    repo = make_repo()
    model = model or ScriptedChat(list(replies))
    sandbox = MemorySandbox(tests or {ADD: adds, "tests/test_calc.py::test_ok": always})
    request = Request(
        repo,
        ISSUE,
        lambda: model,
        options.pop("limits", Limits(1, 60)),
        sandbox=sandbox,
        judge=judge,
        **options,
    )
    return run(request, ev.ignore), model, sandbox


def test_three_candidates_where_one_fixes_it_are_verified_with_one_attempt_each(make_repo):
    result, model, sandbox = fix(make_repo, [WRONG, RIGHT, WRONG], candidates=3)

    assert result.status()[0] == "VERIFIED"
    assert sorted(a.candidate for a in result.fix.attempts) == [1, 2, 3]
    assert model.budget.calls == 3
    assert len(sandbox.sessions) == 3  # one container each
    assert len({json.dumps(s, sort_keys=True) for s in model.sampled}) == 3  # varied sampling


def test_the_same_fix_written_twice_outvotes_another(make_repo):
    result, _, _ = fix(make_repo, [OTHER_FIX, RIGHT, SAME_AS_RIGHT], candidates=3)

    votes = result.fix.votes
    assert [v["count"] for v in votes] == [2, 1]
    assert "sum((a, b))" not in result.patch
    saved = json.loads(result.record.read_text())
    assert saved["selection"]["votes"][0]["count"] == 2


def test_stop_at_ends_the_search_once_enough_candidates_agree(make_repo):
    replies = [RIGHT, SAME_AS_RIGHT, WRONG] + [WRONG] * 9
    result, model, _ = fix(make_repo, replies, candidates=3, stop_at=2, limits=Limits(4, 60))

    assert result.fix.stopped == "verified"
    assert "2 candidates agree" in result.fix.detail and "attempts not made" in result.fix.detail
    assert len(result.fix.attempts) < 12 and model.budget.calls == len(result.fix.attempts)


def test_the_judge_is_asked_only_when_tests_cannot_tell(make_repo):
    judge = ScriptedChat(["The second one is simpler.\n\n```choice\n2\n```\n"])
    result, _, _ = fix(make_repo, [OTHER_FIX, RIGHT], candidates=2, judge=lambda: judge)

    assert judge.budget.calls == 1
    finalists = [v["attempts"][0] for v in result.fix.votes]
    assert result.fix.chosen.id == finalists[1]
    assert result.fix.judged == "The second one is simpler."
    saved = json.loads(result.record.read_text())
    assert saved["selection"]["judge"]["reason"] == "The second one is simpler."


def test_no_judge_is_asked_when_every_candidate_wrote_the_same_fix(make_repo):
    judge = ScriptedChat(["```choice\n1\n```"])
    result, _, _ = fix(make_repo, [RIGHT, SAME_AS_RIGHT], candidates=2, judge=lambda: judge)

    assert judge.budget.calls == 0 and len(result.fix.votes) == 1


def test_the_budget_holds_across_candidates(make_repo):
    model = ScriptedChat([WRONG] * 20, budget=Budget(0.025))
    result, _, _ = fix(make_repo, [], model=model, candidates=3, limits=Limits(5, 60))

    assert model.budget.calls == 2 and model.budget.spent <= 0.025
    assert result.fix.stopped == "cost limit"


def test_each_candidate_explores_in_its_own_scratch_container(make_repo):
    def look(messages, sampling):
        if messages[-1]["content"].startswith("$ "):  # a command's output came back
            return RIGHT
        return f"Looking.\n\n```bash\necho candidate-{sampling['seed']}\n```\n"

    result, _, sandbox = fix(make_repo, [look] * 4, candidates=2, limits=Limits(1, 60, max_steps=4))

    assert result.status()[0] == "VERIFIED" and len(result.fix.steps) == 2
    first, second = sandbox.workspaces
    assert first.ran == ["echo candidate-0"] and second.ran == ["echo candidate-1"]


HALF = block("calc.py", "def add(a, b):\n", "def add(a, b):\n    if a == 2:\n        return 5\n")


def test_tree_search_continues_the_better_scored_attempt_first(make_repo):
    tests = {
        ADD: lambda p: adds(p) or "return 5" in p,
        "tests/test_calc.py::test_add_more": adds,
        "tests/test_calc.py::test_ok": always,
    }
    result, model, _ = fix(
        make_repo, [WRONG, HALF, RIGHT], strategy="tree", tests=tests, limits=Limits(5, 60)
    )

    first, second, third = result.fix.attempts
    assert result.fix.scores[first.id] < result.fix.scores[second.id]
    assert third.parent == second.id and third.accepted
    # The third request continued the half fix's conversation: its feedback is in it.
    assert "return 5" in model.seen[2][-1]["content"]


def test_tree_with_stop_at_searches_on_until_accepted_patches_agree(make_repo):
    replies = [OTHER_FIX, WRONG, RIGHT, SAME_AS_RIGHT, WRONG, WRONG]
    result, model, _ = fix(make_repo, replies, strategy="tree", stop_at=2, limits=Limits(6, 60))

    accepted = [a for a in result.fix.attempts if a.accepted]
    assert len(accepted) == 3 and model.budget.calls == 4  # stopped at the agreeing pair
    assert result.fix.detail == "2 accepted patches agree"
    assert [v["count"] for v in result.fix.votes] == [2, 1]
    assert "sum((a, b))" not in result.patch


def test_tree_with_stop_at_that_runs_out_is_still_solved_by_its_one_fix(make_repo):
    result, model, _ = fix(
        make_repo, [WRONG, OTHER_FIX, WRONG], strategy="tree", stop_at=2, limits=Limits(3, 60)
    )

    assert result.status()[0] == "VERIFIED" and model.budget.calls == 3
    assert result.fix.detail == "max attempts after 1 accepted"
    assert "sum((a, b))" in result.patch


def test_tree_search_adds_the_judges_estimate_to_each_nodes_reward(make_repo):
    # Both roots fail the target alike; the judge rates the second higher, so the search
    # continues the second conversation.
    judge = ScriptedChat(
        ["Subtracting is the bug.\n```score\n0.1\n```", "Closer.\n```score\n0.9\n```"]
        + ["```score\n1\n```"] * 3
    )
    other_wrong = block("calc.py", "    return a - b\n", "    return b - a\n", "Swap.")
    result, _, _ = fix(
        make_repo,
        [WRONG, other_wrong, RIGHT],
        strategy="tree",
        judge=lambda: judge,
        limits=Limits(5, 60),
    )

    first, second, third = result.fix.attempts
    assert result.fix.scores[second.id] - result.fix.scores[first.id] == 0.8
    assert third.parent == second.id and third.accepted
    asked = [m["content"] for m in judge.seen[0]]
    assert "```score" in asked[0] and "calc.add(2, 3) returns -1" in asked[1]
    assert "return b - a" in judge.seen[1][1]["content"]
    saved = json.loads(result.record.read_text())
    assert saved["tree"]["scores"][second.id] == result.fix.scores[second.id]
    assert any("```score" in m["content"] for m in saved["tree"]["judge"]["messages"])


def test_the_judges_estimate_prompt_teaches_the_format_the_parser_reads():
    from verifix.agent.judge import _SCORE, ESTIMATE_PROMPT

    example = re.search(r"```score\n.*?```", ESTIMATE_PROMPT, re.S).group(0)
    assert float(_SCORE.search(example).group(1)) == 0.6
    assert "instructions" in ESTIMATE_PROMPT  # the issue and diff are data, not orders


def test_an_unreadable_estimate_counts_nothing(make_repo):
    judge = ScriptedChat(["I cannot tell.", "```score\n7\n```"] + ["```score\n0\n```"] * 3)
    result, _, _ = fix(
        make_repo,
        [WRONG, WRONG, RIGHT],
        strategy="tree",
        judge=lambda: judge,
        limits=Limits(5, 60),
    )

    first, second = result.fix.attempts[:2]
    assert result.fix.scores[first.id] == result.fix.scores[second.id]


def show(result) -> str:
    shown = verifix("show", str(result.record), "--repo", str(result.repo))
    assert shown.code == 0, shown.err
    return shown.out


def test_show_draws_the_candidates_and_the_vote(make_repo):
    result, _, _ = fix(make_repo, [OTHER_FIX, RIGHT, SAME_AS_RIGHT], candidates=3)

    out = show(result)
    assert re.search(r"^candidate 1: f\d -> VERIFIED \(\$0\.0100\)$", out, re.M), out
    chosen = result.fix.chosen.id
    assert re.search(r"^vote 2: f\d f\d <- chosen$", out, re.M) and chosen in out
    assert re.search(r"^vote 1: f\d$", out, re.M)


def test_show_draws_the_search_tree_with_scores(make_repo):
    tests = {
        ADD: lambda p: adds(p) or "return 5" in p,
        "tests/test_calc.py::test_add_more": adds,
        "tests/test_calc.py::test_ok": always,
    }
    result, _, _ = fix(
        make_repo, [WRONG, HALF, RIGHT], strategy="tree", tests=tests, limits=Limits(5, 60)
    )

    lines = show(result).splitlines()
    start = lines.index(next(line for line in lines if line.startswith("search tree")))
    assert lines[start + 1 : start + 4] == [
        "f1  +0.00  NOT VERIFIED  $0.0100",
        "f2  +0.50  NOT VERIFIED  $0.0100",
        "   └─ f3  +1.00  VERIFIED  $0.0100",
    ]


def test_the_judges_prompt_keeps_every_finalist_within_one_budget_of_diff_text():
    from verifix.agent.engine import Attempt
    from verifix.agent.judge import Judge

    big = "+" + "x" * 9000 + "\n"
    finalists = [
        Attempt(f"f{n}", n, "", patch=f"--- a/m{n}.py\n+++ b/m{n}.py\n{big}") for n in range(1, 9)
    ]
    judge = ScriptedChat(["The fifth.\n```choice\n5\n```"])

    choice = Judge(judge).pick(ISSUE, finalists, [1] * 8)

    asked = judge.seen[0][1]["content"]
    assert choice.attempt.id == "f5"
    assert all(f"## Candidate {n} " in asked for n in range(1, 9))
    assert all(f"+++ b/m{n}.py" in asked for n in range(1, 9))
    assert len(asked) < 26000  # eight diffs share what one long one could take
