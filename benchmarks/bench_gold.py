"""``verifix bench run`` over SWE-bench instances with a scripted model that answers each
prompt the way a model that knew the answer would: the reproduction prompt with the
instance's test patch, the repair prompt with its gold patch, both as search/replace
blocks. No provider is called; every other part is real (snapshots, environments, the
reproduction test kept only if it fails, the staged checks, the predictions, the check of
each prediction against the instance's own tests).

It prints, in order:

- the batch (``--workers``, default 2; or the one already in ``--existing OUT``): each
  instance's status, whether it resolved (verifix's own check), its seconds and, when it
  did not resolve, its one-line reason; then resolved and VERIFIED of all, the median and
  maximum seconds per instance;
- the format check of ``predictions.jsonl``: each line has exactly ``instance_id``,
  ``model_name_or_path`` and ``model_patch`` (strings), each non-empty patch applies with
  ``git apply --check --cached`` to the instance's ``base_commit`` (read into the index of
  a clone of its mirror: mirrors may lack their largest blobs, so no checkout) and
  touches no file of the instance's ``test_patch``; with ``--swebench-python PY`` (a
  Python with ``pip install swebench``) also SWE-bench's own predictions loader
  (``get_predictions_from_file``) and its check that every prediction names an instance
  of the dataset (``get_dataset_from_preds``), neither needing Docker;
- with ``--fix N``: for the first N resolved instances (of ``--timing-filter``'s, when
  given), the seconds of one ``verifix fix`` on a clone at ``base_commit`` against a
  one-instance ``bench run`` of it and its row in the batch (the batch's overhead per
  instance);
- with ``--timing-filter REGEX`` (or ``--timing``): the wall-clock of the same batch of
  those instances with ``--workers 1``, ``--workers 2`` and, with ``--ray``, ``--executor
  ray`` on a two-node Ray cluster started on this machine (one ``docker`` slot per node),
  run alternately for ``--rounds`` rounds, each into a fresh folder, and the ratios
  against ``--workers 1``.

    python benchmarks/bench_gold.py ../shared/swebench/lite-dev.jsonl --repos /work/.mirror \\
        --filter 'sqlfluff|marshmallow' --fix 2 --timing --ray --out /tmp/bench-gold
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from verifix.agent.swebench import Instance, clone_of, load_all, select
from verifix.cli.example.scripted_model import ScriptedModel

_FILE = re.compile(r"^diff --git a/(\S+) b/(\S+)$")
KEYS = {"instance_id", "model_name_or_path", "model_patch"}
RAY = Path(sys.executable).parent / "ray"


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


def files_of(diff: str) -> set[str]:
    """The paths a unified diff touches (both sides of each ``diff --git`` line)."""
    found = (_FILE.match(line) for line in diff.splitlines())
    return {path for match in found if match for path in match.groups()}


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


def model_args(url: str) -> list[str]:
    return ["--model", "openai/scripted", "--api-base", url, "--price-in", "1", "--price-out", "2"]


def batch(
    dataset: Path, repos: Path, url: str, ids: list[str], out: Path, *extra: str
) -> tuple[float, dict, list[str]]:
    """One ``verifix bench run`` into ``out`` (which must not hold an earlier batch); its
    seconds, the summary it wrote and its prediction lines."""
    command = [
        *("verifix", "bench", "run", str(dataset), "--repos", str(repos), "-o", str(out)),
        *model_args(url),
        *("--max-attempts", "2", "-q", *extra),
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


def fix_seconds(instance: Instance, repos: Path, url: str, folder: Path) -> tuple[float, int]:
    """One ``verifix fix`` of ``instance`` on a fresh clone at its base commit, with its
    problem statement as the issue: its seconds and exit code (0: VERIFIED)."""
    clone = folder / instance.instance_id
    git = ["git", "-c", "advice.detachedHead=false"]
    mirror = str(clone_of(instance, repos))
    subprocess.run(
        [*git, "clone", "-q", "--shared", "--no-checkout", mirror, str(clone)], check=True
    )
    subprocess.run([*git, "-C", str(clone), "checkout", "-q", instance.base_commit], check=True)
    issue = folder / f"{instance.instance_id}.md"
    issue.write_text(instance.problem_statement)
    command = [
        *("verifix", "fix", str(clone), "--issue-file", str(issue), *model_args(url)),
        *("--max-attempts", "2", "-q", "--json"),
    ]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True)
    return time.monotonic() - started, proc.returncode


def check_format(predictions: list[str], chosen: list[Instance], repos: Path) -> list[str]:
    """What is wrong with the prediction lines, one line each: the keys and their types,
    one line per instance, each non-empty patch applying to ``base_commit`` with ``git
    apply --check --cached`` and touching no file of the instance's ``test_patch``."""
    by_id = {i.instance_id: i for i in chosen}
    problems: list[str] = []
    seen: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="verifix-bench-gold-check-") as tmp:
        clones: dict[str, Path] = {}
        for number, line in enumerate(predictions, 1):
            row = json.loads(line)
            if set(row) != KEYS or not all(isinstance(row[k], str) for k in KEYS & set(row)):
                problems.append(f"line {number}: keys {sorted(row)}, not three strings")
                continue
            name, patch = row["instance_id"], row["model_patch"]
            if name not in by_id or name in seen:
                problems.append(f"line {number}: {name} unknown or repeated")
                continue
            seen.add(name)
            if not patch.strip():
                continue
            instance = by_id[name]
            if touched := files_of(patch) & files_of(instance.test_patch):
                problems.append(f"{name}: touches test files {sorted(touched)}")
            if instance.repo not in clones:
                clones[instance.repo] = Path(tmp) / instance.repo.replace("/", "+")
                subprocess.run(
                    [
                        "git",
                        "clone",
                        "-q",
                        "--shared",
                        "--no-checkout",
                        str(clone_of(instance, repos)),
                        str(clones[instance.repo]),
                    ],
                    check=True,
                )
            # The index at base_commit, not a checkout: a mirror may lack its largest blobs,
            # and `git apply --cached` reads only the files the patch touches.
            clone = str(clones[instance.repo])
            subprocess.run(["git", "-C", clone, "read-tree", instance.base_commit], check=True)
            applied = subprocess.run(
                ["git", "-C", clone, "apply", "--check", "--cached", "-"],
                input=patch,
                capture_output=True,
                text=True,
            )
            if applied.returncode != 0:
                problems.append(f"{name}: git apply --check: {applied.stderr.strip()[:200]}")
        problems += [f"{name}: no prediction line" for name in by_id.keys() - seen]
    return problems


