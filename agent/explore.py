"""Exploration: before and between edits the model may run one shell command per reply in a
scratch container (``sandbox.shell``) and read its output, as an engineer would look around
(``grep -rn``, ``sed -n``, ``python -c``, one test) before changing anything.

The verdict stays verifix's: a command only shows the model something; an edit is still a
search/replace proposal judged by the tests, in another container. Every step is a model
call charged to the budget, counted against ``Limits.max_steps``, and kept in the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

EXPLORE_HELP = """Before you edit, you may look around the repository by running shell commands,
one per reply. To run one, reply with a short reason and exactly one fenced block, and
nothing else:

```bash
grep -rn "def apply_discount" --include=*.py .
```

You will get its output (cut in the middle when long). Commands run in a scratch copy of
the repository (the working directory) with no network, as an unprivileged user, each for
at most {timeout} seconds; files you change there are thrown away and never tested. Useful
commands: grep -rn, sed -n '10,40p' FILE, ls, python -c, python -m pytest -x one test.
You have {steps} commands in all. When you know the fix, send the search/replace blocks
instead (no command in that reply)."""

_COMMAND = re.compile(r"```(?:bash|sh|shell|console)[ \t]*\n(.*?)```", re.S)


class NotACommand(Exception):
    """A reply that asks for more than one command: the message says what to send."""


def command_in(reply: str) -> str | None:
    """The command a reply asks to run, or None when it is no command (an edit, prose).

    A reply with search/replace blocks is an edit even if it also shows a shell block (the
    edit wins: it is what the run is for). A reply with several command blocks is refused.
    """
    if "<<<<<<< SEARCH" in reply:
        return None
    blocks = [b.strip() for b in _COMMAND.findall(reply)]
    blocks = [b for b in blocks if b]
    if not blocks:
        return None
    if len(blocks) > 1:
        raise NotACommand(
            f"your reply holds {len(blocks)} command blocks: send one command per reply"
        )
    command = blocks[0]
    return command[2:] if command.startswith("$ ") else command


class Observation(Protocol):
    """What running a command gave: the text the model reads, and how it ended."""

    command: str
    exit_code: int
    timed_out: bool
    seconds: float

    def observation(self) -> str: ...


class Workspace(Protocol):
    """Where commands run (``sandbox.shell.Shell``; a test may bring its own)."""

    step_timeout_s: int

    def run(self, command: str) -> Observation: ...


@dataclass
class Step:
    """One exploration step: the command, what it gave, and what asking for it cost."""

    id: str
    parent: str | None  # the attempt it came before (None: before the first edit)
    command: str
    output: str
    exit_code: int
    timed_out: bool
    seconds: float
    cost: float = 0.0


def help_text(workspace: Workspace, steps: int) -> str:
    """The exploration part of a system prompt, with this run's limits."""
    return EXPLORE_HELP.format(timeout=workspace.step_timeout_s, steps=steps)
