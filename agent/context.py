"""What the model sees of the repo in its first prompt, within a token budget.

The budget (``budget_tokens``, a quarter of the model's window, see ``model``) is split:

- **layout** (up to ``LAYOUT_SHARE``): the Python files, those in the ranked files' folders
  first, cut with a count when the repository is large;
- **files** (up to ``FILES_SHARE`` with what the layout left): the files the localizer ranks
  first, in full; a file too large for what is left shows only its relevant functions and
  classes (the localizer's ranked symbols), quoted exactly so the model can edit them;
- **map** (the rest): tree-sitter outlines (classes, functions, signatures) of the next
  ranked files and of the shown files' neighbours, so the model knows what surrounds them.

Localization is a plug point: ``build`` takes any ``Localizer`` (``protocols``); the
default is ``locate.Locator`` (BM25, named symbols, mentions, tracebacks, the repository
map). A localizer with a ``locate`` method also gives the symbols used for large files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verifix.sandbox.testrun import TestReport

from .protocols import Localizer
from .sources import read_source, source_files

#: Rough characters per token for code, to turn a token budget into text.
CHARS_PER_TOKEN = 3.5
LAYOUT_SHARE = 0.10
FILES_SHARE = 0.65
_FULL_FILES_MAX = 6
_MAP_FILES_MAX = 40


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


def _ranked(
    localizer: Localizer, root: Path, files: list[str], issue_text: str, failures: list[str]
) -> list[tuple[str, list[tuple[int, int]]]]:
    """Ranked paths, each with the line ranges of its relevant symbols (when known)."""
    locate = getattr(localizer, "locate", None)
    if locate is None:
        return [(path, []) for path in localizer.rank(root, files, issue_text, failures)]
    ranking: Any = locate(root, issue_text, failures, files=files, symbols_for=_FULL_FILES_MAX)
    return [(f.path, [(s.line, s.end) for s in f.symbols]) for f in ranking.files]


def _layout(files: list[str], first: list[str], room: int) -> str:
    """The file list within ``room`` characters: the ranked files' folders first."""
    folders = {str(Path(p).parent) for p in first}
    ordered = [p for p in files if str(Path(p).parent) in folders]
    ordered += [p for p in files if str(Path(p).parent) not in folders]
    head = "## Repository layout (Python files)\n"
    shown: list[str] = []
    used = len(head)
    for path in ordered:
        if used + len(path) + 1 + 40 > room and len(shown) < len(ordered) - 1:
            break
        shown.append(path)
        used += len(path) + 1
    listing = sorted(shown)
    more = len(files) - len(listing)
    return head + "\n".join(listing) + (f"\n... and {more} more" if more else "")


def _excerpt(path: str, text: str, ranges: list[tuple[int, int]], room: int) -> str:
    """The relevant functions and classes of a large file, quoted exactly, best first, as
    many as fit in ``room`` characters; "" when none fits."""
    lines = text.splitlines()
    head = f"## {path} (the relevant parts; the file has {len(lines)} lines)\n```python\n"
    tail = "```"
    pieces: list[tuple[int, str]] = []
    used = len(head) + len(tail)
    taken: list[tuple[int, int]] = []
    for start, end in ranges:
        if any(start <= b and end >= a for a, b in taken):
            continue  # inside (or around) a part already shown
        piece = f"# lines {start}-{end}\n" + "\n".join(lines[start - 1 : end]) + "\n"
        if used + len(piece) > room:
            continue
        taken.append((start, end))
        pieces.append((start, piece))
        used += len(piece)
    if not pieces:
        return ""
    return head + "".join(piece for _, piece in sorted(pieces)) + tail


def build(
    root: Path,
    issue_text: str,
    baseline: TestReport,
    budget_tokens: int,
    localizer: Localizer | None = None,
) -> str:
    """The repo context for the first prompt, no longer than ``budget_tokens``."""
    if localizer is None:
        from .locate import Locator  # bm25s and the index: only when a prompt is built

        localizer = Locator()
    budget = int(budget_tokens * CHARS_PER_TOKEN)
    files = source_files(root)
    failures = [r.message for r in baseline.results.values() if r.failed]
    ranked = _ranked(localizer, root, files, issue_text, failures)
    top = [path for path, _ in ranked[:_FULL_FILES_MAX]]
    parts = [_layout(files, top, int(budget * LAYOUT_SHARE))]
    used = len(parts[0])

    shown: list[str] = []
    files_room = int(budget * (LAYOUT_SHARE + FILES_SHARE))
    for path, ranges in ranked[:_FULL_FILES_MAX]:
        text = read_source(root, path)
        if not text.strip():
            continue
        block = f"## {path}\n```python\n{text}\n```"
        if used + len(block) > files_room:
            block = _excerpt(path, text, ranges, files_room - used)
        if not block:
            continue
        parts.append(block)
        shown.append(path)
        used += len(block) + 2

    folders = {Path(p).parent for p in shown}
    nearby = [p for p in files if Path(p).parent in folders]
    around = [p for p, _ in ranked[_FULL_FILES_MAX:_MAP_FILES_MAX]] + nearby
    for path in dict.fromkeys(p for p in around if p not in shown):
        sketch = outline(read_source(root, path))
        block = f"## {path} (outline)\n{sketch}"
        if not sketch or used + len(block) + 2 > budget:
            continue
        parts.append(block)
        used += len(block) + 2
    return "\n\n".join(parts)
