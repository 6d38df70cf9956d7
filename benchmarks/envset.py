"""Can verifix test real repositories it was never tuned for? ``env check`` across a task set.

For every task of ``../shared/envsets/dev.csv`` whose repository has a mirror (``--mirrors``
holding ``OWNER+NAME/repo``, as ``fetch`` leaves them), run ``verifix env check MIRROR
--rev BASE_COMMIT --json`` and compare the tests that pass with the dataset's own count
(``pass_to_pass_count``, from that dataset's hand-made environment). A task *holds* when the
baseline passes at least 90% of that count. Results go to a JSONL file, one line per task,
and a second invocation skips tasks already there (resumable); the summary groups the
failures by class.

    python benchmarks/envset.py ../shared/envsets/dev.csv --mirrors /work/.mirror --out envset.jsonl
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

_HOLD = 0.9


def _ran(counts: dict, expected: int) -> str:
    """A suite that ran holds when it passes 90% of the dataset's count; when the dataset
    counts none, 90% of it is nothing, so it holds when it passes some test (0 of 11 is
    not an environment)."""
    passed = sum(counts.get(k, 0) for k in ("passed", "xfailed", "xpassed"))
    return "holds" if passed >= max(_HOLD * expected, 1) else "runs, fewer tests pass"


def classify(report: dict, expected: int) -> str:
    """One short class per outcome, generic enough to count across repositories."""
    if report.get("ok"):
        return _ran(report.get("counts", {}), expected)
    reason = report.get("reason", "")
    if "is not in" in reason and "fetch it first" in reason:
        return "no commit in mirror"
    if reason.startswith("setup command"):
        match = re.search(r"setup command '([^' ]+(?: [^' ]+)?)", reason)
        return f"setup fails ({match.group(1) if match else 'command'})"
    if "no test results" in reason:
        return "suite does not run"
    if "timed out" in reason:
        return "timed out"
    return "other: " + reason[:60]


def check(verifix: str, mirror: Path, rev: str, timeout_s: int, via_verify: bool) -> dict:
    """``env check`` on the commit; with ``via_verify`` (versions that predate ``env
    check``), ``verify`` with no patch on a throwaway clone checked out at the commit."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="envset-") as tmp:
        if via_verify:
            clone = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "-q", "--no-checkout", str(mirror), str(clone)])
            subprocess.run(["git", "-C", str(clone), "checkout", "-q", rev], capture_output=True)
            cmd = [verifix, "verify", str(clone), "--json", "-q"]
        else:
            cmd = [verifix, "env", "check", str(mirror), "--rev", rev, "--json", "-q"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM: verifix removes its containers on the way out
            proc.communicate()
            return {"ok": False, "reason": f"timed out after {timeout_s}s"}
        proc = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        report = {"ok": False, "reason": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    if via_verify and "counts" in report:  # a verdict: the baseline side is the suite run
        error = report.get("status") == "ERROR"
        report = {
            "ok": not error,
            "counts": report["counts"].get("baseline", {}),
            "reason": report.get("reason", "") if error else "the suite runs",
            "python": report.get("environment", {}).get("python"),
        }
    report["wall_s"] = round(time.monotonic() - started, 1)
    return report


_SKIP = ("no mirror", "no commit in mirror")


def _load(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:  # classes by today's rule, whatever the file was written with
        if row["class"] in ("holds", "runs, fewer tests pass"):
            row["class"] = _ran(row.get("counts", {}), row["expected"])
    return {r["instance_id"]: r for r in rows if r["class"] not in _SKIP}


def compare(before: dict[str, dict], after: dict[str, dict]) -> int:
    """Holding share before and after, on the tasks both files measured, and what moved."""
    common = sorted(set(before) & set(after))
    for name, rows in (("before", before), ("after", after)):
        held = sum(1 for i in common if rows[i]["class"] == "holds")
        print(f"{name:7} {held} of {len(common)} hold ({held / max(len(common), 1):.0%})")
    for iid in common:
        if before[iid]["class"] != after[iid]["class"]:
            print(f"  {iid:50} {before[iid]['class']} -> {after[iid]['class']}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("csv", type=Path)
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("envset.jsonl"))
    parser.add_argument("--only", action="append", default=[], help="instance ids to run")
    parser.add_argument("--limit", type=int, default=0, help="stop after this many new tasks")
    parser.add_argument("--timeout", type=int, default=2400, help="seconds per task")
    parser.add_argument("--verifix", default="verifix", help="the verifix to measure")
    parser.add_argument(
        "--compare", type=Path, help="an earlier results file: shares on the tasks both hold"
    )
    parser.add_argument(
        "--via-verify", action="store_true", help="for versions without 'env check'"
    )
    args = parser.parse_args()
    if args.compare:
        return compare(_load(args.compare), _load(args.out))
    done = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done[row["instance_id"]] = row
    ran = 0
    with args.csv.open() as f:
        tasks = list(csv.DictReader(f))
    for task in tasks:
        iid = task["instance_id"]
        if iid in done or (args.only and iid not in args.only):
            continue
        if args.limit and ran >= args.limit:
            break
        mirror = args.mirrors / task["repo"].replace("/", "+") / "repo"
        expected = int(task["pass_to_pass_count"])
        if not mirror.exists():
            row = {"instance_id": iid, "class": "no mirror", "expected": expected}
        else:
            ran += 1
            report = check(args.verifix, mirror, task["base_commit"], args.timeout, args.via_verify)
            row = {
                "instance_id": iid,
                "class": classify(report, expected),
                "expected": expected,
                "counts": report.get("counts", {}),
                "python": report.get("python"),
                "reason": report.get("reason", ""),
                "wall_s": report.get("wall_s"),
            }
        done[iid] = row
        with args.out.open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(f"{iid:50} {row['class']:28} {row.get('reason', '')[:90]}", flush=True)
    rows = list(_load(args.out).values()) if args.out.exists() else []
    classes = Counter(r["class"] for r in rows)
    held = classes.get("holds", 0)
    print(
        f"\n{held} of {len(rows)} tasks with a mirror hold (baseline passes >= 90% of the "
        f"dataset's count): {held / max(len(rows), 1):.0%}"
    )
    for name, count in classes.most_common():
        print(f"  {count:4}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
