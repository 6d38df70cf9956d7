"""``verifix hook``: test what is being pushed (or committed) in the sandbox, and when it
fails, propose a verified fix beside the user's work, never in it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from verifix.agent import delivery, hooks, runner
from verifix.agent import settings as model_settings
from verifix.agent.engine import Limits
from verifix.agent.model import Budget, Model
from verifix.sandbox import snapshot
from verifix.sandbox.errors import UsageError
from verifix.sandbox.snapshot import Snapshot, repo_root
from verifix.sandbox.verify import Checks

from . import exit_codes
from .output import ProgressLog, stderr
from .render import plural

hook_app = typer.Typer(help="Run verifix as a git hook (pre-push or pre-commit).")

_ZERO = "0" * 40
_BYPASS = (
    "to push anyway once: git push --no-verify; to turn the hook off: VERIFIX_HOOK=0 "
    "or verifix hook uninstall"
)


def _settings(repo: Path) -> dict[str, Any]:
    """``[hook]`` (verifix.agent.settings.HOOK): the repository may lower the limits, not
    raise them."""
    return {key: value.value for key, value in model_settings.hook_settings(repo).items()}


@hook_app.command("install")
def install(
    pre_commit: Annotated[
        bool, typer.Option("--pre-commit", help="Run before each commit.")
    ] = False,
    pre_push: Annotated[
        bool, typer.Option("--pre-push", help="Run before each push (default).")
    ] = False,
) -> int:
    """Install verifix as this repo's pre-push (or pre-commit) hook, keeping any earlier hook."""
    if pre_commit and pre_push:
        raise UsageError("--pre-commit or --pre-push: one of them")
    repo = repo_root(Path("."))
    stage = "pre-commit" if pre_commit else _settings(repo)["stage"]
    stderr.print(hooks.install(repo, stage))
    return 0


@hook_app.command("uninstall")
def uninstall() -> int:
    """Remove verifix's hooks and put back the ones they replaced."""
    for line in hooks.uninstall(repo_root(Path("."))):
        stderr.print(line)
    return 0


@hook_app.command("status")
def status() -> int:
    """Say which hooks verifix is installed as."""
    for line in hooks.status(repo_root(Path("."))):
        stderr.print(line)
    return 0


def _pushed_commit() -> str | None:
    """The commit being pushed, from the refs git gives a pre-push hook on stdin (or the
    pre-commit framework's variables); None when the push only deletes refs."""
    lines = [] if sys.stdin.isatty() else sys.stdin.read().splitlines()
    shas = [parts[1] for parts in (line.split() for line in lines) if len(parts) == 4]
    if lines and shas:
        pushed = [sha for sha in shas if sha != _ZERO]
        return pushed[0] if pushed else None
    return os.environ.get("PRE_COMMIT_TO_REF") or "HEAD"


@hook_app.command("run")
def run(
    stage: Annotated[str, typer.Option("--stage", help="pre-push or pre-commit.")] = "pre-push",
    remote: Annotated[str | None, typer.Argument(help="Given by git to pre-push hooks.")] = None,
    url: Annotated[str | None, typer.Argument(help="Given by git to pre-push hooks.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> int:
    """What the installed hook runs: the tests on exactly what is pushed or committed, and a
    verified fix proposal (never applied) when they fail."""
    if os.environ.get("VERIFIX_HOOK") == "0":
        return 0
    repo = repo_root(Path("."))
    settings = _settings(repo)
    if stage == "pre-commit":
        snap, label = snapshot.of_staged(repo), "staged changes"
    else:
        sha = _pushed_commit()
        if sha is None:
            return 0
        snap, label = snapshot.of_commit(repo, sha), sha[:12]
    return _check(repo, snap, label, settings, ProgressLog(quiet))


def _check(repo: Path, snap: Snapshot, label: str, settings: dict, progress: ProgressLog) -> int:
    """The tests on ``snap``; when they fail and a model is configured, a verified fix
    proposed beside the user's work (a patch file and a branch), never in it."""
    named = model_settings.model_named(model_settings.repo_model_table(repo))
    wanted = settings["fix"] and named

    def make_model() -> Model:
        flags = model_settings.Flags(
            max_cost=float(settings["max_cost"]), max_attempts=int(settings["max_attempts"])
        )
        chosen = model_settings.for_repo(repo, flags)
        return Model(chosen.config, Budget(chosen.max_cost))

    request = runner.Request(
        repo,
        None,  # the failing tests are the issue
        make_model if wanted else None,
        Limits(int(settings["max_attempts"]), 900),
        Checks(selection=list(settings["tests"])),
        snapshot=lambda _repo: snap,
    )
    result = runner.run(request, progress.event, label=label)
    if result.baseline_error:
        stderr.print(f"verifix: the tests could not run on {label}: {result.baseline_error}")
        stderr.print(_BYPASS)
        return exit_codes.NOT_VERIFIED
    if result.ended == "green":
        passed = result.baseline.get("passed", 0)
        stderr.print(
            f"verifix: {plural(passed, 'test')} pass{'es' if passed == 1 else ''} on {label}"
        )
        return exit_codes.VERIFIED
    failing = result.failing
    stderr.print(
        f"verifix: {plural(len(failing), 'test')} fail{'s' if len(failing) == 1 else ''} "
        f"on {label}:"
    )
    for test_id in failing[:20]:
        stderr.print(f"  {test_id}")
    if result.ended == "no model":
        why = "fixes are off in [hook]" if not settings["fix"] else "no model is configured"
        stderr.print(f"({why}; nothing was sent to a model)")
        stderr.print(_BYPASS)
        return exit_codes.NOT_VERIFIED
    if result.patch is None:
        stderr.print(f"verifix: no verified fix within the limits ({result.stopped}).")
        stderr.print(_BYPASS)
        return exit_codes.NOT_VERIFIED
    patch_file, branch = delivery.beside_the_work(result, label)
    stderr.print(f"verifix: a verified fix is in {patch_file}")
    if branch:
        stderr.print(f"  and on branch {branch}: take it with  git cherry-pick {branch}")
    stderr.print(f"  or apply it to your working tree with  git apply {patch_file}")
    stderr.print(_BYPASS)
    return exit_codes.NOT_VERIFIED
