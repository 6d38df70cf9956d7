"""``verifix demo``: the check on a bundled repo with a real bug, no setup and no API key.

Until the repair loop lands, the demo verifies the bundled fix: the failing test goes from
fail to pass and nothing else breaks.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from verifix.sandbox import images, snapshot
from verifix.sandbox.engine import connect
from verifix.sandbox.errors import SandboxError
from verifix.sandbox.verify import Checks

from . import render
from .example import FIX_PATCH, ISSUE, REPO_DIR
from .output import ProgressLog, stdout
from .verify_cmd import exit_code, read_patch, run_verify


def _ensure_base_image(progress: ProgressLog) -> None:
    """Bootstrap a base image when the engine has none and no registry answers."""
    client = connect()
    try:
        images.resolve_base(client, ("3.11", "3.13", "3.9"), None, progress)
    except SandboxError:
        progress("no Python base image on this engine: bootstrapping one (about a minute)")
        images.bootstrap(client, "3.11", progress)


def demo(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> int:
    """Verify the bundled fix for the bundled example repo's bug, in the sandbox."""
    progress = ProgressLog(quiet)
    _ensure_base_image(progress)
    with tempfile.TemporaryDirectory(prefix="verifix-demo-") as tmp:
        repo = Path(tmp) / "shop"
        shutil.copytree(REPO_DIR, repo, ignore=shutil.ignore_patterns("__pycache__"))
        git = ["git", "-C", str(repo), "-c", "user.name=verifix", "-c", "user.email=demo@verifix"]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-qm", "shop with a discount bug"], check=True)
        stdout.print(f"[bold]The bug[/bold]: {ISSUE.read_text().splitlines()[0][2:]}")
        stdout.print(f"[bold]The patch[/bold]:\n{FIX_PATCH.read_text()}")
        with snapshot.of_worktree(repo) as snap:
            verdict = run_verify(snap, Checks(), read_patch(str(FIX_PATCH)), None, {}, progress)
    render.verdict(verdict)
    stdout.print("\nOn your own repo: [bold]verifix verify --patch fix.diff[/bold]")
    return exit_code(verdict)
