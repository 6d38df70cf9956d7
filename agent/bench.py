"""Many instances at once.

``validate``: does a SWE-bench-style dataset hold with detected environments and no
hand-written specs? For each instance, the gold patch must be VERIFIED and the unpatched
tree must not be; both are judged in one session (one environment, one baseline run), and
an instance that cannot be judged says why in one line.

``BatchRun``: the repair on every instance (the problem statement in; the instance's own
tests never shown), ``workers`` at a time, each prediction appended to
``predictions.jsonl`` in the SWE-bench format as it is made (so a second run resumes),
one record per instance, and a summary with verifix's own check of each prediction.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from verifix.sandbox import snapshot
from verifix.sandbox.errors import VerifixError
from verifix.sandbox.verdict import Status

from . import record, runner
from .engine import Limits
from .events import Event, Events, Step, ignore
from .protocols import ChatModel
from .runner import DockerSandbox, Request
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


# -- bench run -----------------------------------------------------------------------------

PREDICTIONS = "predictions.jsonl"
SUMMARY = "summary.json"
RUN_SCHEMA = "verifix.bench.run/1"


@dataclass
class Batch:
    """How a batch runs: where the clones are and the output goes, the request every
    instance gets (its model, limits, strategy), and the limits of the batch itself."""

    repos: Path
    out: Path
    model: Callable[[], ChatModel]
    model_name: str
    per_instance_cost: float
    limits: Limits
    workers: int = 1
    #: The most the whole batch may spend: an instance starts only when the batch can
    #: still afford its own --max-cost on top of what is spent and held by the others.
    max_total_cost: float | None = None
    request: dict[str, Any] = field(default_factory=dict)


@dataclass
class InstanceResult:
    """One instance of a batch: what verifix did and what its own check says."""

    instance_id: str
    status: str  # VERIFIED, NOT_FIXED, ..., SKIPPED, ERROR
    resolved: bool | None  # the instance's own tests on model_patch; None: not checked
    cost: float
    seconds: float
    reason: str
    record: str | None = None


def done_ids(out: Path) -> set[str]:
    """Instances already in the output's predictions: a second run skips them."""
    path = out / PREDICTIONS
    if not path.is_file():
        return set()
    ids = set()
    for line in path.read_text().splitlines():
        try:
            ids.add(json.loads(line)["instance_id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut by an interrupted run: that instance runs again
    return ids


class BatchRun:
    """Runs instances ``workers`` at a time, appending each prediction as it is made."""

    def __init__(self, batch: Batch, events: Events) -> None:
        self.batch = batch
        self.events = events
        self.lock = threading.Lock()
        self.spent = 0.0
        self.held = 0.0
        self.results: list[InstanceResult] = []

    def run(self, instances: list[Instance]) -> list[InstanceResult]:
        self.batch.out.mkdir(parents=True, exist_ok=True)
        done = done_ids(self.batch.out)
        todo = [i for i in instances if i.instance_id not in done]
        if len(todo) < len(instances):
            self.events(Step(f"{len(instances) - len(todo)} instances already done: skipped"))
        queue = list(reversed(todo))

        def worker() -> None:
            while True:
                with self.lock:
                    if not queue:
                        return
                    instance = queue.pop()
                self._one(instance)

        threads = [
            threading.Thread(target=worker, name=f"verifix-bench-{n}", daemon=True)
            for n in range(max(1, min(self.batch.workers, len(todo))))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
        self._summary()
        return self.results

    def _afford(self) -> bool:
        limit = self.batch.max_total_cost
        with self.lock:
            if limit is not None and self.spent + self.held + self.batch.per_instance_cost > limit:
                return False
            self.held += self.batch.per_instance_cost
            return True

    def _one(self, instance: Instance) -> None:
        started = time.monotonic()
        name = instance.instance_id
        if not self._afford():
            self._keep(InstanceResult(name, "SKIPPED", None, 0.0, 0.0, "--max-total-cost reached"))
            return
        self.events(Step(f"{name}: started"))
        model: ChatModel | None = None

        def make() -> ChatModel:
            nonlocal model
            model = self.batch.model()
            return model

        try:
            clone = clone_of(instance, self.batch.repos)
            request = Request(
                clone,
                instance.issue(),
                make,
                self.batch.limits,
                snapshot=lambda _repo: snapshot.of_commit(clone, instance.base_commit),
                keep_record=False,
                always_reproduce=True,
                **self.batch.request,
            )
            run = runner.run(request, _prefixed(self.events, name))
            fix = run.winner.patch if run.winner and run.winner.patch else ""
            resolved = self._resolved(instance, clone, fix) if fix else False
            status, why = run.status()
            path = record.write_to(self.batch.out / "records" / f"{name}.json", record.build(run))
            result = InstanceResult(name, status, resolved, _spent(model), 0.0, why, str(path))
            self._predict(name, fix)
        except VerifixError as exc:
            result = InstanceResult(name, "ERROR", None, _spent(model), 0.0, str(exc))
        finally:
            with self.lock:
                self.held -= self.batch.per_instance_cost
                self.spent += _spent(model)
        result.seconds = round(time.monotonic() - started, 1)
        self.events(Step(f"{name}: {result.status}, resolved: {result.resolved}"))
        self._keep(result)

    def _resolved(self, instance: Instance, clone: Path, patch: str) -> bool:
        """The instance's own tests (FAIL_TO_PASS, PASS_TO_PASS, with its test patch) on the
        source changes verifix handed over: the SWE-bench harness's question."""
        with snapshot.of_commit(clone, instance.base_commit) as snap:
            sandbox = DockerSandbox(snap, ignore)
            with sandbox.session(instance.checks()) as session:
                return session.check(patch).status is Status.VERIFIED

    def _predict(self, name: str, patch: str) -> None:
        line = {
            "instance_id": name,
            "model_name_or_path": self.batch.model_name,
            "model_patch": patch,
        }
        with self.lock, (self.batch.out / PREDICTIONS).open("a") as out:
            out.write(json.dumps(line) + "\n")

    def _keep(self, result: InstanceResult) -> None:
        with self.lock:
            self.results.append(result)

    def _summary(self) -> None:
        rows = [asdict(r) for r in self.results]
        summary = {
            "schema": RUN_SCHEMA,
            "instances": rows,
            "totals": {
                "instances": len(rows),
                "verified": sum(r.status == "VERIFIED" for r in self.results),
                "resolved": sum(bool(r.resolved) for r in self.results),
                "cost": round(sum(r.cost for r in self.results), 4),
                "seconds": round(sum(r.seconds for r in self.results), 1),
            },
        }
        (self.batch.out / SUMMARY).write_text(json.dumps(summary, indent=1))


def _spent(model: ChatModel | None) -> float:
    return model.budget.spent if model is not None else 0.0


def _prefixed(events: Events, name: str) -> Events:
    """A run's events with its instance named in every step line (several run at once)."""

    def publish(event: Event) -> None:
        if isinstance(event, Step):
            events(Step(f"{name}: {event.message}", event.phase))

    return publish
