"""Exploration end to end: ``fix --explore`` with a scripted model whose commands run in a
real scratch container (no network, unprivileged, bounded, output cut), apart from the
container that judges patches."""

from __future__ import annotations

import json

import pytest
from conftest import new_repo, verifix
from test_fix import ISSUE, RIGHT, WRONG, fix_args
from verifix.cli.example.scripted_model import ScriptedModel

pytestmark = pytest.mark.docker


def command(text: str) -> str:
    return f"Let me look.\n\n```bash\n{text}\n```\n"


def explore(tmp_path, replies, *extra: str):
    repo = new_repo(tmp_path / "repo")
    issue = tmp_path / "issue.md"
    issue.write_text(ISSUE)
    with ScriptedModel(replies) as server:
        result = verifix(*fix_args(repo, issue, server), "--explore", *extra)
        calls = len(server.requests)
    (path,) = (repo / ".verifix" / "runs").glob("*.json")
    return result, json.loads(path.read_text()), calls


def test_the_model_greps_reads_then_edits_and_the_fix_is_verified(tmp_path):
    replies = [
        command("grep -rn 'def add' ."),
        command("sed -n '1,3p' calc.py"),
        command("python -m pytest -q tests/test_calc.py::test_add"),
        RIGHT,
    ]
    result, record, calls = explore(tmp_path, replies)

    assert result.code == 0, result.err
    grep, read, one_test = record["steps"]
    assert "./calc.py:1:def add(a, b):" in grep["output"] and grep["exit_code"] == 0
    assert "return a - b" in read["output"]
    assert "1 failed" in one_test["output"] and one_test["exit_code"] == 1
    assert calls == 4 and record["outcome"]["calls"] == 4  # every step is a charged call
    assert len(record["attempts"]) == 1


NO_NETWORK = "python -c \"import socket; socket.create_connection(('1.1.1.1', 53), 3)\""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, base_image):
    """Commands that try the sandbox's limits, then a wrong patch: one run, many checks."""
    replies = [
        command("id -u"),
        command(NO_NETWORK),
        command("sleep 60"),
        command("python -c \"print('x' * 200000)\""),
        # Rewrite the tests to pass and leave a hook where a test run would load it: if
        # the scratch container were the judging one, the wrong patch below would pass.
        command(
            "printf 'def test_add():\\n    pass\\n' > tests/test_calc.py; "
            "mkdir -p $HOME/.local/lib && echo 'import os' > $HOME/sitecustomize.py; "
            "echo planted"
        ),
        WRONG,
    ]
    tmp = tmp_path_factory.mktemp("hostile")
    return explore(tmp, replies, "--max-attempts", "1", "--step-timeout", "3")


def test_commands_run_unprivileged(hostile):
    _, record, _ = hostile
    assert record["steps"][0]["output"].splitlines()[1] == "10001"


def test_commands_have_no_network(hostile):
    _, record, _ = hostile
    step = record["steps"][1]
    assert step["exit_code"] != 0 and "Error" in step["output"]


def test_a_command_that_hangs_is_stopped_at_the_step_timeout(hostile):
    _, record, _ = hostile
    step = record["steps"][2]
    assert step["timed_out"] is True and step["seconds"] < 15


def test_a_huge_output_is_cut_in_the_middle(hostile):
    _, record, _ = hostile
    output = record["steps"][3]["output"]
    assert "characters cut" in output and len(output) < 6000


def test_what_a_command_changes_never_reaches_the_verdict(hostile):
    result, record, _ = hostile
    assert "planted" in record["steps"][4]["output"]
    assert result.code == 1, result.err
    assert record["attempts"][0]["verdict"]["status"] == "NOT_VERIFIED"


def test_candidates_never_read_what_another_changed_in_its_scratch_copy(tmp_path):
    """Candidate 1 plants a file at once; candidate 2 looks a few seconds later and must
    not see it: each candidate explores in its own scratch container."""

    def by_seed(plant, look):
        def reply(body):
            if body["messages"][-1]["content"].startswith("$ "):
                return RIGHT  # a command's output came back: now the fix
            return plant if body.get("seed", 0) == 0 else look

        return reply

    plant = command("echo secret > planted.txt && ls")
    look = {"text": command("sleep 3; ls"), "delay": 1}
    replies = [by_seed(plant, look)] * 4
    result, record, _ = explore(tmp_path, replies, "--candidates", "2", "--max-attempts", "1")

    assert result.code == 0, result.err
    outputs = {step["command"]: step["output"] for step in record["steps"]}
    assert "planted.txt" in outputs["echo secret > planted.txt && ls"]
    assert "planted.txt" not in outputs["sleep 3; ls"] and "calc.py" in outputs["sleep 3; ls"]
