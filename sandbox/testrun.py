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

PLUGIN_DIR = incontainer.CONTAINER_DIR
REPORT_PATH = "/verifix/out/report.jsonl"

PASSING = frozenset({"passed", "xfailed", "xpassed"})
FAILING = frozenset({"failed", "error"})


@dataclass(frozen=True)
class TestResult:
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


def run_tests(
    container: Container,
    command: str,
    selection: list[str],
    timeout_s: int,
    env: Mapping[str, str],
) -> TestReport:
    """Run the suite once; a run that yields no per-test results carries an ``error``."""
    full = compose_command(command, selection)
    run_env = dict(env)
    run_env["PYTHONPATH"] = ":".join(p for p in (PLUGIN_DIR, env.get("PYTHONPATH")) if p)
    run_env["PYTEST_ADDOPTS"] = " ".join(
        p for p in ("-p verifix_report", env.get("PYTEST_ADDOPTS")) if p
    )
    run_env["VERIFIX_REPORT"] = REPORT_PATH
    container.run(f"rm -f {REPORT_PATH}; mkdir -p /verifix/out", 60, workdir="/")
    result = container.run(full, timeout_s, env=run_env)
    raw = container.read_file(REPORT_PATH) or b""
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
    return TestReport(results, result, full, error, counts)