SWEBENCH_CHECK = """
import json, sys
from swebench.harness.utils import get_predictions_from_file
from swebench.harness.run_evaluation import get_dataset_from_preds
predictions = get_predictions_from_file(sys.argv[1], sys.argv[2], "test")
by_id = {p["instance_id"]: p for p in predictions}
dataset = get_dataset_from_preds(sys.argv[2], "test", list(by_id), by_id, "verifix-check",
                                 rewrite_reports=False, exclude_completed=False)
print(json.dumps({"predictions": len(predictions), "instances": len(dataset)}))
"""


def swebench_check(python: str, predictions: Path, dataset: Path) -> str:
    """SWE-bench's own loader of predictions and its check of them against the dataset,
    run by ``python`` (which has ``swebench``): no Docker, no images."""
    proc = subprocess.run(
        [python, "-c", SWEBENCH_CHECK, str(predictions), str(dataset)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return f"refused: {proc.stderr.strip().splitlines()[-1:]}"
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    return (
        f"accepted: {found['predictions']} predictions, {found['instances']} to evaluate "
        "(SWE-bench skips empty patches)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def ray_cluster() -> Iterator[str]:
    """A head and a second node on this machine, each with one CPU and one ``docker``
    slot and its own temp folder; its address. ``ray stop --force`` at the end."""
    folder = Path(tempfile.mkdtemp(prefix="vfxray-", dir="/tmp"))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    flags = ["--node-ip-address=127.0.0.1", "--num-cpus=1", '--resources={"docker": 1}']
    try:
        for name, args in (
            ("head", ["--head", f"--port={port}", "--include-dashboard=false"]),
            ("second", [f"--address={address}"]),
        ):
            subprocess.run(
                [
                    str(RAY),
                    "start",
                    *args,
                    *flags,
                    f"--temp-dir={folder / name}",
                    "--disable-usage-stats",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        script = (
            "import ray\n"
            f"ray.init(address={address!r}, logging_level='ERROR', log_to_driver=False)\n"
            "print(sum(1 for n in ray.nodes() if n['Alive']))\n"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
            if proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "2":
                break
            time.sleep(1)
        else:
            raise SystemExit("the two-node Ray cluster did not come up")
        yield address
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--repos", type=Path, required=True)
    parser.add_argument("--slice", default=None)
    parser.add_argument("--instance", action="append")
    parser.add_argument("--filter", default=None, help="only instances whose id matches")
    parser.add_argument("--workers", type=int, default=2, help="the first batch's workers")
    parser.add_argument("--out", type=Path, default=None, help="keep the batches here")
    parser.add_argument(
        "--existing", type=Path, default=None, help="report this batch's folder, not a new one"
    )
    parser.add_argument("--swebench-python", default=None, help="a Python with swebench")
    parser.add_argument("--fix", type=int, default=0, help="time verifix fix on N instances")
    parser.add_argument("--timing", action="store_true", help="time workers 1 against 2")
    parser.add_argument("--timing-filter", default=None, help="... on these instances")
    parser.add_argument("--ray", action="store_true", help="... and a two-node Ray cluster")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    chosen = select(load_all(args.dataset), args.instance, args.slice)
    if args.filter:
        chosen = [i for i in chosen if re.search(args.filter, i.instance_id)]
    ids = [i.instance_id for i in chosen]
    keep = args.out is not None
    out = args.out or Path(tempfile.mkdtemp(prefix="verifix-bench-gold-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        with ScriptedModel([replier(chosen)] * 100000) as server:
            report(args, chosen, ids, out, server.url)
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    return 0


def fresh(out: Path, name: str) -> Path:
    folder = out / name
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def report(
    args: argparse.Namespace, chosen: list[Instance], ids: list[str], out: Path, url: str
) -> None:
    if args.existing:
        first, wall = args.existing, float("nan")
        summary = json.loads((first / "summary.json").read_text())
        predictions = (first / "predictions.jsonl").read_text().splitlines()
        done = {row["instance_id"] for row in summary["instances"]}
        chosen = [i for i in chosen if i.instance_id in done]
        ids = [i.instance_id for i in chosen]
        by_id = {i.instance_id for i in chosen}
        summary["instances"] = [r for r in summary["instances"] if r["instance_id"] in by_id]
        summary["totals"]["instances"] = len(summary["instances"])
        summary["totals"]["resolved"] = sum(bool(r["resolved"]) for r in summary["instances"])
        summary["totals"]["verified"] = sum(r["status"] == "VERIFIED" for r in summary["instances"])
        predictions = [p for p in predictions if json.loads(p)["instance_id"] in by_id]
    else:
        first = fresh(out, f"batch-w{args.workers}")
        wall, summary, predictions = batch(
            args.dataset, args.repos, url, ids, first, "--workers", str(args.workers)
        )
    print(f"{'instance':40} {'status':14} {'resolved':8} {'seconds':>7}  reason")
    for row in summary["instances"]:
        reason = (
            "" if row["resolved"] else row["reason"].splitlines()[0][:120] if row["reason"] else ""
        )
        print(
            f"{row['instance_id']:40} {row['status']:14} {row['resolved']!s:8} "
            f"{row['seconds']:7.0f}  {reason}"
        )
    totals, seconds = summary["totals"], [row["seconds"] for row in summary["instances"]]
    print(
        f"\nresolved {totals['resolved']} of {totals['instances']}, VERIFIED "
        f"{totals['verified']}; per instance median {statistics.median(seconds):.0f} s, max "
        f"{max(seconds):.0f} s; "
        + (f"wall-clock {wall:.0f} s with --workers {args.workers}" if wall == wall else "")
    )
    problems = check_format(predictions, chosen, args.repos)
    empty = sum(not json.loads(p)["model_patch"].strip() for p in predictions)
    print(
        f"predictions.jsonl: {len(predictions)} lines ({empty} empty patches), SWE-bench "
        f"format {'holds' if not problems else 'broken'}"
    )
    for problem in problems:
        print(f"  {problem}")
    if args.swebench_python:
        verdict = swebench_check(args.swebench_python, first / "predictions.jsonl", args.dataset)
        print(f"swebench's loader: {verdict}")

    rows = {row["instance_id"]: row for row in summary["instances"]}
    if args.fix:
        resolved = [
            i
            for i in chosen
            if rows[i.instance_id]["resolved"]
            and (not args.timing_filter or re.search(args.timing_filter, i.instance_id))
        ]
        left = args.fix
        print(f"\n{'instance':40} {'fix':>6} {'bench 1':>8} {'row':>6} {'batch row':>9}")
        with tempfile.TemporaryDirectory(prefix="verifix-bench-gold-fix-") as tmp:
            for instance in resolved:
                if left <= 0:
                    break
                name = instance.instance_id
                try:
                    fixed, code = fix_seconds(instance, args.repos, url, Path(tmp))
                except subprocess.CalledProcessError:
                    print(f"{name:40} no checkout (its mirror lacks blobs): not timed")
                    continue
                left -= 1
                folder = fresh(out, f"one-{name}")
                one, alone, _ = batch(
                    args.dataset, args.repos, url, [name], folder, "--workers", "1"
                )
                print(
                    f"{name:40} {fixed:6.0f} {one:8.0f} {alone['instances'][0]['seconds']:6.0f}"
                    f" {rows[name]['seconds']:9.0f}  (fix exit {code})"
                )
        print(
            "fix: one verifix fix, its process; bench 1: a one-instance bench run, its "
            "process; row: its summary's seconds; batch row: the first batch's"
        )

    if args.timing or args.timing_filter:
        timed = [i for i in ids if not args.timing_filter or re.search(args.timing_filter, i)]
        runs = [("workers 1", ["--workers", "1"]), ("workers 2", ["--workers", "2"])]
        walls: dict[str, list[float]] = {name: [] for name, _ in runs}
        with ray_cluster() if args.ray else _nothing() as address:
            if address:
                runs.append(("ray 2 nodes", ["--executor", "ray", "--ray-address", address]))
                walls["ray 2 nodes"] = []
            for round_ in range(args.rounds):
                order = runs[round_ % len(runs) :] + runs[: round_ % len(runs)]
                for name, extra in order:
                    folder = fresh(out, f"time-{name.replace(' ', '')}-r{round_}")
                    took, done, _ = batch(args.dataset, args.repos, url, timed, folder, *extra)
                    walls[name].append(took)
                    print(
                        f"round {round_ + 1} {name:12} {took:6.0f} s  resolved "
                        f"{done['totals']['resolved']} of {len(timed)}"
                    )
        base = statistics.median(walls["workers 1"])
        print(f"\nthe same {len(timed)} instances, median of {args.rounds} round(s):")
        for name, values in walls.items():
            took = statistics.median(values)
            print(f"  {name:12} {took:6.0f} s  speedup over workers 1: {base / took:.2f}x")


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    raise SystemExit(main())
