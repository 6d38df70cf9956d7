"""Exploration: the command format the prompt teaches is the one the parser reads, and the
engine runs commands, counts them and stops them at the limit (fakes; no engine)."""

from __future__ import annotations

import pytest
from verifix.agent import events as ev
from verifix.agent.explore import EXPLORE_HELP, NotACommand, command_in


def test_the_help_shows_a_command_the_parser_reads():
    assert command_in(EXPLORE_HELP) == 'grep -rn "def apply_discount" --include=*.py .'


def test_an_edit_is_never_taken_for_a_command():
    reply = "```bash\nls\n```\n\ncalc.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n"
    assert command_in(reply) is None


def test_prose_is_no_command():
    assert command_in("I would look at calc.py first.") is None
    assert command_in("```python\nprint(1)\n```") is None


def test_two_commands_in_one_reply_are_refused():
    with pytest.raises(NotACommand, match="one command per reply"):
        command_in("```bash\nls\n```\nand\n```sh\npwd\n```")


def test_a_prompt_marker_is_dropped():
    assert command_in("```console\n$ sed -n '1,5p' calc.py\n```") == "sed -n '1,5p' calc.py"


def test_events_are_plain_values():
    step = ev.Explored("fix", "fs1", 1, "grep -rn x .", 0, False, 0.2)
    assert step.command == "grep -rn x ." and step.exit_code == 0


# -- the engine, with a scripted model and a fake workspace ---------------------------------

from pathlib import Path  # noqa: E402

from fakes import FakeWorkspace, MemoryVerifier, ScriptedChat  # noqa: E402
from test_engine import ISSUE, RIGHT, always, fixed  # noqa: E402
from verifix.agent.engine import Limits, solve  # noqa: E402
from verifix.agent.explore import help_text  # noqa: E402
from verifix.agent.repair import RepairTask  # noqa: E402

GREP = "Let me find it.\n\n```bash\ngrep -rn 'def add' .\n```\n"
READ = "And read it.\n\n```bash\nsed -n '1,5p' calc.py\n```\n"


def explore_then(replies, tmp_path: Path, max_steps=5, answers=None):
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    verifier = MemoryVerifier(tmp_path, {"tests/test_calc.py::test_add": fixed, "ok": always})
    workspace = FakeWorkspace(answers or {"grep -rn 'def add' .": "./calc.py:1:def add(a, b):"})
    model = ScriptedChat(list(replies))
    task = RepairTask(ISSUE, verifier, 2000, exploring=help_text(workspace, max_steps))
    seen: list[ev.Event] = []
    outcome = solve(task, model, Limits(3, 60, max_steps), seen.append, workspace=workspace)
    return outcome, model, workspace, seen


def test_the_model_greps_reads_then_edits_and_every_step_is_counted(tmp_path):
    outcome, model, workspace, seen = explore_then([GREP, READ, RIGHT], tmp_path)

    assert outcome.stopped == "verified"
    assert workspace.ran == ["grep -rn 'def add' .", "sed -n '1,5p' calc.py"]
    assert [s.id for s in outcome.steps] == ["fs1", "fs2"]
    assert len(outcome.attempts) == 1  # looking around is no attempt
    assert model.budget.calls == 3  # but every step is a model call, charged
    assert [type(e).__name__ for e in seen].count("Explored") == 2


def test_the_output_of_a_command_is_what_the_model_reads_next(tmp_path):
    _, model, _, _ = explore_then([GREP, READ, RIGHT], tmp_path)

    assert "./calc.py:1:def add(a, b):" in model.seen[1][-1]["content"]
    assert "[exit code 127]" in model.seen[2][-1]["content"]


def test_the_system_prompt_teaches_commands_only_when_the_model_may_run_them(tmp_path):
    _, model, _, _ = explore_then([GREP, RIGHT], tmp_path)
    system = model.seen[0][0]["content"]
    assert help_text(FakeWorkspace(), 5) in system and "You have 5 commands in all" in system

    verifier = MemoryVerifier(tmp_path, {"ok": always})
    plain = RepairTask(ISSUE, verifier, 2000).opening()[0]["content"]
    assert command_in(plain) is None and "shell commands" not in plain


def test_past_the_step_limit_a_command_is_refused_and_the_model_told(tmp_path):
    outcome, _, workspace, _ = explore_then([GREP, READ, READ, RIGHT], tmp_path, max_steps=1)

    assert workspace.ran == ["grep -rn 'def add' ."]
    first = outcome.attempts[0]
    assert first.error == "all 1 commands are used: send the search/replace blocks now"
    assert outcome.stopped == "verified" and len(outcome.attempts) == 3
