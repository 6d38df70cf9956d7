"""Check verifix's verdicts against SWE-bench ground truth.

For every instance: the gold patch must be VERIFIED, and no patch must be NOT VERIFIED.
Repos come from local clones or mirrors (``--repo OWNER/NAME=PATH``, or ``--mirrors DIR``
holding ``OWNER+NAME/repo``); per-instance or per-repo overrides, where detection cannot
know, are ``[sandbox]`` files in ``benchmarks/swebench/overrides/`` named
``<instance_id>.toml`` or ``<owner>__<name>.toml``.

    python benchmarks/swebench_gold.py ../shared/swebench/lite-dev.jsonl --mirrors /work/.mirror
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

OVERRIDES = Path(__file__).parent / "swebench" / "overrides"


def verify(repo: Path, jsonl: Path, instance: str, gold: bool, config: Path | None) -> dict:
    cmd = [
        "verifix",
        "verify",
        str(repo),
        "--swebench",
        str(jsonl),
        "--instance",
        instance,
        "--json",
        "-q",
    ]
    if gold:
        cmd.append("--gold")
    if config:
        cmd += ["--config", str(config)]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    try:
        verdict = json.loads(proc.stdout)
        status, reason = verdict["status"], verdict["reason"]
    except (json.JSONDecodeError, KeyError):
        verdict, status = {}, f"EXIT {proc.returncode}"
        reason = (proc.stderr.strip().splitlines() or [""])[-1]
    return {
        "status": status,
        "reason": reason,
        "seconds": round(elapsed, 1),
        "exit": proc.returncode,
        "verdict": verdict,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("jsonl", type=Path)
    parser.add_argument("--mirrors", type=Path)
    parser.add_argument("--repo", action="append", default=[], help="OWNER/NAME=PATH")
    parser.add_argument("--instance", action="append", default=[], help="only these ids")
    parser.add_argument("--out", type=Path, default=Path("swebench-results.json"))
    args = parser.parse_args()
    paths = dict(item.split("=", 1) for item in args.repo)
    rows = [json.loads(line) for line in args.jsonl.read_text().splitlines() if line.strip()]
    results = {}
    for row in rows:
        iid, repo_name = row["instance_id"], row["repo"]
        if args.instance and iid not in args.instance:
            continue
        repo = Path(paths.get(repo_name) or (args.mirrors / repo_name.replace("/", "+") / "repo"))
        config = next(
            (
                p
                for p in (
                    OVERRIDES / f"{iid}.toml",
                    OVERRIDES / f"{repo_name.replace('/', '__')}.toml",
                )
                if p.is_file()
            ),
            None,
        )
        if not repo.exists():
            results[iid] = {"gold": {"status": "NO REPO"}, "none": {"status": "NO REPO"}}
            print(f"{iid:40} no clone of {repo_name}", flush=True)
            continue
        gold = verify(repo, args.jsonl, iid, True, config)
        none = verify(repo, args.jsonl, iid, False, config)
        ok = gold["status"] == "VERIFIED" and none["status"] == "NOT_VERIFIED"
        results[iid] = {"gold": gold, "none": none, "ok": ok, "config": str(config or "")}
        wrong = gold if gold["status"] != "VERIFIED" else none
        print(
            f"{iid:40} gold {gold['status']:14} {gold['seconds']:6.1f}s   "
            f"none {none['status']:14} {none['seconds']:6.1f}s  "
            + ("ok" if ok else "FAIL: " + wrong["reason"][:150]),
            flush=True,
        )
    args.out.write_text(json.dumps(results, indent=1))
    good = sum(1 for r in results.values() if r.get("ok"))
    print(f"\n{good} of {len(results)} instances: gold VERIFIED and no patch NOT VERIFIED")
    return 0 if good == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
