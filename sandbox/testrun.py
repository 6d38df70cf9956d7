"""Running a test command in a sandbox and reading per-test results from a report file.

Results come from the ``verifix_report`` pytest plugin, injected through PYTEST_ADDOPTS, so
they hold whatever command the repo uses to call pytest (a Makefile, a script, tox's
commands run directly), and never from scraping terminal text.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import incontainer
from .container import Container, ExecResult
from .errors import SandboxError

PLUGIN_DIR = incontainer.CONTAINER_DIR
REPORT_PATH = "/verifix/out/report.jsonl"

PASSING = frozenset({"passed", "xfailed", "xpassed"})
FAILING = frozenset({"failed", "error"})


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class
    id: str
    outcome: str  # passed, failed, error, skipped, xfailed, xpassed
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome in PASSING

    @property
    def failed(self) -> bool:
        return self.outcome in FAILING


@dataclass(frozen=True)
class TestReport:
    """One run of the test command: per-test results plus how the command itself ended."""

    __test__ = False

    results: Mapping[str, TestResult]
    exec: ExecResult
    command: str
    error: str | None = None  # set when the run produced no usable results
    counts: Mapping[str, int] = field(default_factory=dict)

    def outcome(self, test_id: str) -> str | None:
        result = self.results.get(test_id)
        return result.outcome if result else None


def install_helpers(container: Container) -> None:
    """Copy the report plugin and setup helpers into a container; once per container."""
    container.put_files(incontainer.CONTAINER_DIR, incontainer.files())


def compose_command(command: str, selection: list[str]) -> str:
    """Insert the selected test paths at ``{tests}``, or append them."""
    quoted = " ".join(shlex.quote(s) for s in selection)
    if "{tests}" in command:
        return command.replace("{tests}", quoted)
    return f"{command} {quoted}".strip()


def _merge(lines: list[dict]) -> dict[str, TestResult]:
    """Fold setup/call/teardown reports into one outcome per test, as pytest's summary does."""
    results: dict[str, TestResult] = {}
    for rec in lines:
        test_id, when, outcome = rec["id"], rec["when"], rec["outcome"]
        previous = results.get(test_id)
        if when == "collect":
            results[test_id] = TestResult(test_id, "error", rec["message"])
        elif when == "call":
            if outcome == "passed":
                new = "xpassed" if rec["xfail"] else "passed"
            elif outcome == "skipped":
                new = "xfailed" if rec["xfail"] else "skipped"
            else:
                new = "failed"
            if previous is None or previous.outcome in PASSING:
                results[test_id] = TestResult(test_id, new, rec["message"])
        elif outcome == "failed":  # setup or teardown failed
            if previous is None or previous.outcome != "failed":
                results[test_id] = TestResult(test_id, "error", rec["message"])
        elif outcome == "skipped" and when == "setup":
            new = "xfailed" if rec["xfail"] else "skipped"
            results[test_id] = TestResult(test_id, new, rec["message"])
        elif previous is None and when == "setup":
            results[test_id] = TestResult(test_id, "passed")
    return results


#: One exec per check: back to the base tree, apply the patch, run the tests with their
#: output on stderr, then the exit code and the report on stdout.
_CHECK_SCRIPT = r"""
git reset -q --hard HEAD && git clean -qfd || { echo 'VERIFIX-RESET-FAILED'; exit 0; }
if [ -n "$VERIFIX_PATCH" ]; then printf '%s' "$VERIFIX_PATCH" > /verifix/in/patch.diff; fi
if [ -n "$VERIFIX_PATCH$VERIFIX_PATCH_FILE" ]; then
  if ! git apply --whitespace=nowarn /verifix/in/patch.diff 1>&2; then
    git apply --reject --whitespace=nowarn /verifix/in/patch.diff >/dev/null 2>&1
    echo 'rejected hunks:' 1>&2
    find . -name '*.rej' -not -path './.git/*' -exec sh -c 'echo "--- $1"; cat "$1"' _ {} \; 1>&2
    echo 'VERIFIX-APPLY-FAILED'
    exit 0
  fi
fi
mkdir -p "$(dirname "$VERIFIX_REPORT")" && rm -f "$VERIFIX_REPORT"
timeout -k 5 "$VERIFIX_TEST_TIMEOUT" sh -c "$VERIFIX_TEST_COMMAND" 1>&2
echo "VERIFIX-EXIT $?"
cat "$VERIFIX_REPORT" 2>/dev/null
exit 0
"""

#: Patches up to this size travel in an environment variable (Linux caps one at 128 KiB).
_INLINE_PATCH_MAX = 100_000
#: Time for reset, apply and reading the report, on top of the tests' own timeout.
_CHECK_SLACK_S = 120


@dataclass(frozen=True)
class CheckRun:
    """One check: whether the patch applied (git's complaint if not) and the test report."""

    applied: bool
    rejected: str
    report: TestReport | None


def run_check(
    container: Container,
    command: str,
    selection: list[str],
    timeout_s: int,
    env: Mapping[str, str],
    patch: str | None,
) -> CheckRun:
    """Reset to the base tree, apply ``patch`` (if any) and run the suite, in one exec."""
    full = compose_command(command, selection)
    run_env = dict(env)
    run_env["PYTHONPATH"] = ":".join(p for p in (PLUGIN_DIR, env.get("PYTHONPATH")) if p)
    run_env["PYTEST_ADDOPTS"] = " ".join(
        p for p in ("-p verifix_report", env.get("PYTEST_ADDOPTS")) if p
    )
    run_env.update(
        VERIFIX_REPORT=REPORT_PATH,
        VERIFIX_TEST_COMMAND=full,
        VERIFIX_TEST_TIMEOUT=str(timeout_s),
    )
    if patch and len(patch.encode()) <= _INLINE_PATCH_MAX:
        run_env["VERIFIX_PATCH"] = patch
    elif patch:
        container.put_files("/verifix/in", {"patch.diff": patch.encode()})
        run_env["VERIFIX_PATCH_FILE"] = "/verifix/in/patch.diff"
    result, out = container.run_split(_CHECK_SCRIPT, timeout_s + _CHECK_SLACK_S, env=run_env)
    head, _, rest = out.partition(b"\n")
    marker = head.decode(errors="replace").strip()
    if marker == "VERIFIX-APPLY-FAILED":
        return CheckRun(False, result.output.strip(), None)
    if marker == "VERIFIX-RESET-FAILED" or not marker.startswith("VERIFIX-EXIT "):
        raise SandboxError(f"the sandbox could not run the check: {result.output[-500:]}")
    exit_code = int(marker.split()[1])
    timed_out = exit_code in (124, 137) and result.duration_s >= timeout_s - 0.5
    test_exec = ExecResult(exit_code, result.output, timed_out, result.duration_s)
    return CheckRun(True, "", _report(rest, test_exec, full, timeout_s))


def _report(raw: bytes, result: ExecResult, command: str, timeout_s: int) -> TestReport:
    lines = [json.loads(line) for line in raw.decode(errors="replace").splitlines() if line.strip()]
    results = _merge(lines)
    error = None
    if result.timed_out and not results:
        error = f"the test command timed out after {timeout_s}s before any test finished"
    elif not results:
        last = result.output.strip().splitlines()[-1:] or ["(no output)"]
        error = (
            f"the test command produced no test results (exit code {result.exit_code}): "
            f"{last[0][:300]}"
        )
    counts: dict[str, int] = {}
    for test in results.values():
        counts[test.outcome] = counts.get(test.outcome, 0) + 1
    return TestReport(results, result, command, error, counts)
