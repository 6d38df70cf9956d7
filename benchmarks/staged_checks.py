"""Cheap checks first, on a real suite: a check with staging against the same check without,
measured in the same run, for a wrong patch (the target still fails), a patch that fixes the
target but breaks a test of a file importing the changed module, and a right one.

The repository is stfc/fparser at the envset's base commit (about 2,700 tests), cloned from
a mirror, with a bug committed in ``src/fparser/two/C99Preprocessor.py``
(``Cpp_Endif_Stmt.tostr`` strips the directive) so that the target test,
``test_c99preprocessor.py::test_endif_stmt[  #  endif  ]``, fails at baseline:

- **wrong** edits the same class but leaves the bug: staged, the check ends after the
  target's own run;
- **breaks** removes the bug and strips ``#else`` instead: staged, it ends after the tests of
  the files importing ``C99Preprocessor``;
- **right** removes the bug: staged, the target alone, the affected tests, then the full
  suite (a VERIFIED always rests on it); unstaged, the full suite then the target alone.

One session (one container, one baseline) serves every check; staged and unstaged checks
alternate, so both see the same machine. The machine is shared and noisy: only the ratios
of the same run mean something.

    python benchmarks/staged_checks.py [--rounds 3] [--mirror DIR] [--commit SHA] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from verifix.sandbox import environment, snapshot
from verifix.sandbox.engine import connect
from verifix.sandbox.verify import Checks, VerifySession

MIRROR = "/work/.mirror/stfc+fparser/repo"
COMMIT = "be09a2385d5066caaf57e97b654c920974805048"
MODULE = "src/fparser/two/C99Preprocessor.py"
TARGET = "src/fparser/two/tests/test_c99preprocessor.py::test_endif_stmt[  #  endif  ]"


def _tostr(kind: str, body: str) -> str:
    return f"""        :return: this {kind}-stmt as a string.
        :rtype: str
        \"\"\"
        return {body}
"""


ENDIF_GOOD, ENDIF_BUG = _tostr("endif", "self.string"), _tostr("endif", "self.string.strip()")
ELSE_GOOD, ELSE_BAD = _tostr("else", "self.string"), _tostr("else", "self.string.strip()")
MATCH_GOOD = "        return StringBase.match(Cpp_Endif_Stmt._pattern, string)\n"
MATCH_WRONG = "        return StringBase.match(Cpp_Endif_Stmt._pattern, string.rstrip())\n"
#: What each patch does to the buggy module: (old, new) replacements.
PATCHES = {
    "wrong": [(MATCH_GOOD, MATCH_WRONG)],
    "breaks": [(ENDIF_BUG, ENDIF_GOOD), (ELSE_GOOD, ELSE_BAD)],
    "right": [(ENDIF_BUG, ENDIF_GOOD)],
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def make_repo(workdir: Path, mirror: str, commit: str) -> Path:
    """The mirror's commit, plus one commit that plants the bug, dated as the commit (so the
    packages are of its era, as for the repository itself). The clone stays in ``workdir``:
    the environment image, keyed by the repository's path, is reused by the next run."""
    repo = workdir / "fparser"
    if not (repo / ".git").is_dir():
        subprocess.run(["git", "clone", "-q", "--no-checkout", mirror, str(repo)], check=True)
    git(repo, "checkout", "-q", "-f", commit)
    git(repo, "clean", "-qffdx")
    path = repo / MODULE
    text = path.read_text()
    assert text.count(ENDIF_GOOD) == 1, "the method to break is not where expected"
    path.write_text(text.replace(ENDIF_GOOD, ENDIF_BUG))
    date = git(repo, "log", "-1", "--format=%cI", commit).strip()
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "commit",
            "-qam",
            "bug: #endif loses its spacing",
        ],
        check=True,
        env={**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
    )
    return repo


def patch_for(repo: Path, edits: list[tuple[str, str]]) -> str:
    """A real diff against the buggy tree."""
    path = repo / MODULE
    old = text = path.read_text()
    for before, after in edits:
        assert text.count(before) == 1, before
        text = text.replace(before, after)
    path.write_text(text)
    try:
        return git(repo, "diff", "--", MODULE)
    finally:
        path.write_text(old)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mirror", default=MIRROR)
    parser.add_argument("--commit", default=COMMIT)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/verifix-bench-staged"),
        help="where the clone lives between runs",
    )
    args = parser.parse_args()
    client = connect()
    say = lambda m: print(f"  {m}", file=sys.stderr, flush=True)  # noqa: E731
    quiet = lambda _m: None  # noqa: E731
    samples: dict[tuple[str, bool], list[float]] = {}
    decided: dict[tuple[str, bool], set[str]] = {}
    args.workdir.mkdir(parents=True, exist_ok=True)
    repo = make_repo(args.workdir, args.mirror, args.commit)
    patches = {name: patch_for(repo, edits) for name, edits in PATCHES.items()}
    with snapshot.of_worktree(repo) as snap:
        spec = environment.spec_for(snap, None, {})
        env = environment.prepare(client, snap, spec, say)
        checks = Checks(targets=[TARGET])
        with VerifySession(client, env, snap, checks, quiet) as session:
            baseline = session.run_baseline()
            suite = len(baseline.results)
            failing = sum(1 for r in baseline.results.values() if r.failed)
            say(f"baseline: {suite} tests, {failing} failing, {baseline.exec.duration_s:.1f}s")
            affected = None
            for n in range(args.rounds):
                for name, patch in patches.items():
                    # Alternate which mode goes first, so neither always runs warmer.
                    for staged in (n % 2 == 0, n % 2 == 1):
                        checks.staged = staged
                        started = time.perf_counter()
                        verdict = session.check(patch)
                        seconds = time.perf_counter() - started
                        samples.setdefault((name, staged), []).append(seconds)
                        decided.setdefault((name, staged), set()).add(
                            f"{verdict.status.value} at {verdict.stage}"
                        )
                        if staged and verdict.affected and verdict.affected["files"]:
                            affected = verdict.affected
                        stages = {
                            k: v
                            for k, v in verdict.timings.items()
                            if k not in ("load_s", "baseline_s", "patched_s")
                        }
                        say(
                            f"round {n + 1}: {name:5} {'staged' if staged else 'whole':6} "
                            f"{seconds:6.1f}s  {verdict.status.value} at {verdict.stage}  "
                            f"{stages}"
                        )

    print(f"stfc/fparser @ {args.commit[:10]}: {suite} tests; target {TARGET!r}")
    if affected:
        print(
            f"affected stage: {affected['tests']} tests in {len(affected['files'])} "
            f"file{'s' if len(affected['files']) != 1 else ''} "
            f"importing {Path(MODULE).stem}"
        )
    print(f"median of {args.rounds} rounds each, seconds per check (the baseline run excluded)")
    print(f"{'patch':6} {'whole suite':>12} {'staged':>8} {'staged/whole':>13}  decided")
    for name in patches:
        whole = statistics.median(samples[(name, False)])
        staged = statistics.median(samples[(name, True)])
        how = ", ".join(sorted(decided[(name, True)])) + " / " + ", ".join(decided[(name, False)])
        print(f"{name:6} {whole:12.1f} {staged:8.1f} {staged / whole:12.2f}x  {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
