"""How well ``verifix locate`` finds the files a fix changes, against plain BM25.

For every SWE-bench instance: the repository's Python files at ``base_commit`` (exported
from a local mirror), ranked for the problem statement alone (no failing tests), compared
with the files the gold patch changes: top-1, top-5, MRR (1 / rank of the first gold file),
and seconds per query, cold (empty index cache) and warm (the same query again). Plain
BM25 is whole-file ``bm25s`` with a simple tokenizer (lowercased ``\\w+`` words), over the
same files, in the same run.

    python benchmarks/localization.py ../shared/swebench/lite-dev.jsonl --mirrors /work/.mirror
    python benchmarks/localization.py --timing-only /tmp/envset_mirrors.csv --biggest 3

Mirrors are ``DIR/OWNER+NAME/repo`` (a bare git directory or a clone); a repository with no
mirror is reported as not measured.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from verifix.agent import context, locate
from verifix.agent.sources import read_source, source_files
from verifix.sandbox.container import ExecResult
from verifix.sandbox.testrun import TestReport

#: Context budgets of the first prompt: an unknown (local) model's, and a 128k model's.
BUDGETS = (4000, 30000)
NO_FAILURES = TestReport({}, ExecResult(0, "", False, 0.0), "pytest")


class Mentions:
    """The ranking verifix used before the locator: files the issue names by path, file
    name, dotted module or stem (kept here as the "before" of the first-prompt figures)."""

    def rank(self, root: Path, files: list[str], issue_text: str, failures: list[str]) -> list[str]:
        scores: dict[str, int] = {}
        for path in files:
            module, stem = path[:-3].replace("/", "."), Path(path).stem
            score = 5 * issue_text.count(path) + 4 * issue_text.count(module)
            score += 3 * issue_text.count(Path(path).name)
            if stem not in ("__init__", "conftest") and re.search(
                rf"\b{re.escape(stem)}\b", issue_text
            ):
                score += 1
            if score:
                scores[path] = score
        return sorted(scores, key=lambda p: -scores[p])


def shown(text: str, gold: list[str]) -> bool:
    """Whether the first prompt's context shows a gold file's code (in full or its parts)."""
    return any(f"## {g}\n```python" in text or f"## {g} (the relevant parts" in text for g in gold)


def git_dir(mirror: Path) -> Path | None:
    for candidate in (mirror / "repo" / ".git", mirror / "repo", mirror / ".git", mirror):
        if (candidate / "objects").is_dir() and (candidate / "HEAD").is_file():
            return candidate
    return None


def export(git: Path, commit: str, into: Path) -> int:
    """Write the Python files of ``commit`` into ``into`` (regular blobs only); the number
    of files in the whole tree."""
    listing = subprocess.run(
        ["git", "--git-dir", str(git), "ls-tree", "-r", "-z", commit],
        capture_output=True,
        check=True,
    ).stdout.decode(errors="replace")
    rows = [row.split("\t", 1) for row in listing.split("\0") if row]
    wanted = [
        (meta.split()[2], path)
        for meta, path in rows
        if path.endswith(".py") and meta.split()[0] in ("100644", "100755")
    ]
    batch = subprocess.run(
        ["git", "--git-dir", str(git), "cat-file", "--batch"],
        input="".join(f"{sha}\n" for sha, _ in wanted).encode(),
        capture_output=True,
        check=True,
    ).stdout
    at = 0
    for _, path in wanted:
        header_end = batch.index(b"\n", at)
        header = batch[at:header_end].split()
        if len(header) < 3:  # "<sha> missing"
            at = header_end + 1
            continue
        size = int(header[2])
        data = batch[header_end + 1 : header_end + 1 + size]
        at = header_end + 1 + size + 1
        target = into / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return len(rows)


def gold_files(patch: str) -> list[str]:
    return [line[6:].strip() for line in patch.splitlines() if line.startswith("+++ b/")]


_SIMPLE = re.compile(r"\w+")


class PlainBM25:
    """The baseline: whole files, lowercased words, ``bm25s``."""

    def rank(self, root: Path, files: list[str], text: str) -> list[str]:
        import bm25s

        corpus = [_SIMPLE.findall(read_source(root, f).lower()) or ["\0"] for f in files]
        model = bm25s.BM25()
        model.index(corpus, show_progress=False)
        words = [w for w in set(_SIMPLE.findall(text.lower())) if w in model.vocab_dict]
        if not words:
            return []
        scores = model.get_scores(words)
        order = sorted(range(len(files)), key=lambda i: -scores[i])
        return [files[i] for i in order if scores[i] > 0]


@dataclass
class Result:
    instance: str
    repo: str
    gold: list[str]
    ours: list[str]
    plain: list[str]
    cold: float
    warm: float
    plain_seconds: float
    files: int
    #: Budget -> whether a gold file's code is in the first prompt, with the locator and
    #: with the mention ranking of before.
    prompt_ours: dict[int, bool]
    prompt_before: dict[int, bool]

    @staticmethod
    def rank_of(ranking: list[str], gold: list[str]) -> int | None:
        for i, path in enumerate(ranking):
            if path in gold:
                return i + 1
        return None


def measure(row: dict, mirrors: Path, weights: locate.Weights) -> Result | str:
    mirror = git_dir(mirrors / row["repo"].replace("/", "+"))
    if mirror is None:
        return f"no mirror of {row['repo']}"
    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp, "repo"), Path(tmp, "cache")
        try:
            export(mirror, row["base_commit"], root)
        except subprocess.CalledProcessError as exc:
            return f"cannot export {row['base_commit'][:10]}: {exc.stderr.decode()[:200]}"
        files = source_files(root)
        locator = locate.Locator(cache=cache, weights=weights)
        text = row["problem_statement"]
        started = time.monotonic()
        ours = locator.rank(root, files, text, [])
        cold = time.monotonic() - started
        started = time.monotonic()
        again = locator.rank(root, files, text, [])
        warm = time.monotonic() - started
        assert again == ours
        started = time.monotonic()
        plain = PlainBM25().rank(root, files, text)
        plain_seconds = time.monotonic() - started
        gold = gold_files(row["patch"])
        prompt_ours, prompt_before = {}, {}
        for budget in BUDGETS:
            prompt_ours[budget] = shown(
                context.build(root, text, NO_FAILURES, budget, locator), gold
            )
            prompt_before[budget] = shown(
                context.build(root, text, NO_FAILURES, budget, Mentions()), gold
            )
    return Result(
        row["instance_id"],
        row["repo"],
        gold,
        ours,
        plain,
        cold,
        warm,
        plain_seconds,
        len(files),
        prompt_ours,
        prompt_before,
    )


def summary(results: list[Result], which: str) -> dict[str, float]:
    ranks = [Result.rank_of(getattr(r, which), r.gold) for r in results]
    n = len(results)
    return {
        "top1": sum(1 for k in ranks if k == 1) / n,
        "top5": sum(1 for k in ranks if k is not None and k <= 5) / n,
        "mrr": sum(1 / k for k in ranks if k) / n,
    }


def swebench(args: argparse.Namespace) -> int:
    rows = [json.loads(line) for line in args.jsonl.read_text().splitlines() if line.strip()]
    if args.instance:
        rows = [r for r in rows if r["instance_id"] in args.instance]
    results: list[Result] = []
    print(
        f"{'instance':42} {'files':>5} {'gold':>5} {'ours':>5} {'bm25':>5} {'cold':>6} {'warm':>6}"
    )
    for row in rows:
        outcome = measure(row, args.mirrors, locate.WEIGHTS)
        if isinstance(outcome, str):
            print(f"{row['instance_id']:42} not measured: {outcome}")
            continue
        results.append(outcome)
        ours, plain = (Result.rank_of(r, outcome.gold) for r in (outcome.ours, outcome.plain))
        print(
            f"{outcome.instance:42} {outcome.files:5} {len(outcome.gold):5} {ours or '-':>5} "
            f"{plain or '-':>5} {outcome.cold:6.2f} {outcome.warm:6.2f}"
        )
        if args.verbose and ours != 1:
            print(f"    gold {outcome.gold}; ours {outcome.ours[:5]}")
    if not results:
        print("nothing measured")
        return 1
    ours, plain = summary(results, "ours"), summary(results, "plain")
    cold = statistics.mean(r.cold for r in results)
    warm = statistics.mean(r.warm for r in results)
    plain_s = statistics.mean(r.plain_seconds for r in results)
    print(f"\n{len(results)} of {len(rows)} instances measured")
    print(f"{'':12} {'top-1':>6} {'top-5':>6} {'MRR':>6} {'cold s':>7} {'warm s':>7}")
    print(
        f"{'locate':12} {ours['top1']:6.0%} {ours['top5']:6.0%} {ours['mrr']:6.3f} "
        f"{cold:7.2f} {warm:7.2f}"
    )
    print(
        f"{'plain BM25':12} {plain['top1']:6.0%} {plain['top5']:6.0%} {plain['mrr']:6.3f} "
        f"{plain_s:7.2f} {plain_s:7.2f}"
    )
    ratio = {k: ours[k] / plain[k] if plain[k] else float("inf") for k in ours}
    print(
        f"{'ratio':12} {ratio['top1']:6.2f} {ratio['top5']:6.2f} {ratio['mrr']:6.2f} "
        f"{cold / plain_s:7.2f} {warm / plain_s:7.2f}"
    )
    print(f"warm query: max {max(r.warm for r in results):.2f} s")
    print("\na gold file's code in the first prompt (issue text only):")
    for budget in BUDGETS:
        ours_in = sum(r.prompt_ours[budget] for r in results) / len(results)
        before_in = sum(r.prompt_before[budget] for r in results) / len(results)
        print(
            f"  {budget:6} tokens of context: locator {ours_in:4.0%}, "
            f"mentions (before) {before_in:4.0%}"
        )
    return 0


def timing(args: argparse.Namespace) -> int:
    """Cold and warm seconds on the biggest repositories of an envset's mirrors list
    (``instance_id,repo,base_commit,mirror_path,status``)."""
    sized = []
    with args.timing_only.open() as handle:
        for row in csv.DictReader(handle):
            git = git_dir(Path(row["mirror_path"]))
            if row.get("status") != "ok" or git is None:
                continue
            count = subprocess.run(
                ["git", "--git-dir", str(git), "ls-tree", "-r", "--name-only", row["base_commit"]],
                capture_output=True,
                text=True,
            ).stdout.count(".py\n")
            sized.append((count, row["repo"], git, row["base_commit"]))
    sized.sort(reverse=True)
    print(f"{'repo':40} {'tree':>6} {'py':>5} {'cold':>6} {'warm':>6} {'parsed':>6}")
    issue = "Crash in the configuration loader: KeyError when a value is missing"
    for _, repo, git, commit in sized[: args.biggest]:
        with tempfile.TemporaryDirectory() as tmp:
            root, cache = Path(tmp, "repo"), Path(tmp, "cache")
            tree = export(git, commit, root)
            locator = locate.Locator(cache=cache)
            started = time.monotonic()
            locator.locate(root, issue)
            cold = time.monotonic() - started
            started = time.monotonic()
            locator.locate(root, issue)
            warm = time.monotonic() - started
            files = locator.last_stats.files if locator.last_stats else 0
            parsed = locator.last_stats.parsed if locator.last_stats else 0
            print(f"{repo:40} {tree:6} {files:5} {cold:6.2f} {warm:6.2f} {parsed:6}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("jsonl", type=Path, nargs="?")
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--instance", action="append", help="only this instance (repeatable)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show misses")
    parser.add_argument("--timing-only", type=Path, help="an envset mirrors CSV: time only")
    parser.add_argument("--biggest", type=int, default=3)
    args = parser.parse_args()
    if args.timing_only:
        return timing(args)
    if args.jsonl is None:
        parser.error("name the SWE-bench JSONL file (or --timing-only CSV)")
    return swebench(args)


if __name__ == "__main__":
    sys.exit(main())
