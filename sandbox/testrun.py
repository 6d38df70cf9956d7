"""Running a test command in a sandbox and reading per-test results out of its reach.

Results come from the ``verifix_report`` pytest plugin, injected through PYTEST_ADDOPTS, so
they hold whatever command the repo uses to call pytest (a Makefile, a script, tox's
commands run directly), and never from scraping terminal text. The plugin writes to a pipe
read by the in-container supervisor (``incontainer/supervise.py``), which runs the tests as
an unprivileged user and frames what comes back; this module judges that framing and the
records with suspicion: bounded, malformed lines refused, the worst outcome kept.
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

PASSING = frozenset({"passed", "xfailed", "xpassed"})
FAILING = frozenset({"failed", "error"})


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class
    id: str
    outcome: str  # passed, failed, error, skipped, xfailed, xpassed
    message: str = ""
    seconds: float = 0.0  # setup + call + teardown, as pytest timed them

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
    #: The results channel held more than verifix reads, or lines it did not write.
    tampered: bool = False

    def outcome(self, test_id: str) -> str | None:
        result = self.results.get(test_id)
        return result.outcome if result else None


def joined(known: TestReport, extra: TestReport) -> TestReport:
    """``known`` with ``extra``'s results over it: a baseline that a few test files run
    again joined, where running the whole suite again would say the same of the rest."""
    results = {**known.results, **extra.results}
    return TestReport(
        results,
        known.exec,
        known.command,
        known.error or extra.error,
        _counts(results),
        tampered=known.tampered or extra.tampered,
    )


def _counts(results: Mapping[str, TestResult]) -> dict[str, int]:
    """How many tests ended each way: ``{"passed": 3, "failed": 1}``."""
    counts: dict[str, int] = {}
    for test in results.values():
        counts[test.outcome] = counts.get(test.outcome, 0) + 1
    return counts


def install_helpers(container: Container) -> None:
    """Copy the report plugin and setup helpers into a container; once per container."""
    container.put_files(incontainer.CONTAINER_DIR, incontainer.files())


def compose_command(command: str, selection: list[str]) -> str:
    """Insert the selected test paths at ``{tests}``, or append them."""
    quoted = " ".join(shlex.quote(s) for s in selection)
    if "{tests}" in command:
        return command.replace("{tests}", quoted)
    return f"{command} {quoted}".strip()


#: Rank of outcomes when a test has conflicting records: the worst one counts, so a record
#: appended after the fact can never turn a failure into a pass.
_RANK = {"error": 0, "failed": 1, "skipped": 2, "xfailed": 3, "xpassed": 4, "passed": 5}


def _phase_outcome(rec: dict) -> str:
    when, outcome, xfail = rec["when"], rec["outcome"], rec.get("xfail")
    if when == "collect":
        return "error"
    if when == "call":
        if outcome == "passed":
            return "xpassed" if xfail else "passed"
        if outcome == "skipped":
            return "xfailed" if xfail else "skipped"
        return "failed"
    if outcome == "failed":
        return "error"  # setup or teardown failed
    if outcome == "skipped":
        return "xfailed" if xfail else "skipped"
    return "passed"


def _merge(lines: list[dict], died: str) -> dict[str, TestResult]:
    """Fold setup/call/teardown records into one outcome per test, the worst seen.

    A test passes only with a passing call phase and a passing teardown: a process that
    died during the call (a segfault, ``os._exit``, the OOM killer) leaves a setup record
    and nothing more, and that is an error, never a pass. A plain test function whose call
    was reported passed although the reporter saw it raise (or never saw it run) had its
    report rewritten by some hook: an error too.
    """
    phases: dict[str, dict[str, list[dict]]] = {}
    for rec in lines:
        phases.setdefault(rec["id"], {}).setdefault(rec["when"], []).append(rec)
    results: dict[str, TestResult] = {}
    for test_id, seen in phases.items():
        outcomes: list[tuple[str, str]] = []
        for when in ("collect", "setup", "call", "teardown"):
            for rec in seen.get(when, []):
                outcome = _phase_outcome(rec)
                message = rec.get("message") or ""
                if (
                    when == "call"
                    and outcome == "passed"
                    and rec.get("watched")
                    not in (
                        None,
                        "returned",
                    )
                ):
                    outcome = "error"
                    message = (
                        "the test was reported passed, but the test function "
                        f"{'raised' if rec['watched'] == 'raised' else 'never ran'}: "
                        "a hook rewrote the result"
                    )
                outcomes.append((outcome, message))
        setup_skipped = any(
            _phase_outcome(r) in ("skipped", "xfailed") for r in seen.get("setup", [])
        )
        if "collect" not in seen and "call" not in seen and not setup_skipped:
            outcomes.append(("error", f"the test never finished: {died}"))
        elif "call" in seen and "teardown" not in seen:
            outcomes.append(("error", f"the test never finished its teardown: {died}"))
        outcome, message = min(outcomes, key=lambda o: _RANK[o[0]])
        seconds = sum(
            float(r.get("duration") or 0)
            for records in seen.values()
            for r in records
            if isinstance(r.get("duration"), int | float)
        )
        results[test_id] = TestResult(test_id, outcome, message, round(seconds, 3))
    return results


def _parse(raw: bytes) -> tuple[list[dict], list[dict], int]:
    """Test records, session records and the number of lines that were neither."""
    tests, sessions, malformed = [], [], 0
    for line in raw.decode(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            malformed += 1
            continue
        if isinstance(rec, dict) and "session" in rec:
            sessions.append(rec)
        elif (
            isinstance(rec, dict)
            and isinstance(rec.get("id"), str)
            and rec.get("when") in ("collect", "setup", "call", "teardown")
            and isinstance(rec.get("outcome"), str)
        ):
            tests.append(rec)
        else:
            malformed += 1
    return tests, sessions, malformed


#: One exec per check: the supervisor resets the base tree, applies the patch, runs the tests
#: as the unprivileged test user (their output on stderr), confirms passing targets in a
#: fresh process, and writes a framed header and the results on stdout.
_SUPERVISOR = f"python3 -I -S {PLUGIN_DIR}/supervise.py"
#: Patches up to this size travel in an environment variable (Linux caps one at 128 KiB).
_INLINE_PATCH_MAX = 100_000
#: Time for reset, apply and reading the report, on top of the tests' own timeout.
_CHECK_SLACK_S = 120
#: Results a run may send; more is an ERROR, not memory spent on whatever a test writes.
REPORT_LIMIT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class CheckRun:
    """One check: whether the patch applied (git's complaint if not), the test report, and
    the confirmation run of the targets on their own (None when none was due).

    In the ``targets`` stage the report *is* the targets' own run (no ``confirm``)."""

    applied: bool
    rejected: str
    report: TestReport | None
    confirm: TestReport | None = None
    #: The same selection on the base tree, without the patch (an ``affected`` stage whose
    #: guarded tests did not all pass): None when none was due.
    control: TestReport | None = None


def prepare_container(container: Container) -> None:
    """Install the helpers and set up the test user and private folders; once per container."""
    install_helpers(container)
    result = container.run(f"{_SUPERVISOR} prepare", 300, workdir="/")
    if not result.ok:
        raise SandboxError(f"could not prepare the sandbox: {result.output[-500:]}")


def _ids_env(
    container: Container, run_env: dict[str, str], name: str, ids: list[str] | None
) -> None:
    """A list of test ids for the supervisor: inline, or in a file when it is too long for
    one environment variable (thousands of failing tests)."""
    listed = json.dumps(ids or [])
    if len(listed) <= _INLINE_PATCH_MAX:
        run_env[f"VERIFIX_{name.upper()}"] = listed
    else:
        container.put_files("/verifix/in", {f"{name}.json": listed.encode()})
        run_env[f"VERIFIX_{name.upper()}_FILE"] = f"/verifix/in/{name}.json"


#: What one exec of the supervisor runs: ``full`` the test command (then the targets alone
#: when they all passed), ``targets`` only the targets alone, ``affected`` the test command
#: on a selection (then, when a guarded test did not pass, the same without the patch).
STAGES = ("full", "targets", "affected")


def run_check(
    container: Container,
    command: str,
    selection: list[str],
    timeout_s: int,
    env: Mapping[str, str],
    patch: str | None,
    targets: list[str] | None = None,
    *,
    stage: str = "full",
    guard: list[str] | None = None,
) -> CheckRun:
    """Reset, apply ``patch`` (if any), run the suite, and with ``targets`` confirm them
    alone in a fresh process when they all passed; one exec.

    ``stage="targets"`` runs only ``targets`` alone; ``stage="affected"`` runs ``selection``
    and, when a test of ``guard`` did not pass, the same selection on the base tree."""
    assert stage in STAGES
    full = compose_command(command, selection)
    run_env = dict(env)
    run_env["PYTHONPATH"] = ":".join(p for p in (PLUGIN_DIR, env.get("PYTHONPATH")) if p)
    run_env["PYTEST_ADDOPTS"] = " ".join(
        p for p in ("-p verifix_report", env.get("PYTEST_ADDOPTS")) if p
    )
    run_env.update(
        VERIFIX_STAGE=stage,
        VERIFIX_TEST_COMMAND=full,
        VERIFIX_CONFIRM_TEMPLATE=command,
        VERIFIX_TEST_TIMEOUT=str(timeout_s),
        VERIFIX_REPORT_LIMIT=str(REPORT_LIMIT_BYTES),
    )
    _ids_env(container, run_env, "targets", targets)
    _ids_env(container, run_env, "guard", guard)
    if patch and len(patch.encode()) <= _INLINE_PATCH_MAX:
        run_env["VERIFIX_PATCH"] = patch
    elif patch:
        container.put_files("/verifix/in", {"patch.diff": patch.encode()})
        run_env["VERIFIX_PATCH_FILE"] = "/verifix/in/patch.diff"
    budget = 2 * timeout_s + _CHECK_SLACK_S
    result, out = container.run_split(
        [*_SUPERVISOR.split(), "check"], budget, env=run_env, stdout_cap=3 * REPORT_LIMIT_BYTES
    )
    head, _, rest = out.partition(b"\n")
    try:
        header = json.loads(head)
        lengths = [int(n) for n in header["lengths"]]
        names = [str(n) for n in header["sections"]]
    except (ValueError, KeyError, TypeError):
        raise SandboxError(f"the sandbox could not run the check: {result.output[-500:]}") from None
    if header.get("error"):
        raise SandboxError(f"the sandbox could not run the check: {header['error']}")
    if not header["applied"]:
        return CheckRun(False, result.output.strip(), None)
    reports: dict[str, TestReport] = {}
    offset = 0
    alone = compose_command(command, targets or [])
    for name, n in zip(names, lengths, strict=False):
        raw = rest[offset : offset + n]
        offset += n
        if name == "main":
            shown = alone if stage == "targets" else full
            reports[name] = _report(raw, header[name], result.output, shown, timeout_s)
        elif name == "confirm":
            reports[name] = _report(raw, header[name], "", alone, timeout_s)
        elif name == "control":
            reports[name] = _report(raw, header[name], "", full, timeout_s)
    return CheckRun(True, "", reports.get("main"), reports.get("confirm"), reports.get("control"))


def _report(raw: bytes, run: dict, output: str, command: str, timeout_s: int) -> TestReport:
    exit_code, timed_out = int(run["exit"]), bool(run["timed_out"])
    result = ExecResult(exit_code, output, timed_out, float(run["seconds"]))
    if run["truncated"]:
        return TestReport(
            {},
            result,
            command,
            f"the tests sent {run['bytes']} bytes of results, more than the "
            f"{REPORT_LIMIT_BYTES // (1024 * 1024)} MiB verifix reads: the run is not judged",
            tampered=True,
        )
    tests, sessions, malformed = _parse(raw)
    died = (
        f"the test process died (exit code {exit_code})"
        if not sessions
        else f"the test command ended with exit code {exit_code}"
    )
    if timed_out:
        died = f"the test command timed out after {timeout_s}s"
    results = _merge(tests, died)
    error = None
    if malformed:
        error = (
            f"{malformed} lines on the results channel are not verifix records: something "
            "other than verifix's reporter wrote to it, so the run is not judged"
        )
    elif timed_out and not results:
        error = f"the test command timed out after {timeout_s}s before any test finished"
    elif not results:
        last = output.strip().splitlines()[-1:] or ["(no output)"]
        error = (
            f"the test command produced no test results (exit code {exit_code}): {last[0][:300]}"
        )
    return TestReport(results, result, command, error, _counts(results), tampered=bool(malformed))
