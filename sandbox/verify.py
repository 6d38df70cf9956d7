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
from .testaware import scan_patch
from .testrun import CheckRun, TestReport, prepare_container, run_check
from .tree import load
from .verdict import Verdict, judge, resolve_targets, split_test_ids

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

    def run(self, patch: str | None, targets: list[str] | None = None) -> CheckRun:
        """Reset, apply ``patch`` and run the tests (and, with ``targets``, confirm them alone
        when they pass): the raw result, before any judging."""
        assert self.container is not None and self.env.spec.test_command is not None
        return run_check(
            self.container,
            self.env.spec.test_command,
            self.checks.selection,
            self.env.spec.test_timeout,
            self.env.run_env(self.snapshot.scm_version),
            patch,
            targets,
        )

    def targets(self, baseline: TestReport) -> list[str]:
        """The tests a patch must turn from failing to passing."""
        if self.checks.targets is not None:
            ids = split_test_ids(self.checks.targets)[0]
            return resolve_targets(ids, baseline, set(baseline.results))[0]
        return sorted(t.id for t in baseline.results.values() if t.failed)

    def run_baseline(self) -> TestReport:
        self.progress("running the tests on the base tree (baseline)")
        started = time.monotonic()
        report = self.run(None).report
        assert report is not None  # without a patch there is nothing to reject
        self.baseline = report
        self.timings["baseline_s"] = round(time.monotonic() - started, 2)
        return report

    def check(self, patch: str | None) -> Verdict:
        """Judge ``patch`` (None: the unpatched tree) against the baseline.

        Every check starts from a reset of the base tree, so checks never see each other.
        """
        assert self.container is not None
        baseline = self.baseline or self.run_baseline()
        started = time.monotonic()
        confirm = None
        if patch:
            self.progress("running the tests with the patch")
            run = self.run(patch, self.targets(baseline))
            patched, rejected = run.report, (None if run.applied else run.rejected)
            confirm = run.confirm
        else:
            patched, rejected = baseline, None  # the same tree: no need to run it twice
        verdict = judge(
            baseline,
            patched,
            targets=self.checks.targets,
            must_pass=self.checks.must_pass,
            rejected=rejected,
            confirm=confirm if patch else None,
            require_confirm=bool(patch),
            flags=scan_patch(patch, baseline) if patch else [],
        )
        verdict.timings = {**self.timings, "patched_s": round(time.monotonic() - started, 2)}
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
