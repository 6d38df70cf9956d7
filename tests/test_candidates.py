"""Candidates side by side end to end: the scripted model server, real containers (one per
candidate), the budget across them, and nothing left behind on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import OURS, VERIFIX, new_repo, verifix
from test_fix import ISSUE, RIGHT, WRONG, fix_args
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
