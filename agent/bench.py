"""Many instances at once. ``validate``: does a SWE-bench-style dataset hold with detected
environments and no hand-written specs? For each instance, the gold patch must be VERIFIED
and the unpatched tree must not be; both are judged in one session (one environment, one
baseline run), and an instance that cannot be judged says why in one line.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from verifix.sandbox import snapshot
from verifix.sandbox.errors import VerifixError
from verifix.sandbox.verdict import Status

from .events import Events, Step
from .runner import DockerSandbox
from .swebench import Instance, clone_of

VALIDATE_SCHEMA = "verifix.bench.validate/1"


@dataclass
class Validation:
    """One instance's result: the gold patch's verdict, the bare tree's, and whether the
    instance holds (gold VERIFIED, bare not)."""

    instance_id: str
    repo: str
    holds: bool
    reason: str
    gold: str | None = None  # the verdict's status, None when it could not be judged
    bare: str | None = None
    gold_reason: str = ""
    bare_reason: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"schema": VALIDATE_SCHEMA, **asdict(self)}


def validate(instance: Instance, repos: Path, events: Events) -> Validation:
    """Judge ``instance``'s gold patch and its unpatched tree; errors become the reason."""
    started = time.monotonic()
    result = Validation(instance.instance_id, instance.repo, False, "")
    try:
        clone = clone_of(instance, repos)
        with snapshot.of_commit(clone, instance.base_commit) as snap:
            sandbox = DockerSandbox(snap, events)
            with sandbox.session(instance.checks()) as session:
                gold = session.check(instance.patch)
                bare = session.check(None)
    except VerifixError as exc:
        result.reason = f"not judged: {exc}"
        result.seconds = round(time.monotonic() - started, 1)
        return result
    result.gold, result.gold_reason = gold.status.value, gold.reason
    result.bare, result.bare_reason = bare.status.value, bare.reason
    result.holds = gold.status is Status.VERIFIED and bare.status is not Status.VERIFIED
    if result.holds:
        result.reason = "gold VERIFIED, unpatched tree not"
    elif gold.status is not Status.VERIFIED:
        result.reason = f"gold {gold.status.label}: {gold.reason}"
    else:
        result.reason = f"the unpatched tree is VERIFIED too: {bare.reason}"
    result.seconds = round(time.monotonic() - started, 1)
    events(Step(f"{instance.instance_id}: {'holds' if result.holds else result.reason}"))
    return result
