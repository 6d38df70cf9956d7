"""Handing a verified patch to the user's repository, only when asked (--apply, --commit).

--apply writes the patch into the working tree; --commit makes a commit of it on a new
branch with git's plumbing (a throwaway index, ``commit-tree``, a new ref), so the current
branch, the index and the working tree stay exactly as they were. Both refuse when the
patch touches a file with uncommitted changes: that work is the user's, not ours.
"""

from __future__ import annotations

import re
from pathlib import Path

from verifix.sandbox import git
from verifix.sandbox.errors import UsageError

from .issue import Issue
from .redact import redact


def patched_files(patch: str) -> list[str]:
    return sorted(set(re.findall(r"^\+\+\+ b/(\S+)", patch, re.M)))


def _refuse_dirty(repo: Path, patch: str) -> None:
    dirty = git.changed_paths(repo, patched_files(patch))
    if dirty:
        names = ", ".join(dirty)
        raise UsageError(
            f"the patch touches files with uncommitted changes ({names}): commit or stash "
            "them first, or take the patch from stdout"
        )


def apply_to_worktree(repo: Path, patch: str) -> None:
    _refuse_dirty(repo, patch)
    git.apply_patch(repo, patch)


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
    head = git.resolve_commit(repo, parent)
    base = branch or (
        f"verifix/issue-{issue.number}" if issue.number else f"verifix/{_slug(issue.title)}"
    )
    name, n = base, 1
    while name in taken or git.branch_exists(repo, name):
        n += 1
        name = f"{base}-{n}"
    reference = issue.url or issue.title
    message = redact(
        f"Fix: {issue.title}\n\n{explanation}\n\nIssue: {reference}\nVerified by verifix.\n"
    )
    git.create_branch(repo, name, git.commit_patch(repo, head, patch, message))
    return name
