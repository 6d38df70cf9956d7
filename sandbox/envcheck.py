"""``verifix env check``: can this repository's suite run here, and what does it say?

What a user runs first on a new repository, and what verifix's own measurements run across
a dataset: build (or reuse) the environment, run the suite once at baseline, and report
what is needed to trust it (the Python and why, the setup and where it came from, counts,
the slowest tests) or, when it cannot run, the one-line reason and a log.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import environment
from .config import EnvSpec
from .envrepair import SetupAdvisor
from .errors import SetupFailed
from .snapshot import Snapshot
from .verify import Checks, VerifySession

if TYPE_CHECKING:
    import docker

SCHEMA = "verifix.envcheck/1"
_SLOWEST = 10


@dataclass
class EnvCheck:
    ok: bool
    reason: str
    python: str | None
    python_source: str
    base_image: str | None
    image: str | None
    cached: bool
    setup: list[str]
    setup_source: str
    test_command: str | None
    test_source: str
    counts: dict[str, int] = field(default_factory=dict)
    slowest: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}


def _save_log(text: str) -> str:
    with tempfile.NamedTemporaryFile(
        "w", prefix="verifix-envcheck-", suffix=".log", delete=False, encoding="utf-8"
    ) as log:
        log.write(text)
    return log.name


def check(
    client: docker.DockerClient,
    snap: Snapshot,
    spec: EnvSpec,
    progress: Callable[[str], None],
    advisor: SetupAdvisor | None = None,
) -> EnvCheck:
    """Build or reuse the environment (``advisor``: a model that may repair a failed
    setup step), run the suite once, and say what came of it."""
    result = EnvCheck(
        ok=False,
        reason="",
        python=None,
        python_source=spec.sources.get("python", ""),
        base_image=None,
        image=None,
        cached=False,
        setup=list(spec.setup),
        setup_source=spec.sources.get("setup", ""),
        test_command=spec.test_command,
        test_source=spec.sources.get("test_command", ""),
    )
    started = time.monotonic()
    try:
        env = environment.prepare(client, snap, spec, progress, advisor=advisor)
    except SetupFailed as exc:
        result.reason = str(exc)
        result.log = _save_log(exc.output) if exc.output else None
        return result
    result.python, result.base_image = env.base.python, env.base.ref
    result.image, result.cached = env.image, env.cached
    result.notes = [*env.notes, *snap.notes]
    result.seconds["environment"] = round(time.monotonic() - started, 2)
    with VerifySession(client, env, snap, Checks(), progress) as session:
        report = session.run_baseline()
    result.seconds["tests"] = session.timings.get("baseline_s", 0.0)
    result.counts = dict(sorted(report.counts.items()))
    result.slowest = [
        {"id": r.id, "seconds": r.seconds, "outcome": r.outcome}
        for r in sorted(report.results.values(), key=lambda r: -r.seconds)[:_SLOWEST]
    ]
    if report.error:
        result.reason = report.error
        result.log = _save_log(report.exec.output)
        return result
    total = sum(report.counts.values())
    passed = sum(n for k, n in report.counts.items() if k in ("passed", "xfailed", "xpassed"))
    result.ok = True
    result.reason = f"the suite runs: {passed} of {total} tests pass"
    if report.exec.timed_out:
        result.reason += f" (stopped by the {spec.test_timeout}s test timeout)"
    return result
