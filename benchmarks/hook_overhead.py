"""What the pre-push hook adds to the tests' own time when they pass, in a warm environment.

A repository with a suite of ``--tests`` small tests is pushed through ``verifix hook run``
(given git's pre-push input on stdin), after the environment is built once. The baseline is
the test command's own run inside the sandbox, measured by the same verifix run
(``verifix verify --json``: ``timings.baseline_s``); the ratio is what a passing push pays.

    python benchmarks/hook_overhead.py [--tests 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VERIFIX = str(Path(sys.executable).parent / "verifix")


def make_repo(root: Path, tests: int) -> Path:
    repo = root / "bench"
    (repo / "tests").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    body = "import time\n\n" + "".join(
        f"\ndef test_{i}():\n    time.sleep(0.005)\n    assert {i} + 1 == {i + 1}\n"
        for i in range(tests)
    )
    (repo / "tests" / "test_many.py").write_text(body)
    git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return repo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp), args.tests)
        subprocess.run([VERIFIX, "env", "build", "-q", str(repo)], check=True, capture_output=True)
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        refs = f"refs/heads/main {sha} refs/heads/main {'0' * 40}\n"
        own, hook = [], []
        for _ in range(args.rounds):
            verdict = subprocess.run(
                [VERIFIX, "verify", "--json", "-q", str(repo)], capture_output=True, text=True
            )
            own.append(json.loads(verdict.stdout)["timings"]["baseline_s"])
            started = time.perf_counter()
            ran = subprocess.run(
                [VERIFIX, "hook", "run", "-q", "origin", "url"],
                cwd=repo,
                input=refs,
                capture_output=True,
                text=True,
                env={"VERIFIX_MODEL": "", "PATH": "/usr/bin:/bin"},
            )
            hook.append(time.perf_counter() - started)
            assert ran.returncode == 0, ran.stderr
    tests_s, hook_s = statistics.median(own), statistics.median(hook)
    print(f"{args.tests} tests, their own run in the sandbox   {tests_s:6.2f} s   1.00x")
    print(f"verifix hook run (pre-push, tests pass)   {hook_s:6.2f} s   {hook_s / tests_s:5.2f}x")
    print(f"what the hook adds                         {hook_s - tests_s:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
