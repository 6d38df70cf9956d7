"""The one edit format the model writes, and turning its edits into a unified diff.

Search/replace blocks name a file and quote the lines to change, so an edit never depends
on line numbers the model cannot count. Matching forgives what models get wrong most
(trailing whitespace, a uniformly shifted indentation), and a block that matches nothing,
or more than one place, gets an error that quotes the nearest lines, so the next attempt
can correct itself. ``FORMAT_HELP`` is what the prompts show the model: a complete block.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

#: The format as the model is taught it: a complete block that ``parse`` reads back.
FORMAT_HELP = """\
src/shapes.py
<<<<<<< SEARCH
def area(r):
    return 3.14 * r * r
=======
def area(r):
    return math.pi * r * r
>>>>>>> REPLACE

One block per change: the file's path on its own line, then the lines as they are now
between SEARCH and =======, then the lines as they should be before REPLACE. An empty
SEARCH section creates a new file."""

_BLOCK = re.compile(
    r"^(?P<path>[^\n`]+?)[ \t]*\n(?:```[^\n]*\n)?"
    r"<{5,9} SEARCH[ \t]*\n(?P<search>.*?)^={5,9}[ \t]*\n"
    r"(?P<replace>.*?)^>{5,9} REPLACE[ \t]*$",
    re.S | re.M,
)


@dataclass(frozen=True)
class Edit:
    path: str
    search: str
    replace: str


class EditError(Exception):
    """An edit that cannot be applied; the message is written for the model to read."""


def parse(reply: str) -> list[Edit]:
    """Every search/replace block in a model's reply, in order."""
    edits = []
    for match in _BLOCK.finditer(reply):
        path = match.group("path").strip().strip("`*").strip()
        _check_path(path)
        edits.append(Edit(path, match.group("search"), match.group("replace")))
    if not edits:
        if "<<<<<<< SEARCH" in reply or ">>>>>>> REPLACE" in reply:
            raise EditError(
                "a search/replace block is malformed: each needs a file path line, then "
                "'<<<<<<< SEARCH', the old lines, '=======', the new lines, '>>>>>>> REPLACE'"
            )
        raise EditError("the reply has no search/replace blocks: answer with at least one")
    return edits


def _check_path(path: str) -> None:
    """A block names a file inside the repository, the way git spells it: no absolute
    path, no ``..``, nothing under ``.git``."""
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "~")) or ".." in parts or ".git" in parts or ":" in parts[0]:
        raise EditError(
            f"{path}: name files by their path inside the repository (like src/pkg/mod.py), "
            "with no '..' and nothing under .git"
        )


def _normalize(line: str) -> str:
    return line.rstrip()


def _find(lines: list[str], search: list[str]) -> list[int]:
    """Start indexes where ``search`` matches: exactly, then ignoring trailing space, then
    ignoring a uniform indentation difference."""
    n = len(search)
    exact = [i for i in range(len(lines) - n + 1) if lines[i : i + n] == search]
    if exact:
        return exact
    stripped = [_normalize(s) for s in search]
    loose = [
        i
        for i in range(len(lines) - n + 1)
        if [_normalize(x) for x in lines[i : i + n]] == stripped
    ]
    if loose:
        return loose
    dedented = [s.strip() for s in search]
    return [
        i for i in range(len(lines) - n + 1) if [x.strip() for x in lines[i : i + n]] == dedented
    ]


def _reindent(replace: list[str], found: list[str], search: list[str]) -> list[str]:
    """Shift the replacement by the indentation the matched lines really have."""

    def indent(s: str) -> str:
        return s[: len(s) - len(s.lstrip())]

    pairs = [(f, s) for f, s in zip(found, search, strict=True) if s.strip()]
    if not pairs:
        return replace
    real, written = indent(pairs[0][0]), indent(pairs[0][1])
    if real == written:
        return replace
    out = []
    for line in replace:
        if line.startswith(written):
            out.append(real + line[len(written) :])
        else:
            out.append(line)
    return out


def _nearest(lines: list[str], search: list[str]) -> str:
    """The region of the file most like ``search``, quoted with line numbers."""
    n = max(1, len(search))
    target = "\n".join(s.strip() for s in search)
    best, best_at = 0.0, 0
    for i in range(max(1, len(lines) - n + 1)):
        window = "\n".join(x.strip() for x in lines[i : i + n])
        ratio = difflib.SequenceMatcher(None, target, window).ratio()
        if ratio > best:
            best, best_at = ratio, i
    quoted = lines[best_at : best_at + n]
    return "\n".join(f"{best_at + k + 1:5}| {line}" for k, line in enumerate(quoted))


def apply(files: dict[str, str], edits: list[Edit]) -> dict[str, str]:
    """Apply ``edits`` to ``files`` (path -> text); return the new texts of changed files."""
    new = dict(files)
    for number, edit in enumerate(edits, 1):
        where = f"block {number} ({edit.path})"
        if not edit.search.strip():
            if edit.path in new and new[edit.path].strip():
                raise EditError(f"{where}: an empty SEARCH creates a file, but it exists")
            new[edit.path] = edit.replace
            continue
        if edit.path not in new:
            raise EditError(f"{where}: no such file in the repository")
        lines = new[edit.path].splitlines(keepends=False)
        search = edit.search.splitlines()
        starts = _find(lines, search)
        if not starts:
            raise EditError(
                f"{where}: the SEARCH lines match nothing in the file. The nearest lines are:\n"
                f"{_nearest(lines, search)}\nQuote the file's lines exactly."
            )
        if len(starts) > 1:
            at = ", ".join(str(s + 1) for s in starts[:5])
            raise EditError(
                f"{where}: the SEARCH lines match {len(starts)} places (lines {at}); "
                "include more surrounding lines so they match exactly one"
            )
        start = starts[0]
        found = lines[start : start + len(search)]
        replacement = _reindent(edit.replace.splitlines(), found, search)
        ending = "\n" if new[edit.path].endswith("\n") or not new[edit.path] else ""
        lines[start : start + len(search)] = replacement
        new[edit.path] = "\n".join(lines) + (ending if lines else "")
    return {p: t for p, t in new.items() if files.get(p) != t}


def read_files(root: Path, edits: list[Edit]) -> dict[str, str]:
    """The current text of every file the edits name (absent files are left out)."""
    out = {}
    for edit in edits:
        path = (root / edit.path).resolve()
        if root.resolve() not in path.parents:
            raise EditError(f"{edit.path}: outside the repository")
        if (root / edit.path).is_symlink():
            raise EditError(f"{edit.path} is a symbolic link: edit the file it points to")
        if path.is_file():
            out[edit.path] = path.read_text(encoding="utf-8", errors="replace")
    return out


def unified_diff(before: dict[str, str], after: dict[str, str]) -> str:
    """A ``git apply``-able diff from old to new file texts."""
    chunks = []
    for path in sorted(after):
        old = before.get(path)
        old_lines = (old or "").splitlines(keepends=True)
        new_lines = after[path].splitlines(keepends=True)
        for lines in (old_lines, new_lines):
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n\\ No newline at end of file\n"
        header = f"diff --git a/{path} b/{path}\n"
        if old is None:
            header += "new file mode 100644\n"
        diff = difflib.unified_diff(
            old_lines,
            new_lines,
            "/dev/null" if old is None else f"a/{path}",
            f"b/{path}",
        )
        body = "".join(diff)
        if body:
            chunks.append(header + body)
    return "".join(chunks)
