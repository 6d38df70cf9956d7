"""Long steps show they are alive: on a terminal a live status line (the phase, how long the
step has run, the money spent, the step itself) is redrawn in place below the progress
lines; in a pipe there are only whole lines, with nothing a log would keep as garbage.

The terminal is a real pseudo-terminal (``pty``) on stderr; stdout stays a pipe, so the
patch there is checked to come out untouched.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import threading
import uuid

import pytest
from conftest import VERIFIX, verifix
from test_fix import ISSUE, RIGHT, fix_args
from verifix.cli.example.scripted_model import ScriptedModel

pytestmark = pytest.mark.docker

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: The status line: spinner, phase, the step's seconds, the run's, the money spent.
STATUS = re.compile(r"(environment|model|tests)  (\d+)s \(total \d+s\)  \$(\d+\.\d{4})  (.*)")


@pytest.fixture
def issue(tmp_path):
    path = tmp_path / "issue.md"
    path.write_text(ISSUE)
    return path


def run_on_a_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run verifix with stderr on a pseudo-terminal: exit code, stdout, what the terminal got."""
    main, terminal = pty.openpty()
    received: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other end closed
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.run(
        [str(VERIFIX), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**env, "TERM": "xterm", "COLUMNS": "200"},
        timeout=600,
    )
    os.close(terminal)
    reader.join(10)
    os.close(main)
    return proc.returncode, proc.stdout.decode(), b"".join(received).decode(errors="replace")


def test_on_a_terminal_a_live_status_shows_phase_elapsed_setup_command_and_cost(make_repo, issue):
    repo = make_repo()
    slow_setup = f"sleep 3 && echo {uuid.uuid4().hex}"  # a fresh environment, slow to build
    with ScriptedModel([{"text": RIGHT, "delay": 3}]) as server:
        args = [*fix_args(repo, issue, server), "--setup", slow_setup]
        code, out, terminal = run_on_a_terminal([*args, "--setup", "python -m pip install pytest"])

    assert code == 0, terminal
    assert "+    return a + b" in out and "\x1b" not in out  # stdout is not the terminal
    assert "\x1b[2K" in terminal  # the status line is erased and drawn again, in place
    frames = [STATUS.search(ANSI.sub("", f)) for f in re.split(r"[\r\n]", terminal)]
    seen = [(m[1], int(m[2]), m[3], m[4]) for m in frames if m]
    # The setup command that is running, and its seconds counting up while it runs.
    setup = [seconds for phase, seconds, _, step in seen if step == f"setup: {slow_setup}"]
    assert setup and {p for p, *_ in seen if p} >= {"environment", "tests", "model"}
    assert max(setup) >= 2, seen
    # A model call that takes seconds shows them too.
    model = [seconds for phase, seconds, _, step in seen if phase == "model"]
    assert max(model) >= 2, seen
    # The running cost: nothing before the model's reply, its price after.
    costs = [float(cost) for *_, cost, _ in seen]
    assert costs[0] == 0 and costs[-1] == 0.0014, seen
    # The whole lines are there too, and the status is gone at the end.
    text = ANSI.sub("", terminal)
    assert "attempt 1: VERIFIED" in text
    assert not STATUS.search(text.rsplit("\n", 1)[-1])


def test_in_a_pipe_progress_is_whole_lines_with_no_control_sequences(make_repo, issue):
    repo = make_repo()
    with ScriptedModel([{"text": RIGHT, "delay": 2}]) as server:
        result = verifix(*fix_args(repo, issue, server), env={"TERM": "xterm"})

    assert result.code == 0, result.err
    assert "\r" not in result.err and "\x1b" not in result.err
    assert not STATUS.search(result.err)
    lines = result.err.splitlines()
    progress = [line for line in lines if re.match(r"\s+\d+\.\ds  \S", line)]
    assert any("asking the model" in line for line in progress)
    assert any("running the tests" in line for line in progress)
