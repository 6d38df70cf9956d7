"""``verifix verify``: run the tests on the base tree, apply a patch, run them again, judge."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from verifix.agent import swebench as swebench_mod
from verifix.sandbox import snapshot
from verifix.sandbox.errors import UsageError
from verifix.sandbox.verdict import Verdict
from verifix.sandbox.verify import Checks, run_verify

from . import exit_codes, render
from .common import (
    NO_ENV_OPTIONS,
    EnvOptions,
    QuietOpt,
    RepoArg,
    TestOpt,
    TestsAliasOpt,
    env_options,
    targets,
)
from .output import ProgressLog, stdout

_DIFF = re.compile(r"^(diff --git |--- \S.*\n\+\+\+ \S)", re.M)


def read_patch(source: str) -> str:
    """The patch text from a file or stdin ('-'); refuses anything that is not a diff."""
    if source == "-":
        text = sys.stdin.read()
        where = "stdin"
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"patch file {source} does not exist")
        text = path.read_text(encoding="utf-8", errors="replace")
        where = source
    if not text.strip():
        raise UsageError(f"the patch from {where} is empty")
    if not _DIFF.search(text) or ("@@" not in text and "diff --git" not in text):
        raise UsageError(
            f"the patch from {where} is not a unified diff (no '--- a/...' / '+++ b/...' "
            "headers with '@@' hunks): make one with 'git diff'"
        )
    return text if text.endswith("\n") else text + "\n"


def exit_code(v: Verdict) -> int:
    return exit_codes.VERIFIED if v.verified else exit_codes.NOT_VERIFIED


@env_options(rebuild=True)
def verify(
    repo: RepoArg = Path("."),
    patch: Annotated[
        str | None,
        typer.Option("--patch", "-p", help="The patch to check: a diff file, or - for stdin."),
    ] = None,
    test: TestOpt = None,
    tests_alias: TestsAliasOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
    swebench: Annotated[
        Path | None,
        typer.Option("--swebench", help="A SWE-bench .jsonl file (use with --instance)."),
    ] = None,
    instance: Annotated[
        str | None, typer.Option("--instance", help="The SWE-bench instance id.")
    ] = None,
    gold: Annotated[bool, typer.Option("--gold", help="Check the instance's own patch.")] = False,
    no_stage: Annotated[
        bool,
        typer.Option(
            "--no-stage",
            help="Run the full suite at once, not the cheap checks first (the targets alone, "
            "then the tests importing the changed modules).",
        ),
    ] = False,
    quiet: QuietOpt = False,
    envopts: EnvOptions = NO_ENV_OPTIONS,
) -> int:
    """Verify a patch against the repo's own tests in a Docker sandbox.

    Exit codes: 0 verified, 1 not verified (or does not apply, or no target),
    2 usage or configuration error, 3 environment or sandbox error.
    """
    overrides = envopts.overrides()
    tests = targets(test, tests_alias)
    if (swebench is None) != (instance is None):
        raise UsageError("--swebench and --instance go together")
    if gold and swebench is None:
        raise UsageError("--gold needs --swebench FILE --instance ID")
    if gold and patch:
        raise UsageError("--gold and --patch both name a patch: pass one")
    if swebench is not None and tests:
        raise UsageError("--test cannot be combined with --swebench: the instance names its tests")

    if swebench is not None:
        inst = swebench_mod.load(swebench, instance or "")
        patch_text = inst.patch if gold else (read_patch(patch) if patch else None)
        checks = inst.checks()
        snap = snapshot.of_commit(repo, inst.base_commit)
    else:
        patch_text = read_patch(patch) if patch else None
        checks = Checks(targets=tests)
        snap = snapshot.of_worktree(repo)
    if no_stage:
        checks.staged = False  # otherwise [sandbox] staged_checks decides (on by default)
    with snap, ProgressLog(quiet) as progress:  # the live status ends before the verdict
        verdict = run_verify(
            snap,
            checks,
            patch_text,
            config=envopts.config,
            overrides=overrides,
            steps=progress.steps,
            rebuild=envopts.rebuild,
        )
    if as_json:
        stdout.print_json(json.dumps(verdict.to_json()))
    else:
        render.verdict(verdict)
    return exit_code(verdict)
