"""Which files, and which functions and classes in them, an issue is about: no model, a few
signals combined into one score per file.

- BM25 over each file's identifier-aware tokens (``tokens``) and its path's, with ``bm25s``;
- symbols: definitions (``symbols``, tree-sitter) whose names the issue uses, weighted by
  where (a traceback, quoted code, code-like prose, a plain word) and by how few files
  define the name;
- mentions of a file's path, file name or dotted module;
- traceback frames (``File "x/y.py", line N, in f`` and pytest's ``x/y.py:N: in f``), in the
  issue or in the failing tests' messages;
- the repository map (``repomap``): a personalized PageRank over the import and reference
  graph, seeded with the files the signals above point at.

``Locator`` is a ``protocols.Localizer`` (``rank``) and has the richer ``locate``: ranked
files with their score, the reasons they are there and their ranked symbols.

The index (tokens, definitions, references, imports of each file) is cached per content:
the key is the git blob sha of the file as read, so only changed files are parsed again. It
lives in the user's cache folder (``VERIFIX_CACHE_DIR`` moves it), never in the repository.
Files are read only through ``sources.source_files`` and ``sources.read_source``, which
refuse symbolic links: a hostile repository cannot make us read the host's files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import sqlite3
import stat
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from verifix.sandbox.settings import user_cache_path

from . import repomap, symbols, tokens
from .sources import read_source, source_files

SCHEMA = "verifix.locate/1"
#: Bump when what is cached per blob changes: old entries are then never read.
INDEX_VERSION = 1


@dataclass(frozen=True)
class Weights:
    """How the signals add up to a file's score (``locate``); every signal is in [0, 1]
    before weighting. Tuned on SWE-bench Lite's dev split (``benchmarks/localization.py``)
    over a coarse grid, kept at round values; the order matters more than the numbers:

    - a traceback's innermost frame in the repo is the nearest thing to a pointer: most;
    - a path, file name or module written out is strong, rarely incidental;
    - BM25 carries the issue's vocabulary when it names nothing;
    - symbols weigh less than one would think: an issue names the classes it *uses*
      (``Dataset``, ``Linter``) as often as the one to change, and those are defined in
      the big central files;
    - the graph only adds what the direct signals leave out (a helper reached from the
      named file): with more weight it pulls the central files up for every issue.

    Test files are rarely what needs the change: their score is scaled down.
    """

    bm25: float = 1.0
    symbols: float = 0.6
    mentions: float = 1.5
    traceback: float = 2.0
    graph: float = 0.4
    test_files: float = 0.5
    #: How many of the best files by the direct signals seed the graph.
    seeds: int = 10


WEIGHTS = Weights()


# --- the issue's clues -------------------------------------------------------------------

_FRAME = re.compile(r"File \"(?P<path>[^\"\n]+)\", line (?P<line>\d+)(?:, in (?P<fn>[\w<>.]+))?")
_PYTEST_FRAME = re.compile(r"^(?P<path>[\w./\\-]+\.\w+):(?P<line>\d+)(?:: in (?P<fn>\w+))?", re.M)
_TRACEBACK_START = re.compile(r"Traceback \(most recent call last\):")
_FENCED = re.compile(r"```.*?(?:```|$)", re.S)
_BACKTICKED = re.compile(r"`([^`\n]+)`")
_DOTTED = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATHLIKE = re.compile(r"[\w.-]+(?:/[\w.-]+)*\.[A-Za-z]+")

#: How much a name counts by where the issue has it.
_WHERE = {"traceback": 1.0, "quoted": 0.8, "prose": 0.6, "phrase": 0.2}


def _shape(name: str, before: str, after: str) -> float:
    """How much a word looks like code: ``parse_header``, ``parseHeader``, ``call(`` or
    ``mod.attr`` fully, a capitalized word (a class?) less, a plain word (``version``,
    ``fix``: prose or a command line, more often than a function) little."""
    if (
        "_" in name.strip("_")
        or re.search(r"[a-z][A-Z]", name)
        or (after and after in "(.")
        or before == "."
    ):
        return 1.0
    if name[0].isupper() and not name.isupper():
        return 0.6
    return 0.25


@dataclass(frozen=True)
class Frame:
    """A traceback's frame; a frame with no path ends a traceback."""

    path: str
    line: int
    function: str
    order: int


@dataclass
class Clues:
    """What the issue (and failing tests) point at, read once per query."""

    text: str
    frames: list[Frame]
    #: ``tokens.key(name)`` -> (weight, how it appears, the name as written).
    names: dict[str, tuple[float, str, str]]
    dotted: set[str]
    paths: set[str]
    query: list[str]


def clues(issue_text: str, failures: Sequence[str] = ()) -> Clues:
    text = "\n".join([issue_text, *failures])
    frames: list[Frame] = []
    for text_block in [issue_text, *failures]:
        for block in _TRACEBACK_START.split(text_block):
            found = [
                (m.start(), m["path"].replace("\\", "/"), int(m["line"]), m["fn"] or "")
                for pattern in (_FRAME, _PYTEST_FRAME)
                for m in pattern.finditer(block)
            ]
            found.sort()
            frames += [Frame(p, n, f, len(frames) + 1) for _, p, n, f in found]
            frames.append(Frame("", 0, "", 0))  # the end of a traceback
    names: dict[str, tuple[float, str, str]] = {}

    def note(name: str, how: str, weight: float) -> None:
        if len(name) < 3 or name.startswith("__") or name.lower() in tokens.STOPWORDS:
            return
        for k, w in (
            (tokens.key(name), weight),
            (tokens.key(name.rstrip("0123456789")), weight / 2),
        ):
            if len(k) > 2 and (k not in names or names[k][0] < w):
                names[k] = (w, how, name)

    def read(chunk: str, how: str) -> list[re.Match[str]]:
        words = list(_WORD.finditer(chunk))
        for match in words:
            name, after = match.group(), chunk[match.end() : match.end() + 1]
            before = chunk[match.start() - 1] if match.start() else ""
            note(name, how, _WHERE[how] * _shape(name, before, after))
        return words

    for frame in frames:
        note(frame.function, "traceback", _WHERE["traceback"])
    for chunk in _FENCED.findall(text) + _BACKTICKED.findall(_FENCED.sub(" ", text)):
        read(chunk, "quoted")
    prose = _FENCED.sub(" ", text)
    words = read(prose, "prose")
    # "parse header" in prose may mean ``parseHeader``: adjacent words, joined.
    for size in (2, 3):
        for i in range(len(words) - size + 1):
            run = words[i : i + size]
            if all(prose[a.end() : b.start()] == " " for a, b in itertools.pairwise(run)):
                note("_".join(w.group() for w in run), "phrase", _WHERE["phrase"])
    return Clues(
        text=text,
        frames=frames,
        names=names,
        dotted=set(_DOTTED.findall(text)),
        paths={p.strip("./") for p in _PATHLIKE.findall(text) if "/" in p or "." in p},
        query=sorted(set(tokens.tokenize(text))),
    )


# --- the index ---------------------------------------------------------------------------


@dataclass
class Entry:
    """One file as indexed: its content's tokens and symbols; its text is read on demand
    (only the top files' are: for their symbols)."""

    path: str
    sha: str
    terms: dict[str, int]
    symbols: symbols.FileSymbols
    root: Path | None = None
    _text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = read_source(self.root, self.path) if self.root is not None else ""
        return self._text


@dataclass
class RepoIndex:
    """What a query ranks against: the files' entries, the BM25 index over them and the
    repository map; the last two are kept per tree (the set of paths and blob shas)."""

    entries: list[Entry]
    bm25: Any
    graph: repomap.Graph
    stats: Stats


@dataclass
class Stats:
    files: int = 0
    parsed: int = 0
    cached: int = 0
    seconds: float = 0.0


def cache_dir() -> Path:
    """Where the index lives: ``$VERIFIX_CACHE_DIR/index``, else the user's cache folder."""
    return user_cache_path("index")


def blob_sha(data: bytes) -> str:
    """The git blob sha of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class BlobCache:
    """Per-blob index entries in one SQLite file; a cache that cannot be opened or written
    is no cache (the query still runs)."""

    def __init__(self, folder: Path | None) -> None:
        self.db: sqlite3.Connection | None = None
        if folder is None:
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(folder / "blobs.sqlite", timeout=10)
            self.db.execute("CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, data TEXT)")
        except (OSError, sqlite3.Error):
            self.db = None

    def get(self, keys: list[str]) -> dict[str, Any]:
        if self.db is None or not keys:
            return {}
        found: dict[str, Any] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self.db.execute(f"SELECT key, data FROM blobs WHERE key IN ({marks})", chunk)
                found.update((k, json.loads(d)) for k, d in rows)
        except (sqlite3.Error, ValueError):
            return found
        return found

    def put(self, items: dict[str, Any]) -> None:
        if self.db is None or not items:
            return
        try:
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO blobs VALUES (?, ?)",
                    [(k, json.dumps(v, separators=(",", ":"))) for k, v in items.items()],
                )
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def _index_file(path: str, text: str) -> dict[str, Any]:
    parsed = symbols.parse(path, text)
    return {
        "terms": dict(Counter(tokens.tokenize(text))),
        "defs": [d.to_json() for d in parsed.definitions],
        "refs": dict(parsed.references),
        "imports": parsed.imports,
    }


#: A file whose size, mtime and inode match the stat map is taken to have the blob sha the
#: map says (as git's index does), unless it changed within this many seconds of being
#: recorded (a write in the same clock tick would not show).
_RACY_SECONDS = 2
_TREES_KEPT = 16


def _shas(root: Path, files: Sequence[str], folder: Path | None) -> tuple[dict, dict]:
    """Each file's blob sha, and the texts read to get them: a file unchanged since the
    last query (by ``lstat``) is not read again; any other is read with ``read_source``."""
    stat_path = None
    known: dict[str, list[Any]] = {}
    recorded = 0
    if folder is not None:
        digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()
        stat_path = folder / "roots" / f"{digest}.json"
        try:
            saved = json.loads(stat_path.read_text())
            known, recorded = saved["files"], int(saved["at"])
        except (OSError, ValueError, KeyError, TypeError):
            known = {}
    trusted_before = recorded - _RACY_SECONDS * 1_000_000_000
    shas: dict[str, str] = {}
    texts: dict[str, str] = {}
    table: dict[str, list[Any]] = {}
    for path in files:
        try:
            info = os.lstat(root / path)
        except OSError:
            info = None
        regular = info is not None and stat.S_ISREG(info.st_mode)
        mark = [info.st_size, info.st_mtime_ns, info.st_ino] if regular and info else None
        old = known.get(path)
        if mark and old and old[:3] == mark and mark[1] < trusted_before:
            shas[path] = old[3]
        else:
            texts[path] = read_source(root, path)
            shas[path] = blob_sha(texts[path].encode("utf-8", errors="replace"))
        if mark:
            table[path] = [*mark, shas[path]]
    if stat_path is not None and (texts or len(table) != len(known)):
        _write_json(stat_path, {"at": time.time_ns(), "files": table})
    return shas, texts


def _write_json(path: Path, data: Any) -> None:
    """Write by renaming a temporary file: a concurrent reader sees the old or the new."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(temporary, path)
    except OSError:
        pass


def index(root: Path, files: Sequence[str], folder: Path | None) -> RepoIndex:
    """Every file's entry, from the cache where its content is unchanged, else parsed; the
    BM25 index and the repository map, from the cache when the tree is unchanged."""
    started = time.monotonic()
    stats = Stats(files=len(files))
    shas, texts = _shas(root, files, folder)
    keys = {path: f"{INDEX_VERSION}:{_suffix(path)}:{sha}" for path, sha in shas.items()}
    cache = BlobCache(folder)
    try:
        found = cache.get(sorted(set(keys.values())))
        fresh: dict[str, Any] = {}
        entries = []
        for path in files:
            data = found.get(keys[path]) or fresh.get(keys[path])
            if data is None:
                if path not in texts:
                    texts[path] = read_source(root, path)
                data = fresh[keys[path]] = _index_file(path, texts[path])
                stats.parsed += 1
            else:
                stats.cached += 1
            parsed = symbols.FileSymbols(
                [symbols.Definition.from_json(row) for row in data["defs"]],
                Counter(data["refs"]),
                list(data["imports"]),
            )
            entries.append(Entry(path, shas[path], data["terms"], parsed, root, texts.get(path)))
        cache.put(fresh)
    finally:
        cache.close()
    tree = hashlib.sha1("\n".join(f"{e.path} {e.sha}" for e in entries).encode()).hexdigest()
    where = folder / "trees" / f"{INDEX_VERSION}-{tree}" if folder is not None else None
    loaded = _load_tree(where, len(entries)) if where is not None else None
    if loaded is None:
        bm25 = _bm25_index(entries)
        graph = repomap.build([e.path for e in entries], [e.symbols for e in entries])
        if where is not None:
            _save_tree(where, bm25, graph)
    else:
        bm25, graph = loaded
        graph.paths = [e.path for e in entries]
    stats.seconds = time.monotonic() - started
    return RepoIndex(entries, bm25, graph, stats)


def _bm25_index(entries: Sequence[Entry]) -> Any:
    """BM25 over each file's tokens and its path's (three times: a file called
    ``jsonrep.py`` is about JSON more than its every line says)."""
    import bm25s

    corpus = [[*tokens.expand(e.terms), *tokens.path_tokens(e.path) * 3] or ["\0"] for e in entries]
    model = bm25s.BM25()
    if corpus:
        model.index(corpus, show_progress=False)
    return model


def _load_tree(where: Path, files: int) -> tuple[Any, repomap.Graph] | None:
    import bm25s

    try:
        data = json.loads((where / "graph.json").read_text())
        if data["files"] != files:
            return None
        model = bm25s.BM25.load(str(where / "bm25"), show_progress=False, verbosity=0)
        graph = repomap.Graph([])
        for i, j, weight, why in data["edges"]:
            graph.weights[(i, j)] = weight
            graph.why[(i, j)] = why
        os.utime(where)  # kept as recently used
        return model, graph
    except Exception:  # a missing, partial or foreign cache entry is no cache
        return None


def _save_tree(where: Path, model: Any, graph: repomap.Graph) -> None:
    import shutil

    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        temporary = where.with_name(f".{where.name}.{os.getpid()}")
        shutil.rmtree(temporary, ignore_errors=True)
        if model.vocab_dict:
            model.save(str(temporary / "bm25"), show_progress=False)
        edges = [[i, j, w, graph.why.get((i, j), "")] for (i, j), w in graph.weights.items()]
        _write_json(temporary / "graph.json", {"files": len(graph.paths), "edges": edges})
        if where.exists():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            os.replace(temporary, where)
        trees = sorted(where.parent.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in trees[_TREES_KEPT:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError:
        pass


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1] if "." in name else ""


# --- the ranking -------------------------------------------------------------------------


@dataclass
class RankedSymbol:
    name: str
    kind: str
    line: int
    end: int
    score: float
    reasons: list[str]


@dataclass
class RankedFile:
    path: str
    score: float
    reasons: list[str]
    #: Each signal's value in [0, 1], before weighting.
    signals: dict[str, float]
    symbols: list[RankedSymbol] = field(default_factory=list)


@dataclass
class Ranking:
    files: list[RankedFile]
    stats: Stats

    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def to_json(self) -> dict[str, Any]:
        """The ``verifix.locate/1`` document (README, "Locating the code")."""
        return {
            "schema": SCHEMA,
            "files": [
                {
                    "path": f.path,
                    "score": round(f.score, 4),
                    "reasons": f.reasons,
                    "signals": {k: round(v, 4) for k, v in f.signals.items()},
                    "symbols": [{**asdict(s), "score": round(s.score, 4)} for s in f.symbols],
                }
                for f in self.files
            ],
            "index": {
                "files": self.stats.files,
                "parsed": self.stats.parsed,
                "cached": self.stats.cached,
                "seconds": round(self.stats.seconds, 3),
            },
        }


def is_test_file(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return (
        any(p in ("test", "tests", "testing") for p in parts[:-1])
        or name.startswith("test_")
        or name.rsplit(".", 1)[0].endswith("_test")
        or name == "conftest.py"
    )


class Locator:
    """The localizer: ``rank`` for ``context.build``, ``locate`` for the ranking's detail."""

    def __init__(self, cache: Path | bool | None = True, weights: Weights = WEIGHTS) -> None:
        #: The cache folder; True: ``cache_dir()``; None or False: no cache.
        self.cache = cache_dir() if cache is True else (cache or None)
        self.weights = weights
        self.last_stats: Stats | None = None

    def rank(self, root: Path, files: list[str], issue_text: str, failures: list[str]) -> list[str]:
        ranking = self.locate(root, issue_text, failures, files=files, symbols_for=0)
        return ranking.paths()

    def locate(
        self,
        root: Path,
        issue_text: str,
        failures: Sequence[str] = (),
        files: Sequence[str] | None = None,
        top: int | None = None,
        symbols_for: int = 10,
    ) -> Ranking:
        """Every indexed file with a score above zero, best first (the first ``top``), the
        first ``symbols_for`` of them with their ranked definitions."""
        started = time.monotonic()
        files = list(files) if files is not None else source_files(root)
        repo = index(root, files, self.cache)
        stats = self.last_stats = repo.stats
        ranked = score(repo, clues(issue_text, failures), self.weights, symbols_for)
        stats.seconds = time.monotonic() - started
        return Ranking(ranked[:top] if top else ranked, stats)


def score(
    repo: RepoIndex, found: Clues, weights: Weights = WEIGHTS, symbols_for: int = 10
) -> list[RankedFile]:
    entries = repo.entries
    n = len(entries)
    if n == 0:
        return []
    paths = [e.path for e in entries]
    bm25 = _bm25(repo.bm25, n, found.query)
    sym, sym_why = _symbol_signal(entries, found)
    mention, mention_why = _mentions(paths, found)
    trace, trace_why = _traceback(paths, found)
    direct = [
        weights.bm25 * bm25[i]
        + weights.symbols * sym[i]
        + weights.mentions * mention[i]
        + weights.traceback * trace[i]
        for i in range(n)
    ]
    order = sorted(range(n), key=lambda i: -direct[i])
    seeds = {i: direct[i] for i in order[: weights.seeds] if direct[i] > 0}
    graph = repo.graph
    pr = repomap.pagerank(graph, seeds)
    top_pr = max(pr) if pr else 0.0
    graph_signal = [p / top_pr if top_pr > 0 else 0.0 for p in pr]
    results = []
    for i, entry in enumerate(entries):
        total = direct[i] + weights.graph * graph_signal[i]
        if is_test_file(entry.path):
            total *= weights.test_files
        if total <= 0:
            continue
        signals = {
            "bm25": bm25[i],
            "symbols": sym[i],
            "mentions": mention[i],
            "traceback": trace[i],
            "graph": graph_signal[i],
        }
        reasons = trace_why.get(i, []) + sym_why.get(i, []) + mention_why.get(i, [])
        if bm25[i] >= 0.05:
            reasons.append(f"BM25 {bm25[i]:.2f}")
        results.append(RankedFile(entry.path, total, reasons, signals))
    results.sort(key=lambda f: (-f.score, f.path))
    position = {path: i for i, path in enumerate(paths)}
    # A reason names a source file over a test where it can.
    top_seeds = sorted(seeds, key=lambda i: (is_test_file(paths[i]), -direct[i]))
    for ranked in results:
        i = position[ranked.path]
        near = _graph_reason(graph, i, top_seeds) if graph_signal[i] >= 0.05 else None
        if near:
            ranked.reasons.append(near)
        elif not ranked.reasons:
            ranked.reasons.append(f"repository map {graph_signal[i]:.2f}")
    idf = _idf(entries, found.query)
    for ranked in results[:symbols_for]:
        entry = entries[position[ranked.path]]
        ranked.symbols = rank_symbols(entry, found, idf)
    return results


def _bm25(model: Any, n: int, query: list[str]) -> list[float]:
    """Each file's BM25 score for the issue's tokens, scaled so the best file has 1."""
    vocab = model.vocab_dict or {}
    words = [w for w in query if w in vocab]
    if not words:
        return [0.0] * n
    scores = model.get_scores(words)
    best = float(scores.max())
    return [float(s) / best if best > 0 else 0.0 for s in scores]


def _definers(entries: Sequence[Entry]) -> Counter[str]:
    count: Counter[str] = Counter()
    for entry in entries:
        count.update({tokens.key(d.name) for d in entry.symbols.definitions})
    return count


def _symbol_signal(
    entries: Sequence[Entry], found: Clues
) -> tuple[list[float], dict[int, list[str]]]:
    """How strongly each file defines what the issue names: per distinct name, its weight
    by where the issue has it, divided by the number of files defining it; a method counts
    less than a class or a function of its own. Squashed into [0, 1)."""
    definers = _definers(entries)
    signal = [0.0] * len(entries)
    why: dict[int, list[str]] = {}
    for i, entry in enumerate(entries):
        best: dict[str, tuple[float, symbols.Definition]] = {}
        for d in entry.symbols.definitions:
            k = tokens.key(d.name)
            if k not in found.names or len(d.name) < 3 or d.name.startswith("__"):
                continue
            weight = found.names[k][0] * (0.6 if d.parent else 1.0) / definers[k]
            if weight > best.get(k, (0.0, d))[0]:
                best[k] = (weight, d)
        if not best:
            continue
        total = sum(w for w, _ in best.values())
        signal[i] = 1 - math.exp(-2 * total)
        strongest = sorted(best.values(), key=lambda b: -b[0])[:3]
        why[i] = [
            f"{_how(found.names[tokens.key(d.name)][1])} {_kind(d)} {d.qualified}"
            for w, d in strongest
            if w >= 0.05
        ]
    return signal, why


def _how(where: str) -> str:
    return {"traceback": "traceback names", "quoted": "quotes"}.get(where, "names")


def _kind(d: symbols.Definition) -> str:
    return "method" if d.parent and d.kind == "function" else d.kind


def _mentions(paths: Sequence[str], found: Clues) -> tuple[list[float], dict[int, list[str]]]:
    """Paths, file names and dotted modules the issue writes out."""
    signal = [0.0] * len(paths)
    why: dict[int, list[str]] = {}
    modules: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        for name in repomap.module_names(path):
            parts = name.split(".")
            for start in range(len(parts) - 1):  # pkg.mod, and mod.sub without the package
                modules.setdefault(".".join(parts[start:]), []).append(i)
    names: Counter[str] = Counter(p.rsplit("/", 1)[-1] for p in paths)
    words = set(_WORD.findall(found.text))
    for i, path in enumerate(paths):
        name = path.rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0]
        if any(path == p or path.endswith("/" + p) for p in found.paths if "/" in p):
            signal[i], reason = 1.0, f"path {path} mentioned"
        elif name in found.paths:
            signal[i], reason = 0.8 / names[name], f"file name {name} mentioned"
        elif (
            stem in words
            and stem not in ("__init__", "conftest", "setup", "main")
            and len(stem) > 2
        ):
            signal[i], reason = 0.2 / names[name], f"file stem {stem} mentioned"
        else:
            continue
        why[i] = [reason]
    for dotted in found.dotted:
        parts = dotted.split(".")
        for end in range(len(parts), 1, -1):  # pkg.mod.Class.method -> pkg.mod
            hits = modules.get(".".join(parts[:end]))
            if hits:
                for i in hits:
                    if signal[i] < 0.9:
                        signal[i] = 0.9
                        why[i] = [f"module {'.'.join(parts[:end])} mentioned"]
                break
    return signal, why


def _traceback(paths: Sequence[str], found: Clues) -> tuple[list[float], dict[int, list[str]]]:
    """Files a traceback passes through; the innermost frame most."""
    signal = [0.0] * len(paths)
    why: dict[int, list[str]] = {}
    inside: list[tuple[Frame, int]] = []  # the frames of one traceback that are in the repo
    for frame in [*found.frames, Frame("", 0, "", 0)]:
        if not frame.path:
            for n, (inner, i) in enumerate(inside):
                innermost = n == len(inside) - 1
                signal[i] = max(signal[i], 1.0 if innermost else 0.5)
                where = f", in {inner.function}" if inner.function else ""
                why.setdefault(i, []).append(f"traceback: line {inner.line}{where}")
            inside = []
            continue
        for i, path in enumerate(paths):
            if frame.path == path or frame.path.endswith("/" + path):
                inside.append((frame, i))
                break
    for i in why:
        why[i] = why[i][-2:]
    return signal, why


def _graph_reason(graph: repomap.Graph, i: int, seeds: list[int]) -> str | None:
    paths = graph.paths
    for j in seeds:
        if j == i:
            continue
        if graph.why.get((j, i)) == "imports":
            return f"imported by top file {paths[j]}"
        if graph.why.get((i, j)) == "imports":
            return f"imports top file {paths[j]}"
        if (j, i) in graph.why:
            return f"defines {graph.why[(j, i)]} used by top file {paths[j]}"
        if (i, j) in graph.why:
            return f"uses {graph.why[(i, j)]} from top file {paths[j]}"
    return None


def _idf(entries: Sequence[Entry], query: Iterable[str]) -> dict[str, float]:
    n = len(entries)
    out = {}
    for term in query:
        df = sum(1 for e in entries if term in e.terms)
        if df:
            out[term] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return out


def rank_symbols(
    entry: Entry, found: Clues, idf: dict[str, float], limit: int = 5
) -> list[RankedSymbol]:
    """A file's definitions, best first: named by the issue, holding a traceback's line,
    sharing its rarer words."""
    hits = [set(tokens.tokenize(line)).intersection(idf) for line in entry.text.splitlines()]
    scored = []
    for d in entry.symbols.definitions:
        score, reasons = 0.0, []
        k = tokens.key(d.name)
        if k in found.names and len(d.name) >= 3 and not d.name.startswith("__"):
            weight, how, _ = found.names[k]
            score += 2 * weight
            reasons.append(f"{_how(how)} {d.name}")
        for frame in found.frames:
            if (frame.path == entry.path or frame.path.endswith("/" + entry.path)) and (
                d.line <= frame.line <= d.end
            ):
                score += 1.5 if frame.function == d.name else 0.5
                reasons.append(f"traceback line {frame.line}")
                break
        shared = sorted(set().union(*hits[d.line - 1 : d.end]), key=lambda t: -idf[t])
        if shared:
            # Rarer words count more; a long body shares more by chance.
            overlap = sum(idf[t] for t in shared) / (1 + math.log(1 + d.end - d.line))
            score += 0.1 * overlap
            reasons.append("shares " + ", ".join(shared[:3]))
        if score > 0:
            scored.append(RankedSymbol(d.qualified, _kind(d), d.line, d.end, score, reasons))
    scored.sort(key=lambda s: (-s.score, s.line))
    return scored[:limit]
