"""Handing a verified patch to the user's repository, only when asked (--apply, --commit).

--apply writes the patch into the working tree; --commit makes a commit of it on a new
branch with git's plumbing (a throwaway index, ``commit-tree``, a new ref), so the current
branch, the index and the working tree stay exactly as they were. Both refuse when the
patch touches a file with uncommitted changes: that work is the user's, not ours.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from verifix.sandbox.errors import UsageError

from .issue import Issue
from .redact import redact


def _git(repo: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise UsageError(f"git {args[0]} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout


def patched_files(patch: str) -> list[str]:
    return sorted(set(re.findall(r"^\+\+\+ b/(\S+)", patch, re.M)))


def _refuse_dirty(repo: Path, patch: str) -> None:
    files = patched_files(patch)
    dirty = [
        line for line in _git(repo, "status", "--porcelain", "--", *files).splitlines() if line
    ]
    if dirty:
        names = ", ".join(line[3:] for line in dirty)
        raise UsageError(
            f"the patch touches files with uncommitted changes ({names}): commit or stash "
            "them first, or take the patch from stdout"
        )


def apply_to_worktree(repo: Path, patch: str) -> None:
    _refuse_dirty(repo, patch)
    _git(repo, "apply", "-", stdin=patch)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "fix"


def commit_to_branch(
    repo: Path,
    patch: str,
    issue: Issue,
    explanation: str,
    taken: set[str] | frozenset = frozenset(),
    *,
    parent: str = "HEAD",
    branch: str | None = None,
) -> str:
    """Commit ``patch`` on ``parent`` as a new branch; return the branch's name. Names in
    ``taken`` (say, branches on the remote) are skipped like local ones."""
    if parent == "HEAD":
        _refuse_dirty(repo, patch)
    head = _git(repo, "rev-parse", "--verify", parent).strip()
    base = branch or (
        f"verifix/issue-{issue.number}" if issue.number else f"verifix/{_slug(issue.title)}"
    )
    name, n = base, 1
    while name in taken or (
        subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"],
            capture_output=True,
        ).returncode
        == 0
    ):
        n += 1
        name = f"{base}-{n}"
    reference = issue.url or issue.title
    message = redact(
        f"Fix: {issue.title}\n\n{explanation}\n\nIssue: {reference}\nVerified by verifix.\n"
    )
    with tempfile.TemporaryDirectory(prefix="verifix-commit-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(repo, "read-tree", head, env=env)
        _git(repo, "apply", "--cached", "-", stdin=patch, env=env)
        tree = _git(repo, "write-tree", env=env).strip()
    commit = _git(repo, "commit-tree", tree, "-p", head, "-m", message).strip()
    _git(repo, "branch", name, commit)
    return name
