"""The repository as a graph of files, ranked around the files an issue points at.

The idea is Aider's repository map: file A has an edge to file B when A imports B or uses
a name B defines; a personalized PageRank seeded with the files the issue names then ranks
every file by how close it sits to them, so a helper the issue never mentions but the named
class calls into still comes up. Our own take:

- edges: imports (resolved to files) weigh 1; uses of a name weigh sqrt(uses) divided by
  the number of files defining it (a name defined everywhere says little), private names a
  tenth, names defined in more than ``MAX_DEFINERS`` files not at all;
- every edge also runs backwards at ``REVERSE`` of its weight: the callers of a named
  function are suspects too, if lesser ones;
- PageRank is a small power iteration in numpy (the graph has one node per file, a few
  thousand at most; a library such as networkx would cost a dependency and 150 ms of
  import for 20 lines).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .symbols import FileSymbols, grammar_for

MAX_DEFINERS = 12
REVERSE = 0.5
DAMPING = 0.85


@dataclass
class Graph:
    paths: list[str]
    #: (source, target) -> weight, source uses or imports target.
    weights: dict[tuple[int, int], float] = field(default_factory=dict)
    #: (source, target) -> why: "imports" or the most used name.
    why: dict[tuple[int, int], str] = field(default_factory=dict)


def module_names(path: str) -> list[str]:
    """The dotted names a file is imported by: ``src/pkg/mod.py`` -> ``src.pkg.mod`` and
    ``pkg.mod``; a package's ``__init__`` is the package."""
    stem = path.rsplit(".", 1)[0]
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts:
        return []
    names = [".".join(parts)]
    if len(parts) > 1 and parts[0] in ("src", "lib", "python"):
        names.append(".".join(parts[1:]))
    return names


def resolve_import(importer: str, name: str, modules: Mapping[str, list[int]]) -> list[int]:
    """The files an import names: absolute (``pkg.mod``) or relative (``..mod``) to the
    importing file's package. Modules outside the repo resolve to nothing."""
    if name.startswith("."):
        dots = len(name) - len(name.lstrip("."))
        package = importer.rsplit("/", 1)[0].split("/") if "/" in importer else []
        if dots - 1 > len(package):
            return []
        base = package[: len(package) - (dots - 1)]
        rest = name[dots:]
        name = ".".join([*base, *([rest] if rest else [])])
    found = modules.get(name, [])
    if not found and "." in name:  # ``from pkg.mod import Name``: Name may be a module
        found = modules.get(name.rsplit(".", 1)[0], [])
    return found


def build(paths: Sequence[str], symbols: Sequence[FileSymbols]) -> Graph:
    graph = Graph(list(paths))
    modules: dict[str, list[int]] = defaultdict(list)
    definers: dict[str, set[int]] = defaultdict(set)
    for i, (path, syms) in enumerate(zip(paths, symbols, strict=True)):
        for name in module_names(path):
            modules[name].append(i)
        for definition in syms.definitions:
            definers[definition.name].add(i)
    best: dict[tuple[int, int], float] = {}
    for i, (path, syms) in enumerate(zip(paths, symbols, strict=True)):
        grammar = grammar_for(path)
        if grammar is not None and grammar.import_separator == ".":
            for name in syms.imports:
                for j in resolve_import(path, name, modules):
                    if j != i:
                        _add(graph, best, (i, j), 1.0, "imports", 10.0)
        for name, uses in syms.references.items():
            files = definers.get(name)
            if not files or len(files) > MAX_DEFINERS or len(name) < 3 or name.startswith("__"):
                continue
            weight = math.sqrt(uses) / len(files) * (0.1 if name.startswith("_") else 1.0)
            for j in files:
                if j != i:
                    _add(graph, best, (i, j), weight, name, weight)
    return graph


def _add(graph: Graph, best: dict, edge: tuple[int, int], weight: float, why: str, rank: float):
    graph.weights[edge] = graph.weights.get(edge, 0.0) + weight
    if rank > best.get(edge, -1.0):
        best[edge] = rank
        graph.why[edge] = why


def pagerank(graph: Graph, seeds: Mapping[int, float], iterations: int = 40) -> list[float]:
    """Personalized PageRank: a walk that restarts at the seeds (in proportion to their
    weight) and follows edges, forward at full weight and backward at ``REVERSE``."""
    import numpy as np

    n = len(graph.paths)
    if n == 0:
        return []
    personal = np.zeros(n)
    for i, weight in seeds.items():
        personal[i] += max(weight, 0.0)
    if personal.sum() <= 0:
        personal[:] = 1.0
    personal /= personal.sum()
    if not graph.weights:
        return personal.tolist()
    pairs = np.array(list(graph.weights.keys()), dtype=np.int64)
    weights = np.array(list(graph.weights.values()), dtype=float)
    sources = np.concatenate([pairs[:, 0], pairs[:, 1]])
    targets = np.concatenate([pairs[:, 1], pairs[:, 0]])
    weights = np.concatenate([weights, weights * REVERSE])
    out = np.bincount(sources, weights=weights, minlength=n)
    share = weights / out[sources]
    dangling = out == 0
    rank = personal.copy()
    for _ in range(iterations):
        flow = np.bincount(targets, weights=rank[sources] * share, minlength=n)
        rank = DAMPING * (flow + rank[dangling].sum() * personal) + (1 - DAMPING) * personal
    return rank.tolist()
