"""Test-time compute end to end: the scripted model server, real containers (one per
candidate). Candidates side by side, the vote over normalized patches, the judge only
where the tests cannot tell, --stop-at, the budget across candidates, nothing left behind
on Ctrl-C or a candidate's failure, and tree search expanding the better node first."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
from conftest import OURS, VERIFIX, new_repo, verifix
from test_fix import ISSUE, RIGHT, WRONG, block, fix_args
from verifix.cli.example.scripted_model import ScriptedModel

pytestmark = pytest.mark.docker


@pytest.fixture
def repo_and_issue(tmp_path):
    repo = new_repo(tmp_path / "repo")
    issue = tmp_path / "issue.md"
    issue.write_text(ISSUE)
    return repo, issue


def test_three_candidates_where_only_one_fixes_it_are_verified(repo_and_issue):
    repo, issue = repo_and_issue
    with ScriptedModel([WRONG, RIGHT, WRONG]) as server:
        result = verifix(
            *fix_args(repo, issue, server), "--candidates", "3", "--max-attempts", "1", "--json"
        )
        sent = list(server.requests)

    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["status"] == "VERIFIED"
    assert sorted(a["candidate"] for a in data["attempts"]) == [1, 2, 3]
    assert len({(r.get("temperature"), r.get("seed")) for r in sent}) == 3


def test_the_budget_holds_across_candidates(repo_and_issue):
    repo, issue = repo_and_issue
    # Each call's worst case is ~$0.41 (4096 reply tokens at $100 a million): two fit in
    # $1.00, a third never goes out, whichever candidate asks for it.
    replies = ["thinking"] * 9
    with ScriptedModel(replies, completion_tokens=4000) as server:
        args = fix_args(repo, issue, server, price_out="100")
        result = verifix(*args, "--candidates", "3", "--max-attempts", "3", "--json")
        calls = len(server.requests)

    assert result.code == 1, result.err
    data = json.loads(result.out)
    assert calls == 2 and data["cost"] <= 1.00 and data["stopped"] == "cost limit"


def test_ctrl_c_with_candidates_waiting_leaves_nothing_behind(repo_and_issue, docker_client):
    repo, issue = repo_and_issue
    with ScriptedModel([{"text": RIGHT, "delay": 60}] * 3) as server:
        proc = subprocess.Popen(
            [str(VERIFIX), *fix_args(repo, issue, server), "--candidates", "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        deadline = time.monotonic() + 120
        while len(server.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(server.requests) == 3, "the candidates never all asked"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    assert out == ""  # no patch: nothing was verified
    assert time.monotonic() - started < 45  # not the 60 s the replies would take
    assert docker_client.containers.list(all=True, filters=OURS) == []


#: RIGHT again, as another candidate would write it: a comment and redundant parentheses.
SAME_AS_RIGHT = "Fixed.\n\n" + block("    return a - b", "    return (a + b)  # was a - b")
#: Another correct fix, distinct after normalization.
OTHER_FIX = "Sum them.\n\n" + block("    return a - b", "    return sum((a, b))")


def by_candidate(replies: dict[int, object]):
    """A reply chosen by the asking candidate (its sampling seed is its index), so a test
    does not depend on which thread asks first."""
    return lambda body: replies[body.get("seed", 0)]


def test_the_fix_two_candidates_wrote_outvotes_a_third(repo_and_issue):
    repo, issue = repo_and_issue
    with ScriptedModel([OTHER_FIX, RIGHT, SAME_AS_RIGHT]) as server:
        result = verifix(
            *fix_args(repo, issue, server), "--candidates", "3", "--max-attempts", "1", "--json"
        )

    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [v["count"] for v in data["votes"]] == [2, 1]
    assert "sum((a, b))" not in data["patch"] and "a + b" in data["patch"]
    (chosen,) = (a for a in data["attempts"] if a["number"] == data["verified_attempt"])
    assert chosen["id"] in data["votes"][0]["attempts"]


def test_the_judge_is_asked_only_when_tests_cannot_tell_and_its_choice_is_kept(
    repo_and_issue,
):
    repo, issue = repo_and_issue

    def judge(body):
        # Choose whichever finalist sums, whatever order the vote listed them in.
        asked = body["messages"][-1]["content"]
        number = next(
            n for n, part in enumerate(asked.split("## Candidate ")[1:], 1) if "sum((" in part
        )
        return f"Summing reads as intended.\n\n```choice\n{number}\n```\n"

    with ScriptedModel([RIGHT, OTHER_FIX, judge]) as server:
        args = (*fix_args(repo, issue, server), "--candidates", "2", "--max-attempts", "1")
        result = verifix(*args, "--judge", "same")
        asked = [r["messages"][0]["content"] for r in server.requests]

    assert result.code == 0, result.err
    assert "sum((a, b))" in result.out  # the judge's pick, not the vote's smallest patch
    assert len(asked) == 3 and "```choice" in asked[2]
    assert "the judge: Summing reads as intended." in result.err
    (record,) = (repo / ".verifix" / "runs").glob("*.json")
    saved = json.loads(record.read_text())
    assert saved["selection"]["judge"]["reason"] == "Summing reads as intended."

    with ScriptedModel([RIGHT, SAME_AS_RIGHT, judge]) as server:
        args = (*fix_args(repo, issue, server), "--candidates", "2", "--max-attempts", "1")
        agreed = verifix(*args, "--judge", "same")
        calls = len(server.requests)
    assert agreed.code == 0 and calls == 2  # one fix: nothing to judge


def test_stop_at_two_ends_the_candidate_still_working(repo_and_issue):
    repo, issue = repo_and_issue
    slow_wrong = {"text": WRONG, "delay": 20}
    replies = by_candidate({0: RIGHT, 1: SAME_AS_RIGHT, 2: slow_wrong})
    with ScriptedModel([replies] * 9) as server:
        args = fix_args(repo, issue, server)
        result = verifix(
            *args, "--candidates", "3", "--max-attempts", "3", "--stop-at", "2", "--json"
        )
        calls = len(server.requests)

    assert result.code == 0, result.err
    data = json.loads(result.out)
    # The third candidate's first call was in flight (it finishes and is charged); its
    # other two are never made.
    assert calls == 3 and len(data["attempts"]) == 3
    assert re.fullmatch(r"2 candidates agree: \d+ attempts not made", data["detail"])
    assert data["votes"][0]["count"] == 2


def test_a_candidate_whose_provider_fails_ends_the_run_and_leaves_nothing(
    repo_and_issue, docker_client
):
    repo, issue = repo_and_issue
    replies = by_candidate({0: {"text": WRONG, "delay": 3}, 1: {"status": 401}, 2: WRONG})
    with ScriptedModel([replies] * 9) as server:
        result = verifix(*fix_args(repo, issue, server), "--candidates", "3")

    assert result.code == 3, result.err
    assert "refused" in result.err and "Traceback" not in result.err
    assert docker_client.containers.list(all=True, filters=OURS) == []


#: Breaks test_double as well as failing both targets: the lowest process reward.
WORSE = "Off by one.\n\n" + block("    return a - b", "    return a - b - 1")


def test_tree_search_expands_the_better_scored_node_first(repo_and_issue):
    repo, issue = repo_and_issue
    # Targets: test_add and test_double_two. WORSE passes neither and breaks test_double;
    # WRONG (a * b) passes test_double_two: the search continues WRONG's conversation.
    with ScriptedModel([WORSE, WRONG, RIGHT]) as server:
        args = fix_args(repo, issue, server)
        result = verifix(*args, "--strategy", "tree", "--max-attempts", "5", "--json")
        third = server.requests[2]["messages"]

    assert result.code == 0, result.err
    data = json.loads(result.out)
    first, second, chosen = data["attempts"]
    assert second["parent"] is None and chosen["parent"] == second["id"]
    assert chosen["accepted"]
    (record,) = (repo / ".verifix" / "runs").glob("*.json")
    scores = json.loads(record.read_text())["tree"]["scores"]
    assert scores[first["id"]] < scores[second["id"]] < scores[chosen["id"]]
    assert any("It multiplies by mistake." in m["content"] for m in third)
    assert not any("Off by one." in m["content"] for m in third)
