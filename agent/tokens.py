"""Identifier-aware tokens, for matching an issue's words against code.

``parseHeader``, ``parse_header`` and "parse header" should meet: an identifier is split at
underscores, case changes and digits, each part lowercased, and the whole identifier is kept
too, as its ``key`` (lowercase, underscores dropped), so ``parse_header`` in an issue and
``ParseHeader`` in the code share the token ``parseheader`` as well as ``parse`` and
``header``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

#: An identifier, possibly dotted (``pkg.mod.Class.method``).
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The parts of an identifier: ``HTTPServerError2`` -> HTTP, Server, Error, 2.
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

#: Words that say nothing about where code lives: English glue and Python's keywords and
#: most common names. BM25's idf would discount them anyway; dropping them keeps the index
#: small and the per-symbol overlap honest.
_STOPWORDS = """a an and are as at be but by can could did do does for from had has have how i if in
    into is it its it's me my no not of on or so than that the their them then there these
    they this those to too was we were what when where which while who why will with would
    you your should also just like use used using get set one all any some more most
    self cls def class return import none true false pass elif else try except finally raise
    while yield lambda with assert del global nonlocal async await print len str int
    """
STOPWORDS = frozenset(_STOPWORDS.split())


def key(identifier: str) -> str:
    """The whole identifier, as code and prose both spell it: ``parse_header``,
    ``ParseHeader`` and ``parseHeader`` all give ``parseheader``."""
    return identifier.replace("_", "").lower()


def parts(identifier: str) -> list[str]:
    """The lowercased parts of one identifier: ``getHTTPResponse_code`` -> get, http,
    response, code."""
    return [p.lower() for p in _PART.findall(identifier)]


def split(identifier: str) -> list[str]:
    """An identifier's tokens: its parts, then its key when it has more than one part."""
    pieces = [p for p in parts(identifier) if p not in STOPWORDS and len(p) > 1]
    whole = key(identifier)
    several = len(pieces) != 1 or pieces[0] != whole
    if several and whole not in STOPWORDS and len(whole) > 1 and not whole.isdigit():
        pieces.append(whole)
    return pieces


def tokenize(text: str) -> list[str]:
    """Every identifier-aware token of ``text``, in order, repeats kept (for BM25)."""
    out: list[str] = []
    cache: dict[str, list[str]] = {}
    for word in IDENTIFIER.findall(text):
        pieces = cache.get(word)
        if pieces is None:
            pieces = cache[word] = split(word)
        out.extend(pieces)
    return out


def counts(text: str) -> Counter[str]:
    return Counter(tokenize(text))


def path_tokens(path: str) -> list[str]:
    """The tokens of a repo-relative path: its folders and file name, extension dropped."""
    stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    return tokenize(stem.replace("/", " "))


def expand(term_counts: dict[str, int]) -> Iterable[str]:
    """A bag of words back as a token list, for an index that wants lists."""
    for term, n in term_counts.items():
        yield from [term] * n
