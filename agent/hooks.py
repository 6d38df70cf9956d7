"""Installing verifix as a git hook without losing the one that was there.

An existing hook is kept beside ours (``<hook>.verifix-chained``) and run first, with the
same arguments and input; uninstalling puts it back. A repository whose ``core.hooksPath``
points elsewhere (husky, pre-commit, a shared folder) is left alone: writing into
``.git/hooks`` there would do nothing, and writing into that folder is not ours to do.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
from pathlib import Path

from verifix.sandbox import git
from verifix.sandbox.errors import UsageError

MARKER = "# installed by verifix"
STAGES = ("pre-push", "pre-commit")
CHAINED = ".verifix-chained"


def hooks_dir(repo: Path) -> Path:
    configured = git.config_value(repo, "core.hooksPath")
    if configured:
        raise UsageError(
            f"core.hooksPath is set to {configured} in {repo}: hooks there are managed by "
            "another tool; add 'verifix hook run --stage pre-push' to it yourself, or use "
            "the pre-commit framework's verifix hook"
        )
    return git.git_path(repo, "hooks")


def _script(stage: str, verifix: str) -> str:
    # pre-push hooks read the pushed refs on stdin: keep them for the chained hook and us.
    return f"""#!/bin/sh
{MARKER} ({stage}); 'verifix hook uninstall' removes it and restores any earlier hook
input=$(cat)
chained="$(dirname "$0")/{stage}{CHAINED}"
if [ -x "$chained" ]; then
  printf '%s\\n' "$input" | "$chained" "$@" || exit $?
fi
[ "${{VERIFIX_HOOK:-1}}" = "0" ] && exit 0
printf '%s\\n' "$input" | exec {verifix} hook run --stage {stage} "$@"
"""


def is_ours(path: Path) -> bool:
    return path.is_file() and MARKER in path.read_text(errors="replace")


def install(repo: Path, stage: str) -> str:
    folder = hooks_dir(repo)
    hook = folder / stage
    if is_ours(hook):
        return f"verifix is already the {stage} hook of {repo}"
    folder.mkdir(parents=True, exist_ok=True)
    kept = ""
    if hook.exists():
        hook.rename(folder / f"{stage}{CHAINED}")
        kept = f"; the earlier {stage} hook still runs first"
    verifix = shutil.which("verifix") or "verifix"
    hook.write_text(_script(stage, shlex.quote(verifix)))
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return f"installed the {stage} hook in {hook}{kept}"


def uninstall(repo: Path) -> list[str]:
    folder = hooks_dir(repo)
    done = []
    for stage in STAGES:
        hook, chained = folder / stage, folder / f"{stage}{CHAINED}"
        if is_ours(hook):
            hook.unlink()
            if chained.exists():
                chained.rename(hook)
                done.append(f"removed the {stage} hook and restored the earlier one")
            else:
                done.append(f"removed the {stage} hook")
    return done or ["verifix was not installed as a hook"]


def status(repo: Path) -> list[str]:
    folder = hooks_dir(repo)
    lines = []
    for stage in STAGES:
        hook = folder / stage
        if is_ours(hook):
            chained = (folder / f"{stage}{CHAINED}").exists()
            lines.append(
                f"{stage}: verifix" + (" (chained after the earlier hook)" if chained else "")
            )
        elif hook.exists():
            lines.append(f"{stage}: another hook")
    if os.environ.get("VERIFIX_HOOK") == "0":
        lines.append("VERIFIX_HOOK=0 is set: the hook is skipped")
    return lines or ["no verifix hook installed"]
