"""A verification session: one warm container, a baseline run, then any number of patches.

``verifix verify`` checks one patch (``run_verify``: the whole use case, from a snapshot to
a verdict); the repair loop checks many against the same baseline, each from a clean reset
of the base tree, without paying for a new container per patch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import environment
from .container import Container
from .engine import connect
from .environment import Environment, limits
from .snapshot import Snapshot
from .stages import ImportIndex, plan_affected
from .testaware import scan_patch
from .testrun import CheckRun, TestReport, joined, prepare_container, run_check
from .tree import load
from .verdict import (
    Status,
    Verdict,
    judge,
    judge_affected,
    judge_before_running,
    judge_targets,
    resolve_targets,
    split_test_ids,
)

if TYPE_CHECKING:
    import docker

Progress = Callable[[str], None]
#: Given a phase ("environment", "tests"; "" for none), the ``Progress`` callback whose
#: messages belong to it: a live status can name what is under way. ``ProgressLog.steps``
#: in the CLI is one.
Steps = Callable[[str], Progress]


@dataclass
class Checks:
    """What a patch is judged on."""

    targets: list[str] | None = None  # None: the tests failing at baseline
    must_pass: list[str] | None = None  # None: every test passing at baseline
    selection: list[str] = field(default_factory=list)  # test paths to run; empty: the suite
    base_patches: list[str] = field(default_factory=list)  # applied before the baseline
    #: Cheap checks first (targets alone, then the affected tests, then the full suite);
    #: None: the ``[sandbox]`` setting ``staged_checks``.
    staged: bool | None = None
    #: The baseline of the tree before ``base_patches`` added the test files ``added``
    #: (a reproduction test): the baseline then runs only those files and joins their
    #: results to it, instead of the whole suite again.
    known_baseline: TestReport | None = None
    added: list[str] = field(default_factory=list)


class VerifySession:
    """Owns one test container (no network) for one snapshot; removed on exit, always."""

    def __init__(
        self,
        client: docker.DockerClient,
        env: Environment,
        snapshot: Snapshot,
        checks: Checks,
        progress: Progress,
    ) -> None:
        self.client = client
        self.env = env
        self.snapshot = snapshot
        self.checks = checks
        self.progress = progress
        self.container: Container | None = None
        self.baseline: TestReport | None = None
        self.timings: dict[str, float] = {}
        self._import_index: ImportIndex | None = None

    def __enter__(self) -> VerifySession:
        started = time.monotonic()
        self.container = Container.start(
            self.client,
            self.env.image,
            network="none",
            limits=limits(self.env.spec),
            kind="run",
            env=self.env.run_env(self.snapshot.scm_version),
        )
        try:
            prepare_container(self.container)
            load(self.container, self.snapshot, self.checks.base_patches)
        except BaseException:
            self.container.remove()
            raise
        self.timings["load_s"] = round(time.monotonic() - started, 2)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.container is not None:
            self.container.remove()
            self.container = None

    def _snapshot_notes(self) -> list[str]:
        missing = self.snapshot.missing
        notes = list(self.snapshot.notes)
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            notes.append(
                f"{len(missing)} files have no content in the repo (partial clone?), "
                f"left out: {shown}"
            )
        return notes

    @property
    def root(self) -> Path:
        """The base tree's files on this machine."""
        return self.snapshot.root

    @property
    def targets_named(self) -> list[str] | None:
        """The target tests the user named; None: the tests failing at baseline."""
        return self.checks.targets

    @property
    def staged(self) -> bool:
        """Whether checks run in stages (cheap checks first)."""
        if self.checks.staged is not None:
            return self.checks.staged
        return self.env.spec.staged_checks

    def run(
        self,
        patch: str | None,
        targets: list[str] | None = None,
        *,
        stage: str = "full",
        selection: list[str] | None = None,
        guard: list[str] | None = None,
    ) -> CheckRun:
        """Reset, apply ``patch`` and run the tests (and, with ``targets``, confirm them alone
        when they pass): the raw result, before any judging. ``stage`` ``targets`` runs only
        the targets alone; ``affected`` runs ``selection`` (then, when a test of ``guard``
        does not pass, the same without the patch)."""
        assert self.container is not None and self.env.spec.test_command is not None
        return run_check(
            self.container,
            self.env.spec.test_command,
            self.checks.selection if selection is None else selection,
            self.env.spec.test_timeout,
            self.env.run_env(self.snapshot.scm_version),
            patch,
            targets,
            stage=stage,
            guard=guard,
        )

    def targets(self, baseline: TestReport) -> list[str]:
        """The tests a patch must turn from failing to passing."""
        if self.checks.targets is not None:
            ids = split_test_ids(self.checks.targets)[0]
            return resolve_targets(ids, baseline, set(baseline.results))[0]
        return sorted(t.id for t in baseline.results.values() if t.failed)

    def run_baseline(self) -> TestReport:
        known, added = self.checks.known_baseline, self.checks.added
        if known is not None and added:
            grown = self._grown_baseline(known, added)
            if grown is not None:
                return grown
        self.progress("running the tests on the base tree (baseline)")
        started = time.monotonic()
        report = self.run(None).report
        assert report is not None  # without a patch there is nothing to reject
        self.baseline = report
        self.timings["baseline_s"] = round(time.monotonic() - started, 2)
        return report

    def _grown_baseline(self, known: TestReport, added: list[str]) -> TestReport | None:
        """The baseline as ``known`` plus a run of the ``added`` test files alone; None when
        that run cannot stand in for the suite's (an error, or a file with no results, as
        when the test command takes no paths): then the whole suite runs."""
        self.progress(
            f"running {', '.join(added)} on the base tree (the rest of the baseline is known)"
        )
        started = time.monotonic()
        part = self.run(None, selection=added).report
        if part is None or part.error:
            return None
        if not all(any(t.startswith(f"{path}::") for t in part.results) for path in added):
            return None
        self.baseline = joined(known, part)
        self.timings["baseline_s"] = round(time.monotonic() - started, 2)
        return self.baseline

    def check(self, patch: str | None) -> Verdict:
        """Judge ``patch`` (None: the unpatched tree) against the baseline.

        Every check starts from a reset of the base tree, so checks never see each other.
        Staged (the default), a check runs the cheap stages first and stops at the first
        true rejection; a VERIFIED always rests on the full suite.
        """
        assert self.container is not None
        baseline = self.baseline or self.run_baseline()
        started = time.monotonic()
        stages: dict[str, float] = {}
        if not patch:
            # The same tree: no need to run it twice.
            verdict = judge(
                baseline, baseline, targets=self.checks.targets, must_pass=self.checks.must_pass
            )
        elif self.staged:
            verdict = self._staged(patch, baseline, stages)
        else:
            verdict = self._whole(patch, baseline, stages)
        verdict.timings = {
            **self.timings,
            **stages,
            "patched_s": round(time.monotonic() - started, 2),
        }
        verdict.environment = {
            "image": self.env.image,
            "base_image": self.env.base.ref,
            "python": self.env.base.python,
            "cached": self.env.cached,
            "test_command": baseline.command,
            "snapshot": self.snapshot.description,
            "notes": list(self.env.notes) + self._snapshot_notes(),
        }
        return verdict

    def _timed(self, stages: dict[str, float], name: str, message: str, **kw: Any) -> CheckRun:
        self.progress(message)
        started = time.monotonic()
        try:
            return self.run(**kw)
        finally:
            stages[f"{name}_s"] = round(time.monotonic() - started, 2)

    def _judge_full(
        self, patch: str, baseline: TestReport, run: CheckRun, confirm: TestReport | None
    ) -> Verdict:
        verdict = judge(
            baseline,
            run.report,
            targets=self.checks.targets,
            must_pass=self.checks.must_pass,
            rejected=None if run.applied else run.rejected,
            confirm=confirm,
            require_confirm=True,
            flags=scan_patch(patch, baseline),
        )
        if verdict.status in (Status.TARGETS_ALREADY_PASS,) or baseline.error:
            verdict.stage = "baseline"
        else:
            verdict.stage = "full" if run.applied else "apply"
        return verdict

    def _whole(self, patch: str, baseline: TestReport, stages: dict[str, float]) -> Verdict:
        """Unstaged: the whole suite with the patch, then the targets alone; one exec."""
        run = self._timed(
            stages,
            "full",
            "running the tests with the patch",
            patch=patch,
            targets=self.targets(baseline),
        )
        return self._judge_full(patch, baseline, run, run.confirm)

    def _staged(self, patch: str, baseline: TestReport, stages: dict[str, float]) -> Verdict:
        """Cheap checks first, one exec per stage; each may only reject, and only truly:
        targets that fail on their own (what the confirmation would reject), or an affected
        test that passed at baseline failing where the same selection without the patch
        passes. Whatever gets through is judged on the full suite exactly as unstaged."""
        checks = self.checks
        flags = scan_patch(patch, baseline)
        early = judge_before_running(
            baseline, targets=checks.targets, must_pass=checks.must_pass, flags=flags
        )
        if early is not None:
            return early
        targets = self.targets(baseline)
        confirm = None
        if targets:
            n = len(targets)
            run = self._timed(
                stages,
                "targets",
                f"running the target test{'s' if n != 1 else ''} with the patch"
                + (f" ({n})" if n != 1 else ""),
                patch=patch,
                targets=targets,
                stage="targets",
            )
            if not run.applied:
                stages["apply_s"] = stages.pop("targets_s")
                return self._judge_full(patch, baseline, run, None)
            assert run.report is not None
            rejected = judge_targets(
                baseline,
                run.report,
                targets=checks.targets,
                must_pass=checks.must_pass,
                flags=flags,
            )
            if rejected is not None:
                return rejected
            confirm = run.report
        plan = plan_affected(
            patch,
            {t.id: t.passed for t in baseline.results.values()},
            targets,
            checks.must_pass,
            self._imports,
        )
        affected = {"files": plan.files, "tests": plan.tests, "skipped": plan.skip}
        if plan.skip:
            self.progress(f"no affected-tests stage: {plan.skip}")
        else:
            run = self._timed(
                stages,
                "affected",
                f"running the affected tests with the patch ({plan.tests} in "
                f"{len(plan.files)} file{'s' if len(plan.files) != 1 else ''} importing the "
                "changed modules)",
                patch=patch,
                stage="affected",
                selection=plan.files,
                guard=plan.guard,
            )
            if not run.applied:
                stages["apply_s"] = stages.pop("affected_s")
                verdict = self._judge_full(patch, baseline, run, None)
                verdict.affected = affected
                return verdict
            assert run.report is not None
            rejected = judge_affected(
                baseline,
                run.report,
                run.control,
                targets=checks.targets,
                must_pass=checks.must_pass,
                guard=plan.guard,
                confirm=confirm,
                flags=flags,
            )
            if rejected is not None:
                rejected.affected = affected
                return rejected
        run = self._timed(
            stages, "full", "running the full suite with the patch", patch=patch, targets=[]
        )
        if not run.applied:
            stages["apply_s"] = stages.pop("full_s")
        verdict = self._judge_full(patch, baseline, run, confirm)
        verdict.affected = affected
        return verdict

    @property
    def _imports(self) -> ImportIndex:
        """The base tree's imports, parsed at most once per session."""
        if self._import_index is None:
            self._import_index = ImportIndex(self.root)
        return self._import_index


def run_verify(
    snapshot: Snapshot,
    checks: Checks,
    patch: str | None,
    *,
    config: Path | None,
    overrides: dict[str, Any],
    steps: Steps,
    rebuild: bool = False,
) -> Verdict:
    """Verify one patch (None: the unpatched tree) on ``snapshot``: the environment's spec
    (detection, the repo's configuration, ``config``, then ``overrides``), the environment
    built or found cached, a baseline and the patched run in one session, the verdict.

    Progress goes to ``steps(phase)``: the snapshot and a cached environment to ``""``,
    building the environment to ``"environment"``, the test runs to ``"tests"``.
    """
    client = connect()
    spec = environment.spec_for(snapshot, config, overrides)
    progress = steps("")
    progress(f"snapshot: {snapshot.description}")
    env = environment.prepare(client, snapshot, spec, steps("environment"), rebuild=rebuild)
    if env.cached:
        progress(f"environment {env.image} (cached)")
    with VerifySession(client, env, snapshot, checks, steps("tests")) as session:
        return session.check(patch)
