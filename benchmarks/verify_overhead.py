"""What verifix adds to each patch check, against a bare ``docker exec`` measured in the same run.

Per check, verifix resets the tree, applies the patch, runs the test command under its
in-container timeout and reads the report. This script times that path with the test
command replaced by ``true`` (so only verifix's own work is left), next to:

- a bare ``docker exec true`` on the same warm container (the floor), and
- a fresh container per check (what a warm container saves),

and an environment build cold (``rebuild``) against warm (cached). The machine is shared
and noisy, so only ratios against the baseline of the same run are meaningful.

    python benchmarks/verify_overhead.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from verifix.sandbox import environment, snapshot
from verifix.sandbox.config import resolve
from verifix.sandbox.detect import detect
from verifix.sandbox.engine import connect
from verifix.sandbox.verify import Checks, VerifySession

MODULE = "def add(a, b):\n    return a - b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
TARGET = "tests/test_calc.py::test_add"
PATCH = """--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a - b
+    return a + b
"""


def make_repo(root: Path) -> Path:
    repo = root / "bench"
    (repo / "tests").mkdir(parents=True)
    (repo / "calc.py").write_text(MODULE)
    (repo / "tests" / "test_calc.py").write_text(TEST)
    (repo / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return repo


def timed(fn, rounds: int) -> float:
    """Median seconds of ``fn`` over ``rounds`` runs (after one warm-up)."""
    fn()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold environment build")
    args = parser.parse_args()
    client = connect()
    quiet = lambda _m: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp, snapshot.of_worktree(make_repo(Path(tmp))) as snap:
        spec = resolve(detect(snap.root, snap.commit_date), [], {"python": "3.11"})
        if not args.skip_cold:
            started = time.perf_counter()
            env = environment.prepare(client, snap, spec, quiet, rebuild=True)
            cold = time.perf_counter() - started
        started = time.perf_counter()
        env = environment.prepare(client, snap, spec, quiet)
        warm = time.perf_counter() - started

        # The test command is `true`: what is left of a check is verifix's own work.
        bench_env = replace(env, spec=replace(spec, test_command="true"))
        with VerifySession(client, bench_env, snap, Checks(), quiet) as session:
            box = session.container
            assert box is not None
            api = client.api

            def bare_exec() -> None:
                exec_id = api.exec_create(box.raw.id, ["true"])["Id"]
                api.exec_start(exec_id)
                api.exec_inspect(exec_id)

            def verifix_check() -> None:
                run = session.run(PATCH)
                assert run.applied

            floor = timed(bare_exec, args.rounds)
            check = timed(verifix_check, args.rounds)

        # With the real test command: one pytest run, then the same with the target
        # confirmed in a run of its own (what every VERIFIED pays for).
        with VerifySession(client, env, snap, Checks(), quiet) as session:

            def pytest_check() -> None:
                assert session.run(PATCH).report is not None

            def confirmed_check() -> None:
                assert session.run(PATCH, [TARGET]).confirm is not None

            real = timed(pytest_check, max(5, args.rounds // 2))
            confirmed = timed(confirmed_check, max(5, args.rounds // 2))

        def fresh_container_check() -> None:
            with VerifySession(client, bench_env, snap, Checks(), quiet) as fresh:
                assert fresh.run(PATCH).applied

        fresh = timed(fresh_container_check, max(3, args.rounds // 4))

    print(f"bare docker exec true (baseline)      {floor * 1000:8.1f} ms   1.00x")
    print(f"verifix per-patch overhead            {check * 1000:8.1f} ms   {check / floor:5.2f}x")
    print(f"fresh container per check             {fresh * 1000:8.1f} ms   {fresh / floor:5.2f}x")
    print(f"a check running pytest (1 test)       {real * 1000:8.1f} ms   1.00x (its own baseline)")
    ratio = confirmed / real
    print(f"the same, target confirmed alone      {confirmed * 1000:8.1f} ms   {ratio:5.2f}x")
    if not args.skip_cold:
        print(f"environment cold build                {cold:8.1f} s")
        print(f"environment warm (cached)             {warm:8.3f} s    {cold / warm:5.0f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
