"""``verifix --help`` loads no command: the loop, the sandbox, docker and litellm wait until a
command runs. How long it takes is ``benchmarks/startup.py``'s business; these tests check what
it imports, which does not depend on how busy the machine is.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import VERIFIX, verifix

#: Imported by no command's listing: each is a command's module or what one pulls in.
HEAVY = re.compile(r"^(verifix\.agent|verifix\.cli\.\w+_cmd|docker|litellm|git)(\.|$)")
SANDBOX_ALLOWED = {"verifix.sandbox", "verifix.sandbox.errors"}


#: Runs the installed console script as Python would, then lists every module it imported
#: (``-X importtime`` would miss those loaded through ``importlib.import_module``).
_RUN_AND_LIST = """
import atexit, runpy, sys
listing = sys.argv[1]
atexit.register(lambda: open(listing, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _imported(tmp_path: Path, *args: str) -> set[str]:
    """The modules the installed console script imports for ``verifix ARGS``."""
    listing = tmp_path / "modules.txt"
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST, str(listing), str(VERIFIX), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(listing.read_text().splitlines())


def test_help_imports_no_command_and_nothing_heavy(tmp_path):
    modules = _imported(tmp_path, "--help")
    assert "verifix.cli.main" in modules
    heavy = sorted(m for m in modules if HEAVY.match(m))
    sandbox = sorted(
        m for m in modules if m.startswith("verifix.sandbox") and m not in SANDBOX_ALLOWED
    )
    assert not heavy and not sandbox, heavy + sandbox


def test_a_command_loads_only_itself(tmp_path):
    modules = _imported(tmp_path, "github", "--help")
    assert "verifix.cli.github_cmd" in modules
    # The heavy modules it must not load exist (a renamed one would pass for nothing).
    assert "verifix.cli.verify_cmd" not in modules and "verifix.agent.engine" not in modules
    assert all(
        importlib.util.find_spec(m) for m in ("verifix.cli.verify_cmd", "verifix.agent.engine")
    )


def _listing() -> dict[str, str]:
    """``verifix --help``'s commands and their one-line help, wrapped lines joined."""
    text = verifix("--help").out
    listing: dict[str, str] = {}
    for row in text.split("Commands:")[1].strip("\n").splitlines():
        if row.startswith("   "):  # the help wrapped onto another line
            last = list(listing)[-1]
            listing[last] += " " + row.strip()
        else:
            command, summary = row.split(maxsplit=1)
            listing[command] = summary
    return listing


def test_the_listing_names_every_command_with_its_own_help():
    listing = _listing()
    assert list(listing) == [
        *(
            "verify",
            "fix",
            "locate",
            "show",
            "view",
            "demo",
            "bench",
            "env",
            "sandbox",
            "github",
            "hook",
        )
    ]
    for name, summary in listing.items():
        result = verifix(name, "--help")
        assert result.code == 0, result.err
        assert summary in " ".join(result.out.split()), (name, summary)


@pytest.mark.parametrize(
    ("command", "option"),
    [("verify", "--patch"), ("fix", "--max-attempts"), ("env check", "--rev")],
)
def test_a_command_help_is_complete(command, option):
    result = verifix(*command.split(), "--help")
    assert result.code == 0, result.err
    assert f"Usage: verifix {command} [OPTIONS]" in result.out
    assert option in result.out
