"""What the model sees of the repo: its layout, the files that matter in full, and an
outline (classes, functions, signatures) of the ones around them, within a budget.

Files matter when the issue names them (by path, file name or module) or when a failing
test's traceback passes through them. Localization is a plug point: ``build`` takes any
``Localizer`` (``protocols``); ``Mentions`` is the one that ranks by those mentions.
"""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from pathlib import Path

from verifix.sandbox.testrun import TestReport

from .protocols import Localizer

#: Rough characters per token for code, to turn a token budget into text.
CHARS_PER_TOKEN = 3.5
_LAYOUT_MAX_FILES = 300
_FULL_FILES_MAX = 6
_TRACE_PATH = re.compile(r"([\w./-]+\.py)[:\"]")


_SKIP = {".git", ".tox", ".nox", ".venv", "venv", "node_modules", "build", "dist"}
#: A file bigger than this is data, not code worth a prompt.
_MAX_FILE_BYTES = 1_000_000


def source_files(root: Path) -> list[str]:
    """Repo-relative paths of Python files, skipping hidden and vendored folders. Symbolic
    links are never followed, to folders or to files: a repo may commit one that points
    out of the snapshot (``hostenv.py -> /proc/self/environ``)."""
    out = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith("."))
        for name in sorted(names):
            path = Path(folder, name)
            if name.endswith(".py") and not path.is_symlink():
                out.append(path.relative_to(root).as_posix())
    return sorted(out)


def read_source(root: Path, rel: str) -> str:
    """A file's text, only if it is a regular file inside ``root`` reached through no
    symbolic link (opened with O_NOFOLLOW, checked after opening); else ""."""
    path = root / rel
    real_root = root.resolve()
    if path.resolve().parent != (real_root / rel).parent or real_root not in path.resolve().parents:
        return ""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_FILE_BYTES:
            return ""
        return handle.read(_MAX_FILE_BYTES).decode("utf-8", errors="replace")


def rank_files(files: list[str], issue_text: str, failures: list[str]) -> list[str]:
    """Files named by the issue or by failing tracebacks, most mentioned first."""
    scores: Counter[str] = Counter()
    for path in files:
        module = path[:-3].replace("/", ".")
        stem = Path(path).stem
        for needle, weight in ((path, 5), (module, 4), (Path(path).name, 3)):
            scores[path] += weight * issue_text.count(needle)
        named = re.search(rf"\b{re.escape(stem)}\b", issue_text)
        if named and stem not in ("__init__", "conftest"):
            scores[path] += 1
    for message in failures:
        for mentioned in _TRACE_PATH.findall(message):
            for path in files:
                if mentioned.endswith(path):
                    scores[path] += 3
    return [p for p, score in scores.most_common() if score > 0]


class Mentions:
    """The default localizer: files the issue or a failing traceback mentions."""

    def rank(self, root: Path, files: list[str], issue_text: str, failures: list[str]) -> list[str]:
        return rank_files(files, issue_text, failures)


def outline(text: str) -> str:
    """Classes and functions with their signatures, from tree-sitter's parse."""
    import tree_sitter_python
    from tree_sitter import Language, Parser

    parser = Parser(Language(tree_sitter_python.language()))
    source = text.encode()
    tree = parser.parse(source)
    lines: list[str] = []

    def walk(node, depth: int) -> None:
        for child in node.children:
            target = child
            if child.type == "decorated_definition":
                target = child.child_by_field_name("definition") or child
            if target.type in ("class_definition", "function_definition"):
                body = target.child_by_field_name("body")
                end = body.start_byte if body else target.end_byte
                header = source[target.start_byte : end].decode(errors="replace")
                header = " ".join(header.split()).rstrip(":")
                lines.append("    " * depth + header)
                if target.type == "class_definition" and body is not None:
                    walk(body, depth + 1)

    walk(tree.root_node, 0)
    return "\n".join(lines)


def build(
    root: Path,
    issue_text: str,
    baseline: TestReport,
    budget_tokens: int,
    localizer: Localizer | None = None,
) -> str:
    """The repo context for the first prompt, no longer than ``budget_tokens``: the
    layout, the files ``localizer`` ranks first in full, outlines of their neighbours."""
    budget = int(budget_tokens * CHARS_PER_TOKEN)
    files = source_files(root)
    failures = [r.message for r in baseline.results.values() if r.failed]
    ranked = (localizer or Mentions()).rank(root, files, issue_text, failures)
    parts: list[str] = []

    layout = files[:_LAYOUT_MAX_FILES]
    more = f"\n... and {len(files) - len(layout)} more" if len(files) > len(layout) else ""
    parts.append("## Repository layout (Python files)\n" + "\n".join(layout) + more)
    used = len(parts[0])

    shown: set[str] = set()
    for path in ranked[:_FULL_FILES_MAX]:
        text = read_source(root, path)
        if not text.strip():
            continue
        block = f"## {path}\n```python\n{text}\n```"
        if used + len(block) > budget:
            break
        parts.append(block)
        shown.add(path)
        used += len(block)

    folders = {Path(s).parent for s in shown}
    neighbours = [p for p in files if p not in shown and Path(p).parent in folders]
    for path in neighbours:
        sketch = outline(read_source(root, path))
        block = f"## {path} (outline)\n{sketch}"
        if not sketch or used + len(block) > budget:
            continue
        parts.append(block)
        used += len(block)
    return "\n\n".join(parts)
