"""``verifix bench run`` over SWE-bench instances with a scripted model that answers each
prompt the way a model that knew the answer would: the reproduction prompt with the
instance's test patch, the repair prompt with its gold patch, both as search/replace
blocks. No provider is called; every other part is real (snapshots, environments, the
reproduction test kept only if it fails, the staged checks, the predictions, the check of
each prediction against the instance's own tests).

It prints what resolved, the time per instance, and the time of the same batch with
``--workers 2`` against ``--workers 1`` (measured in the same run).

    python benchmarks/bench_gold.py ../shared/swebench/lite-dev.jsonl --repos /work/.mirror \\
        --slice 0:4
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from verifix.agent.swebench import Instance, load_all, select
from verifix.cli.example.scripted_model import ScriptedModel

_FILE = re.compile(r"^diff --git a/(\S+) b/(\S+)$")


def blocks(diff: str) -> str:
    """A unified diff as search/replace blocks: each hunk's old side is the SEARCH and its
    new side the REPLACE (a new file: an empty SEARCH)."""
    out: list[str] = []
    path, search, replace, in_hunk = "", [], [], False

    def flush() -> None:
        if in_hunk and path:
            out.append(
                f"{path}\n<<<<<<< SEARCH\n{''.join(search)}=======\n{''.join(replace)}"
                ">>>>>>> REPLACE\n"
            )

    for line in diff.splitlines(keepends=True):
        found = _FILE.match(line.rstrip("\n"))
        if found:
            flush()
            path, search, replace, in_hunk = found.group(2), [], [], False
        elif line.startswith("@@"):
            flush()
            search, replace, in_hunk = [], [], True
        elif in_hunk and line.startswith("-"):
            search.append(line[1:])
        elif in_hunk and line.startswith("+"):
            replace.append(line[1:])
        elif in_hunk and line.startswith(" "):
            search.append(line[1:])
            replace.append(line[1:])
        elif in_hunk and line.startswith("\\"):
            continue  # "\ No newline at end of file"
    flush()
    return "\n".join(out)


def replier(instances: list[Instance]):
    """The scripted model's one reply rule: find the instance by its problem statement's
    first line in the prompt; a reproduction prompt gets its test patch, a repair prompt
    its gold patch."""

    def reply(body: dict) -> str:
        system = body["messages"][0]["content"]
        prompt = body["messages"][1]["content"] if len(body["messages"]) > 1 else ""
        for instance in instances:
            first = instance.problem_statement.strip().splitlines()[0].strip()
            if first and first in prompt:
                if "reproducing a bug report" in system:
                    return "A test that shows it.\n\n" + blocks(instance.test_patch)
                return "The fix the maintainers made.\n\n" + blocks(instance.patch)
        return "I do not recognise this issue."

    return reply


def batch(dataset: Path, repos: Path, instances: list[Instance], ids: list[str], workers: int):
    """One ``verifix bench run``; its seconds and the summary it wrote."""
    with tempfile.TemporaryDirectory(prefix="verifix-bench-gold-") as tmp:
        out = Path(tmp) / "out"
        with ScriptedModel([replier(instances)] * 1000) as server:
            command = [
                *("verifix", "bench", "run", str(dataset), "--repos", str(repos), "-o", str(out)),
                *("--model", "openai/scripted", "--api-base", server.url),
                *("--price-in", "0", "--price-out", "0", "--max-attempts", "2"),
                *("--workers", str(workers), "-q"),
                *(arg for i in ids for arg in ("--instance", i)),
            ]
            started = time.monotonic()
            proc = subprocess.run(command, capture_output=True, text=True)
            seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit(f"bench run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        summary = json.loads((out / "summary.json").read_text())
        predictions = (out / "predictions.jsonl").read_text().splitlines()
    return seconds, summary, predictions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--repos", type=Path, required=True)
    parser.add_argument("--slice", default=None)
    parser.add_argument("--instance", action="append")
    args = parser.parse_args()
    chosen = select(load_all(args.dataset), args.instance, args.slice)
    ids = [i.instance_id for i in chosen]
    one, summary, predictions = batch(args.dataset, args.repos, chosen, ids, 1)
    print(f"{'instance':40} {'status':14} {'resolved':8} {'seconds':>7}")
    for row in summary["instances"]:
        print(
            f"{row['instance_id']:40} {row['status']:14} {row['resolved']!s:8} "
            f"{row['seconds']:7.0f}"
        )
    valid = all(set(json.loads(p)) == {"instance_id", "model_name_or_path", "model_patch"}
                for p in predictions)  # fmt: skip
    totals = summary["totals"]
    print(f"\nresolved {totals['resolved']} of {totals['instances']}; predictions in the "
          f"SWE-bench format: {valid}")  # fmt: skip
    two, _, _ = batch(args.dataset, args.repos, chosen, ids, 2)
    print(f"--workers 1: {one:.0f} s; --workers 2: {two:.0f} s; speedup {one / two:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
