"""Consensus: which accepted patches are the same fix, and which fix most candidates found.

Two candidates rarely write byte-identical patches for the same fix: comments, docstrings,
blank lines, quoting and the order of hunks differ. A patch is normalized by the files it
leaves behind: each changed Python file is parsed and unparsed through ``ast`` (comments,
formatting and docstrings gone), other files compared with whitespace collapsed; a file
that does not parse falls back to its raw text. Patches with equal normal forms are one
fix; the fix with the most votes wins (Agentless's selection), ties go to the smallest
patch, or to a judge (``judge``) when one is configured.
"""

from __future__ import annotations

import ast
import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .engine import Attempt

_DIFF_FILE = re.compile(r"^\+\+\+ b/(\S+)", re.M)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def normal_source(path: str, text: str) -> str:
    """A file's text with everything a reader would call "the same code" made equal."""
    if path.endswith(".py"):
        try:
            return ast.unparse(_strip_docstrings(ast.parse(text)))
        except (SyntaxError, ValueError, RecursionError):
            pass  # not Python this interpreter reads: compare the raw text
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def normal_form(after: dict[str, str]) -> str:
    """The key of a patch, from the files it leaves (path -> text), in path order."""
    digest = hashlib.sha256()
    for path in sorted(after):
        digest.update(path.encode() + b"\0" + normal_source(path, after[path]).encode() + b"\0")
    return digest.hexdigest()[:16]


def patched_files(patch: str) -> list[str]:
    return sorted(set(_DIFF_FILE.findall(patch)))


@dataclass
class Vote:
    """One distinct fix: its normal form, the attempts that wrote it, the smallest patch."""

    key: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.attempts)

    @property
    def smallest(self) -> Attempt:
        return min(self.attempts, key=lambda a: (len(a.patch or ""), a.number))


def tally(
    accepted: Sequence[Attempt], files_after: Callable[[Attempt], dict[str, str]]
) -> list[Vote]:
    """The distinct fixes among ``accepted``, most votes first (then the smallest patch).
    ``files_after(attempt)`` gives the changed files' text after its patch."""
    votes: dict[str, Vote] = {}
    for attempt in accepted:
        key = normal_form(files_after(attempt))
        votes.setdefault(key, Vote(key)).attempts.append(attempt)
    return sorted(
        votes.values(), key=lambda v: (-v.count, len(v.smallest.patch or ""), v.smallest.number)
    )


class Agreement:
    """Accepted patches counted by fix, for ``--stop-at``: ``add`` says when ``needed`` of
    them are one fix (``same_fix`` gives an attempt's normal form). Candidates add from
    their threads. With no ``needed`` or ``same_fix``, nothing is counted."""

    def __init__(self, needed: int | None, same_fix: Callable[[Attempt], str] | None) -> None:
        self.needed = needed
        self.same_fix = same_fix
        self._by_fix: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def counting(self) -> bool:
        return self.needed is not None and self.same_fix is not None

    @property
    def count(self) -> int:
        """Accepted patches counted so far."""
        with self._lock:
            return sum(self._by_fix.values())

    def add(self, accepted: Attempt) -> bool:
        """One more vote for ``accepted``'s fix; True once that fix has ``needed``."""
        if self.needed is None or self.same_fix is None:
            return False
        key = self.same_fix(accepted)
        with self._lock:
            self._by_fix[key] = self._by_fix.get(key, 0) + 1
            return self._by_fix[key] >= self.needed
