"""Definitions, references and imports of a source file, from tree-sitter.

Everything language-specific is one ``Grammar`` in ``GRAMMARS``, keyed by file suffix: the
module that ships the grammar (a wheel such as ``tree-sitter-python``) and a tag query that
names the captures this module reads. Another language is another entry, no code:

- ``@definition.KIND`` on a definition's node, ``@name`` on its name (KIND is ``class``,
  ``function``, ...: it is shown to the user as is);
- ``@reference`` on an identifier used (a call, an attribute, a base class, a name);
- ``@import`` on a module a file imports, as written (``pkg.mod``, ``..mod``).
"""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Grammar:
    name: str
    #: The module whose ``language()`` returns the grammar (a tree-sitter grammar wheel).
    module: str
    query: str
    #: The separator of an import's path (``.`` in Python) and what a relative import
    #: starts with; None when the language has no such thing.
    import_separator: str | None = None


_PYTHON_TAGS = """
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
(identifier) @reference
(import_from_statement module_name: [(dotted_name) (relative_import)] @import)
(import_statement name: [(dotted_name) @import (aliased_import name: (dotted_name) @import)])
"""

#: File suffix -> grammar. A grammar whose module is not installed is skipped (its files
#: get BM25 and path matches, no symbols).
GRAMMARS: dict[str, Grammar] = {
    ".py": Grammar("python", "tree_sitter_python", _PYTHON_TAGS, import_separator="."),
}


@dataclass
class Definition:
    name: str
    kind: str
    #: First and last line, 1-based.
    line: int
    end: int
    #: The enclosing definition's name (``Foo`` for method ``Foo.bar``), or "".
    parent: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.parent}.{self.name}" if self.parent else self.name

    def to_json(self) -> list[Any]:
        return [self.name, self.kind, self.line, self.end, self.parent]

    @classmethod
    def from_json(cls, row: list[Any]) -> Definition:
        return cls(*row)


@dataclass
class FileSymbols:
    definitions: list[Definition] = field(default_factory=list)
    #: Identifier -> how often the file uses it (definitions' own names excluded).
    references: Counter[str] = field(default_factory=Counter)
    imports: list[str] = field(default_factory=list)


def grammar_for(path: str) -> Grammar | None:
    suffix = "." + path.rsplit(".", 1)[-1] if "." in path else ""
    return GRAMMARS.get(suffix)


@cache
def _compiled(suffix: str) -> tuple[Any, Any] | None:
    """The parser and query for ``suffix``, built once; None when the grammar is missing."""
    from tree_sitter import Language, Parser, Query

    grammar = GRAMMARS[suffix]
    try:
        module = importlib.import_module(grammar.module)
    except ImportError:
        return None
    language = Language(module.language())
    return Parser(language), Query(language, grammar.query)


def parse(path: str, text: str) -> FileSymbols:
    """The definitions, references and imports of one file (empty for a language with no
    grammar installed)."""
    from tree_sitter import QueryCursor

    grammar = grammar_for(path)
    if grammar is None:
        return FileSymbols()
    compiled = _compiled("." + path.rsplit(".", 1)[-1])
    if compiled is None:
        return FileSymbols()
    parser, query = compiled
    tree = parser.parse(text.encode("utf-8", errors="replace"))
    out = FileSymbols()
    named: set[int] = set()
    references: list[Any] = []
    spans: list[tuple[int, int, Definition]] = []
    for _, captures in QueryCursor(query).matches(tree.root_node):
        kinds = [c for c in captures if c.startswith("definition.")]
        if kinds and "name" in captures:
            node, name = captures[kinds[0]][0], captures["name"][0]
            named.add(name.start_byte)
            definition = Definition(
                _text(name),
                kinds[0].split(".", 1)[1],
                node.start_point[0] + 1,
                node.end_point[0] + 1,
            )
            spans.append((node.start_byte, node.end_byte, definition))
        for node in captures.get("import", ()):
            out.imports.append(_text(node))
        references.extend(captures.get("reference", ()))
    # A definition's name is captured as an identifier too: it is not a use.
    out.references = Counter(_text(n) for n in references if n.start_byte not in named)
    spans.sort(key=lambda s: (s[0], -s[1]))
    stack: list[tuple[int, int, Definition]] = []
    for span in spans:
        while stack and stack[-1][1] <= span[0]:
            stack.pop()
        if stack:
            span[2].parent = stack[-1][2].name
        stack.append(span)
        out.definitions.append(span[2])
    return out


def _text(node: Any) -> str:
    return node.text.decode("utf-8", errors="replace")
