"""Issues in: one type for every source, and the cleaning untrusted text needs.

Issue text is written by anyone who can open an issue, so it is treated as data: what a
person reading the rendered issue cannot see is removed before a model reads it, because
that is where prompt injections hide. The cleaning applies to the whole text, code blocks
included: a parser that disagreed with GitHub's about where code starts would let hidden
text through, and losing an attribute from a code sample costs less than that.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from verifix.sandbox.errors import UsageError

_HTML_COMMENT = re.compile(r"<!--.*?(-->|$)", re.S)
#: Named and numeric character references; the invisible ones are dropped, the rest kept as
#: written (a reader sees ``&lt;`` in code as ``&lt;``).
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
#: Code points without a glyph that are neither format (Cf) nor control (Cc) characters:
#: variation selectors (which can smuggle bytes), fillers, joiners, the whole tag block.
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0000-\U000e0fff]"
)
_KEPT_CONTROLS = frozenset("\t\n\r")
_TAG = re.compile(
    r"<(?P<name>[A-Za-z][\w-]*)"
    r"(?P<attrs>(?:\s+[^\s\"'=/>]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)\s*/?>"
)
_ATTR = re.compile(r"\s+(?P<name>[^\s\"'=/>]+)(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?")
#: Attributes whose text is not on the page: image alternatives, hover and assistive text.
_UNSEEN_ATTRS = frozenset({"alt", "title", "aria-label", "aria-description", "placeholder"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
#: ``[label]: destination "title"``, the title possibly on the next line: not rendered.
_DEFINITION = re.compile(
    r"^ {0,3}\[(?P<label>(?:[^\[\]\\]|\\.)+)\]:[ \t]*\n?[ \t]*(?P<dest><[^>\n]*>|\S+)"
    r"(?:(?:[ \t]+|[ \t]*\n[ \t]*)(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?[ \t]*$",
    re.M,
)
#: ``![alt text]`` followed by ``(`` or ``[`` (or alone, when a definition names it).
_IMAGE = re.compile(r"!\[(?P<alt>(?:[^\[\]]|\[[^\[\]]*\])*)\](?P<next>[(\[]?)")
#: ``](destination "title")``: the title is hover text.
_LINK_TITLE = re.compile(
    r"\]\(\s*(?P<dest><[^>\n]*>|[^\s)]+)\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\))\s*\)"
)
_BRACKETED = re.compile(r"\[((?:[^\[\]\\]|\\.)+)\]")


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
    """Remove what a person reading the rendered issue cannot see.

    Invisible code points go first, so that one placed inside ``hid&#8203;den`` or
    ``<!-&#8203;-`` cannot hide markup from the steps after it and then vanish itself.
    """
    text = _ENTITY.sub(_visible_entity, text)
    text = "".join(char for char in text if _shown(char))
    text = _HTML_COMMENT.sub("", text)
    text = _strip_html(text)
    return _strip_markdown(text)


def _shown(char: str) -> bool:
    """Whether a code point draws something (or is a tab or line break)."""
    if char in _KEPT_CONTROLS:
        return True
    return unicodedata.category(char) not in ("Cc", "Cf") and not _INVISIBLE.match(char)


def _visible_entity(match: re.Match[str]) -> str:
    """A character reference stays as written unless all it stands for is invisible."""
    decoded = html.unescape(match.group(0))
    if decoded != match.group(0) and not any(_shown(char) for char in decoded):
        return ""
    return match.group(0)


def _strip_html(text: str) -> str:
    """Drop elements marked ``hidden`` with their content, and text-only attributes."""
    out: list[str] = []
    pos = 0
    while tag := _TAG.search(text, pos):
        out.append(text[pos : tag.start()])
        attrs = list(_ATTR.finditer(tag["attrs"]))
        names = {attr["name"].lower() for attr in attrs}
        if "hidden" in names:
            pos = _element_end(text, tag)
            continue
        if any(_unseen(name) for name in names):
            kept = "".join(a.group(0) for a in attrs if not _unseen(a["name"].lower()))
            out.append(f"<{tag['name']}{kept}{'/' if tag.group(0).endswith('/>') else ''}>")
        else:
            out.append(tag.group(0))
        pos = tag.end()
    out.append(text[pos:])
    return "".join(out)


def _unseen(attribute: str) -> bool:
    return attribute in _UNSEEN_ATTRS or attribute.startswith("data-")


def _element_end(text: str, tag: re.Match[str]) -> int:
    """Where the element opened by ``tag`` ends, nested same-name elements counted; an
    element never closed hides the rest, as a browser would."""
    name = tag["name"].lower()
    if name in _VOID or tag.group(0).endswith("/>"):
        return tag.end()
    edges = re.compile(rf"<(/?){re.escape(name)}(?=[\s/>])[^>]*>", re.I)
    depth = 1
    for edge in edges.finditer(text, tag.end()):
        depth += -1 if edge.group(1) else 1
        if depth == 0:
            return edge.end()
    return len(text)


def _strip_markdown(text: str) -> str:
    """Drop image alt text, link titles, and link definitions nothing refers to (the
    ``[//]: # (comment)`` idiom); referred-to definitions keep only label and address."""
    defined = {_label(m["label"]) for m in _DEFINITION.finditer(text)}

    def image(match: re.Match[str]) -> str:
        if match["next"] or _label(match["alt"]) in defined:
            return f"![]{match['next']}"
        return match.group(0)

    text = _LINK_TITLE.sub(r"](\g<dest>)", _IMAGE.sub(image, text))
    used = {_label(m.group(1)) for m in _BRACKETED.finditer(_DEFINITION.sub("", text))}

    def definition(match: re.Match[str]) -> str:
        label = match["label"]
        return f"[{label}]: {match['dest']}" if _label(label) in used else ""

    return _DEFINITION.sub(definition, text)


def _label(text: str) -> str:
    """A link label as Markdown matches it: case and runs of whitespace do not matter."""
    return " ".join(text.split()).casefold()


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
