"""A verification session: one warm container, a baseline run, then any number of patches.

``verifix verify`` checks one patch; the repair loop checks many against the same baseline,
each from a clean reset of the base tree, without paying for a new container per patch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .container import Container
from .environment import Environment, limits
from .snapshot import Snapshot
from .testrun import TestReport, install_helpers, run_tests
from .tree import apply, load, reset
from .verdict import Verdict, judge

if TYPE_CHECKING:
    import docker

Progress = Callable[[str], None]


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
            install_helpers(self.container)
            load(self.container, self.snapshot, self.checks.base_patches)
        except BaseException:
            self.container.remove()
            raise
        self.timings["load_s"] = time.monotonic() - started
        return self

    def __exit__(self, *exc: object) -> None:
        if self.container is not None:
            self.container.remove()
            self.container = None

    def _run(self) -> TestReport:
        assert self.container is not None and self.env.spec.test_command is not None
        return run_tests(
            self.container,
            self.env.spec.test_command,
            self.checks.selection,
            self.env.spec.test_timeout,
            self.env.run_env(self.snapshot.scm_version),
        )

    def run_baseline(self) -> TestReport:
        self.progress("running the tests on the base tree (baseline)")
        started = time.monotonic()
        self.baseline = self._run()
        self.timings["baseline_s"] = time.monotonic() - started
        return self.baseline

    def check(self, patch: str | None) -> Verdict:
        """Judge ``patch`` (None: the unpatched tree) against the baseline, then reset."""
        assert self.container is not None
        baseline = self.baseline or self.run_baseline()
        started = time.monotonic()
        rejected = None
        patched: TestReport | None = None
        try:
            if patch:
                applied = apply(self.container, patch)
                if not applied.applied:
                    rejected = applied.message
            if rejected is None and patch:
                self.progress("running the tests with the patch")
                patched = self._run()
            elif rejected is None:
                patched = baseline  # no patch: the same tree, no need to run it twice
        finally:
            reset(self.container)
        verdict = judge(
            baseline,
            patched,
            targets=self.checks.targets,
            must_pass=self.checks.must_pass,
            rejected=rejected,
        )
        verdict.timings = {**self.timings, "patched_s": round(time.monotonic() - started, 2)}
        verdict.environment = {
            "image": self.env.image,
            "base_image": self.env.base.ref,
            "python": self.env.base.python,
            "cached": self.env.cached,
            "test_command": baseline.command,
            "snapshot": self.snapshot.description,
            "notes": list(self.env.notes),
        }
        return verdict
