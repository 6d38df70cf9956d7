"""Issues in: one type for every source, and the cleaning untrusted text needs.

Issue text is written by anyone who can open an issue, so it is treated as data: what a
person cannot see (HTML comments, zero-width and bidirectional control characters) is
removed before a model reads it, because that is where prompt injections hide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from verifix.sandbox.errors import UsageError

_HTML_COMMENT = re.compile(r"<!--.*?(-->|$)", re.S)
#: Zero-width characters, bidi embeddings/overrides/isolates, the BOM, soft hyphen, tags.
_INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]"
)


FENCE_START, FENCE_END = "<<<ISSUE", "ISSUE>>>"


@dataclass(frozen=True)
class Comment:
    author: str
    body: str


@dataclass(frozen=True)
class Issue:
    """An issue from any source; ``url`` is set for issues that live somewhere (GitHub)."""

    title: str
    body: str
    comments: tuple[Comment, ...] = ()
    labels: tuple[str, ...] = ()
    url: str | None = None
    number: int | None = None

    def as_text(self) -> str:
        """Title, body and comments, cleaned, for the prompt."""
        parts = [f"Title: {clean(self.title)}", "", clean(self.body)]
        for comment in self.comments:
            parts += ["", f"Comment by {clean(comment.author)}:", clean(comment.body)]
        return "\n".join(parts).strip()

    def fenced(self) -> str:
        """The issue between markers the prompt calls data; the text cannot close them."""
        text = self.as_text().replace(FENCE_END, "ISSUE> > >").replace(FENCE_START, "< < <ISSUE")
        return f"{FENCE_START}\n{text}\n{FENCE_END}"


def clean(text: str) -> str:
    """Remove what a person reading the issue cannot see."""
    text = _HTML_COMMENT.sub("", text)
    return _INVISIBLE.sub("", text)


def from_text(text: str, source: str = "--issue-text") -> Issue:
    """A markdown or plain-text issue; a first ``# heading`` is its title."""
    if not clean(text).strip():
        raise UsageError(f"the issue from {source} is empty: describe the problem to fix")
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("# "):
        return Issue(title=lines[0][2:].strip(), body="\n".join(lines[1:]).strip())
    first = lines[0].strip()
    return Issue(title=first[:120], body=text.strip())


def from_file(path: Path) -> Issue:
    if not path.is_file():
        raise UsageError(f"issue file {path} does not exist")
    return from_text(path.read_text(encoding="utf-8", errors="replace"), source=str(path))
