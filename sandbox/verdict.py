"""Judging a patch the way the SWE-bench harness does: targets must go from failing to
passing, and nothing that passed before may stop passing.

A verdict is a comparison with the baseline run on the same tree in the same container, so
tests that fail for reasons of the environment (no network, a pinned dependency) fail on
both sides and never count against the patch.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from .testrun import TestReport

SCHEMA = "verifix.verdict/1"

#: The stages of a check, cheapest first; a verdict names the one that decided it:
#: ``baseline`` (nothing to run: the baseline failed, or the targets already pass),
#: ``apply`` (the patch does not apply), ``targets`` (the targets on their own),
#: ``affected`` (the test files importing the changed modules), ``full`` (the whole suite).
STAGES = ("baseline", "apply", "targets", "affected", "full")


class Status(str, Enum):
    VERIFIED = "VERIFIED"
    NOT_VERIFIED = "NOT_VERIFIED"
    DOES_NOT_APPLY = "DOES_NOT_APPLY"
    NO_TARGET = "NO_TARGET"
    TARGETS_ALREADY_PASS = "TARGETS_ALREADY_PASS"
    SUSPECT = "SUSPECT"
    ERROR = "ERROR"

    @property
    def label(self) -> str:
        """The one spelling users read, in prose and tables alike: NOT VERIFIED."""
        return self.value.replace("_", " ")


def _tests(count: int, kind: str = "tests") -> str:
    """ "1 test", "3 tests", "1 target test": prose that a user reads, not a template."""
    return f"{count} {kind[:-1] if count == 1 else kind}"


@dataclass(frozen=True)
class TestChange:
    id: str
    before: str | None  # outcome at baseline; None = not run
    after: str | None  # outcome with the patch; None = not run
    message: str = ""


@dataclass
class Verdict:
    status: Status
    reason: str
    targets: list[TestChange] = field(default_factory=list)
    broken: list[TestChange] = field(default_factory=list)
    still_failing: list[TestChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ignored_ids: list[str] = field(default_factory=list)
    rejected: str | None = None
    #: Findings of ``testaware.scan_patch``: code that knows it runs under test.
    flags: list[str] = field(default_factory=list)
    #: The targets run alone, in a fresh process: its exit code and what passed.
    confirmation: dict[str, Any] | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: The stage that decided (see ``STAGES``); None when no patch was run.
    stage: str | None = None
    #: The affected stage's selection: ``files``, ``tests`` (their count at baseline) and
    #: ``skipped`` (why it did not run, or ""); None when staging was off or never got there.
    affected: dict[str, Any] | None = None

    @property
    def verified(self) -> bool:
        return self.status is Status.VERIFIED

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return {"schema": SCHEMA, **data}


_TEST_ID = re.compile(r"^[\w./-]+\.py(::.+)?$|^[\w./-]+::.+$")


def split_test_ids(ids: list[str]) -> tuple[list[str], list[str]]:
    """Separate ids that name a test from log debris such as ``[100%]`` (SWE-bench's lists
    were parsed from logs and hold a few)."""
    good = [i for i in ids if _TEST_ID.match(i)]
    return good, [i for i in ids if not _TEST_ID.match(i)]


def expand_cut_ids(ids: list[str], known: set[str]) -> list[str]:
    """Match ids that were cut at a space back to the tests they name.

    SWE-bench's lists come from splitting log lines on whitespace, so a parametrized test
    such as ``test_x[select a;;]`` appears as ``test_x[select``. Such an id stands for every
    run test whose id, cut the same way, equals it; an id matching nothing stays as it is
    and counts as not run.
    """
    by_cut: dict[str, list[str]] = {}
    for test_id in known:
        cut = test_id.split(" ")[0]
        if cut != test_id:
            by_cut.setdefault(cut, []).append(test_id)
    expanded: list[str] = []
    for test_id in ids:
        if test_id in known or test_id not in by_cut:
            expanded.append(test_id)
        else:
            expanded.extend(sorted(by_cut[test_id]))
    return list(dict.fromkeys(expanded))


def resolve_targets(
    ids: list[str], baseline: TestReport, known: set[str]
) -> tuple[list[str], list[str]]:
    """Targets as test ids, and the tests that must merely keep passing.

    An id cut at a space stands for every test it starts; SWE-bench meant the ones among
    them that fail. So when some of a cut id's tests fail at baseline, those are targets
    and the ones that pass must stay passing; when all pass, they all stay targets (and the
    verdict says they already pass).
    """
    targets: list[str] = []
    keep: list[str] = []
    for test_id in ids:
        group = expand_cut_ids([test_id], known)
        failing = [t for t in group if not _passed(baseline, t)]
        if len(group) > 1 and failing:
            targets += failing
            keep += [t for t in group if t not in failing]
        else:
            targets += group
    return list(dict.fromkeys(targets)), keep


def _passed(report: TestReport, test_id: str) -> bool:
    result = report.results.get(test_id)
    return bool(result and result.passed)


def _reparametrized(baseline: TestReport, patched: TestReport, gone: list[str]) -> set[str]:
    """Of the passing tests ``gone`` from the run with the patch, those whose parametrized
    id only changed: a test parametrized by the current time (``test_x[02:20:23
    2026-11-23]``) is a new id in every run. One counts as still passing when at least as
    many new ids of the same test pass with the patch as went missing; a test the patch
    broke is still there and failing, and one it removed left no passing id behind."""

    def test_of(test_id: str) -> str | None:
        return test_id.split("[", 1)[0] if test_id.endswith("]") and "[" in test_id else None

    fresh: dict[str, int] = {}
    for test_id, result in patched.results.items():
        name = test_of(test_id)
        if name and result.passed and test_id not in baseline.results:
            fresh[name] = fresh.get(name, 0) + 1
    missing: dict[str, list[str]] = {}
    for test_id in gone:
        name = test_of(test_id)
        if name:
            missing.setdefault(name, []).append(test_id)
    return {t for name, ids in missing.items() if fresh.get(name, 0) >= len(ids) for t in ids}


def _change(baseline: TestReport, patched: TestReport | None, test_id: str) -> TestChange:
    after = patched.results.get(test_id) if patched else None
    return TestChange(
        test_id,
        baseline.outcome(test_id),
        after.outcome if after else None,
        (after.message if after and not after.passed else "")[-2000:],
    )


@dataclass
class _Plan:
    """What a patch is judged on: the resolved targets (None: the tests failing at
    baseline), the tests that must keep passing (None: every test that passed), the ids
    naming no test, and the counts so far."""

    targets: list[str] | None
    must_pass: list[str] | None
    ignored: list[str]
    counts: dict[str, dict[str, int]]
    flags: list[str]

    def verdict(self, status: Status, reason: str, **kw: Any) -> Verdict:
        return Verdict(
            status, reason, ignored_ids=self.ignored, counts=self.counts, flags=self.flags, **kw
        )


def _plan(
    baseline: TestReport,
    patched: TestReport | None,
    targets: list[str] | None,
    must_pass: list[str] | None,
    flags: list[str] | None,
) -> _Plan:
    ignored: list[str] = []
    if targets is not None:
        targets, ignored = split_test_ids(targets)
    if must_pass is not None:
        must_pass, more = split_test_ids(must_pass)
        ignored += more
    known = set(baseline.results) | set(patched.results if patched else ())
    keep: list[str] = []
    if targets is not None:
        targets, keep = resolve_targets(targets, baseline, known)
    if must_pass is not None:
        must_pass = expand_cut_ids(must_pass, known) + keep
    counts = {"baseline": dict(baseline.counts)}
    if patched is not None:
        counts["patched"] = dict(patched.counts)
    return _Plan(targets, must_pass, ignored, counts, list(flags or []))


def _before_running(baseline: TestReport, plan: _Plan) -> tuple[list[str], Verdict | None]:
    """The resolved targets, and the verdict the baseline alone decides (a baseline that
    produced no results, targets that already pass), if any."""
    if baseline.error:
        return [], plan.verdict(
            Status.ERROR, f"baseline run failed: {baseline.error}", errors=[baseline.error]
        )
    targets = plan.targets
    if targets is None:
        targets = sorted(t.id for t in baseline.results.values() if t.failed)
    already = [t for t in targets if _passed(baseline, t)]
    if already:
        return targets, plan.verdict(
            Status.TARGETS_ALREADY_PASS,
            f"{len(already)} of {_tests(len(targets), 'target tests')} already "
            f"pass{'es' if len(already) == 1 else ''} without the patch "
            f"({already[0]}{', ...' if len(already) > 1 else ''}): the environment differs from "
            "the one the tests were written for, or these tests do not show the bug",
            targets=[_change(baseline, None, t) for t in targets],
        )
    return targets, None


def judge_before_running(
    baseline: TestReport,
    *,
    targets: list[str] | None,
    must_pass: list[str] | None,
    flags: list[str] | None = None,
) -> Verdict | None:
    """The verdict the baseline alone decides, before any run with the patch: an ERROR when
    it produced no results, TARGETS_ALREADY_PASS when a target passes without the patch;
    None when the patch must be run."""
    found = _before_running(baseline, _plan(baseline, None, targets, must_pass, flags))[1]
    if found is not None:
        found.stage = "baseline"
    return found


def judge(
    baseline: TestReport,
    patched: TestReport | None,
    *,
    targets: list[str] | None,
    must_pass: list[str] | None,
    rejected: str | None = None,
    confirm: TestReport | None = None,
    require_confirm: bool = False,
    flags: list[str] | None = None,
) -> Verdict:
    """Compare the run with the patch (None if it did not apply) against the baseline.

    ``targets`` None means "the tests that fail at baseline". ``must_pass`` None means "every
    test that passed at baseline"; a list narrows it (SWE-bench's PASS_TO_PASS). Every
    target must fail (or not exist) at baseline and pass after. With ``require_confirm``,
    a VERIFIED also needs ``confirm``: the targets run alone in a fresh process, which must
    exit 0 with each of them passing. ``flags`` (a test-aware patch) turn it into SUSPECT.
    """
    plan = _plan(baseline, patched, targets, must_pass, flags)
    must_pass, flags, verdict = plan.must_pass, plan.flags, plan.verdict
    targets, decided = _before_running(baseline, plan)
    if decided is not None:
        decided.targets = [_change(baseline, patched, t) for t in targets]
        return decided
    if rejected is not None:
        return verdict(
            Status.DOES_NOT_APPLY, "the patch does not apply to the base tree", rejected=rejected
        )
    assert patched is not None
    target_changes = [_change(baseline, patched, t) for t in targets]
    guarded = must_pass if must_pass is not None else list(baseline.results)
    target_set = set(targets)
    broken, still_failing = [], []
    for test_id in guarded:
        if test_id in target_set:
            continue
        if _passed(baseline, test_id):
            if not _passed(patched, test_id):
                broken.append(_change(baseline, patched, test_id))
        elif test_id in baseline.results and baseline.results[test_id].failed:
            still_failing.append(_change(baseline, patched, test_id))
    if must_pass is None:  # every test that passed: ids a run made up are not names
        renamed = _reparametrized(baseline, patched, [c.id for c in broken if c.after is None])
        broken = [c for c in broken if c.id not in renamed]
    errors = _run_errors(patched)
    parts = dict(targets=target_changes, broken=broken, still_failing=still_failing, errors=errors)
    if patched.error:
        return verdict(
            Status.ERROR, f"the run with the patch was not judged: {patched.error}", **parts
        )

    if not targets and not broken and not errors:
        return verdict(
            Status.NO_TARGET,
            "no target tests: none fail at baseline and none were named with --test, "
            "so nothing shows what the patch fixes",
            **parts,
        )
    unfixed = [c for c in target_changes if not (c.after and _passed(patched, c.id))]
    reasons = []
    if errors:
        reasons.append(errors[0])
    if unfixed:
        reasons.append(
            f"{len(unfixed)} of {_tests(len(targets), 'target tests')} "
            f"{'does' if len(unfixed) == 1 else 'do'} not pass"
        )
    never_run = [c.id for c in target_changes if c.before is None and c.after is None]
    if never_run:
        reasons.append(
            f"{_tests(len(never_run), 'target tests')} never ran (is the id right?): {never_run[0]}"
        )
    if broken:
        reasons.append(
            f"{_tests(len(broken))} that passed before now fail{'s' if len(broken) == 1 else ''}"
        )
    unexplained = _unexplained_exit(patched)
    if not reasons and unexplained:
        reasons.append(unexplained)
    confirmation = None
    if not reasons and require_confirm and targets:
        confirmation, why = _confirmation(confirm, targets)
        if why:
            reasons.append(why)
    if reasons:
        return verdict(Status.NOT_VERIFIED, "; ".join(reasons), confirmation=confirmation, **parts)
    kept = sum(1 for t in guarded if t not in target_set and _passed(baseline, t))
    summary = (
        "the target test passes" if len(targets) == 1 else f"all {len(targets)} target tests pass"
    ) + f"; none of the {_tests(kept)} that passed before broke"
    if flags:
        return verdict(
            Status.SUSPECT,
            f"{summary}, but the patch looks written for the tests, not the bug "
            f"({len(flags)} finding{'s' if len(flags) != 1 else ''}): read it before trusting it",
            confirmation=confirmation,
            **parts,
        )
    return verdict(Status.VERIFIED, summary, confirmation=confirmation, **parts)


def _run_errors(report: TestReport) -> list[str]:
    errors = [report.error] if report.error else []
    if report.exec.timed_out:
        errors.append(f"the test run timed out after {report.exec.duration_s:.0f}s")
    return errors


def judge_targets(
    baseline: TestReport,
    alone: TestReport,
    *,
    targets: list[str] | None,
    must_pass: list[str] | None,
    flags: list[str] | None = None,
) -> Verdict | None:
    """The ``targets`` stage: ``alone`` is the targets' own run with the patch, from a fresh
    tree in a fresh process (the confirmation a VERIFIED needs, run first). A rejection when
    a target does not pass there or the run does not exit 0, exactly what would fail the
    confirmation after a full run; None when the check goes on (then ``alone`` is the
    confirmation the full stage's ``judge`` gets)."""
    plan = _plan(baseline, alone, targets, must_pass, flags)
    resolved, decided = _before_running(baseline, plan)
    if decided is not None:
        decided.stage = "baseline"
        return decided
    if not resolved:
        return None
    changes = [_change(baseline, alone, t) for t in resolved]
    errors = _run_errors(alone)
    never_run = [t for t in resolved if baseline.outcome(t) is None and alone.outcome(t) is None]
    # No results at all from targets that never existed: ids that name no test, not a run
    # that went wrong (that is an ERROR, as for the full run).
    nothing_named = len(never_run) == len(resolved) and not alone.tampered
    if alone.error and not (nothing_named and not alone.results and not alone.exec.timed_out):
        found = plan.verdict(
            Status.ERROR,
            f"the run of the target tests with the patch was not judged: {alone.error}",
            targets=changes,
            errors=errors,
        )
        found.stage = "targets"
        return found
    if alone.error:
        errors = []
    confirmation, why = _confirmation(alone, resolved)
    if why is None:
        return None
    failing = [t for t in confirmation["not_passing"] if t not in never_run]
    reasons = errors[:1]
    if failing:
        reasons.append(
            f"{len(failing)} of {_tests(len(resolved), 'target tests')} still "
            f"fail{'s' if len(failing) == 1 else ''} with the patch, run on their own "
            f"({failing[0]}: {alone.outcome(failing[0]) or 'not run'}); "
            "the rest of the suite was not run"
        )
    if never_run:
        reasons.append(
            f"{_tests(len(never_run), 'target tests')} never ran (is the id right?): {never_run[0]}"
        )
    if not failing and not never_run:
        reasons.append(why)
    found = plan.verdict(
        Status.NOT_VERIFIED,
        "; ".join(reasons),
        targets=changes,
        errors=errors,
        confirmation=confirmation,
    )
    found.stage = "targets"
    return found


def judge_affected(
    baseline: TestReport,
    affected: TestReport,
    control: TestReport | None,
    *,
    targets: list[str] | None,
    must_pass: list[str] | None,
    guard: list[str],
    confirm: TestReport | None = None,
    flags: list[str] | None = None,
) -> Verdict | None:
    """The ``affected`` stage: ``affected`` ran the affected test files with the patch,
    ``control`` the same files on the base tree (when a guarded test did not pass). A test
    of ``guard`` is broken here only when it passed at baseline, does not pass with the
    patch, and passes in the control: the same selection without the patch, so an order or
    isolation effect of running a part of the suite is never blamed on the patch. A
    rejection when one is; None when the check goes on to the full suite (a run that could
    not be judged goes on too: the full suite decides)."""
    if control is None or control.error or affected.error:
        return None
    plan = _plan(baseline, affected, targets, must_pass, flags)
    resolved, decided = _before_running(baseline, plan)
    if decided is not None:
        decided.stage = "baseline"
        return decided
    target_set = set(resolved)
    broken = [
        _change(baseline, affected, t)
        for t in guard
        if t not in target_set
        and _passed(baseline, t)
        and t in affected.results
        and not _passed(affected, t)
        and _passed(control, t)
    ]
    if not broken:
        return None
    errors = _run_errors(affected)
    reason = (
        f"{_tests(len(broken))} that passed before now fail{'s' if len(broken) == 1 else ''} "
        f"({broken[0].id}), among the tests in files importing the changed modules (they pass "
        "there without the patch); the full suite was not run"
    )
    found = plan.verdict(
        Status.NOT_VERIFIED,
        "; ".join([*errors[:1], reason]),
        targets=[_change(baseline, confirm, t) for t in resolved],
        broken=broken,
        errors=errors,
    )
    found.stage = "affected"
    return found


def _unexplained_exit(report: TestReport) -> str | None:
    """A failing exit status that no failing test explains: a crash at exit, a check run
    after the tests, or results that do not tell the whole story. CI would go red."""
    code = report.exec.exit_code
    if code == 0 or report.exec.timed_out or any(r.failed for r in report.results.values()):
        return None
    return (
        f"the test command exited with {code} although no test failed (a crash at exit, a "
        "check after the tests, a coverage threshold?): CI would fail"
    )


def _confirmation(confirm: TestReport | None, targets: list[str]) -> tuple[dict, str | None]:
    """The targets' own run: it must exist, exit 0 and pass each of them."""
    if confirm is None:
        return {"ran": False}, "the target tests were not confirmed in a run of their own"
    failing = [t for t in targets if not _passed(confirm, t)]
    record = {
        "ran": True,
        "exit_code": confirm.exec.exit_code,
        "command": confirm.command,
        "not_passing": failing,
    }
    if confirm.error:
        return record, f"the target tests' own run was not judged: {confirm.error}"
    if failing:
        return record, (
            f"{_tests(len(failing), 'target tests')} {'does' if len(failing) == 1 else 'do'} "
            "not pass when run on their own "
            f"({failing[0]}: {confirm.outcome(failing[0]) or 'not run'})"
        )
    if confirm.exec.exit_code != 0:
        return record, (
            f"the target tests pass, but their own run exits with {confirm.exec.exit_code} "
            "(a crash at exit, or results that do not tell the whole story)"
        )
    return record, None
