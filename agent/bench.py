"""Many instances at once.

``validate``: does a SWE-bench-style dataset hold with detected environments and no
hand-written specs? For each instance, the gold patch must be VERIFIED and the unpatched
tree must not be; both are judged in one session (one environment, one baseline run), and
an instance that cannot be judged says why in one line.

``BatchRun``: the repair on every instance (the problem statement in; the instance's own
tests never shown), each prediction appended to ``predictions.jsonl`` in the SWE-bench
format as it is made (so a second run resumes), one record per instance, and a summary
with verifix's own check of each prediction. An ``Executor`` decides where ``attempt``
runs: ``Threads`` here, ``workers`` at a time, or ``ray_executor.RayExecutor`` on the
nodes of a Ray cluster; the bookkeeping stays in ``BatchRun``, on this machine.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from verifix.sandbox import snapshot
from verifix.sandbox.errors import VerifixError
from verifix.sandbox.verdict import Status

from . import record, runner
from .engine import Limits
from .events import Event, Events, Step, ignore
from .protocols import ChatModel
from .redact import redact_data
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


def validate(instance: Instance, repos: Path | None, events: Events) -> Validation:
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

    #: Where the clones are; None: mirrors fetched into verifix's cache (``clone_of``).
    repos: Path | None
    out: Path
    model: Callable[[], ChatModel]
    model_name: str
    per_instance_cost: float
    limits: Limits
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
    #: The Ray node that ran it (its node id); None: this machine.
    node: str | None = None


@dataclass
class Outcome:
    """One instance's run, wherever it ran, for the driver to write down: its result, its
    record (redacted where it was made, with that machine's secrets) and its prediction
    (None: nothing to predict, so a second run tries the instance again)."""

    result: InstanceResult
    record: dict[str, Any] | None = None
    patch: str | None = None


class Executor(Protocol):
    """Where a batch's instances run: it calls ``batch.reserve`` before each instance,
    ``attempt`` (or anything that returns its ``Outcome``), then ``batch.finish``."""

    def run(self, todo: list[Instance], batch: BatchRun) -> None: ...


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


def attempt(instance: Instance, batch: Batch, events: Events) -> Outcome:
    """Repair one instance and check the prediction with its own tests, on this machine.
    It touches nothing of the batch's output, so it can run on any node that has Docker
    and the clone; a provider's failure or a broken environment is an ERROR outcome."""
    started = time.monotonic()
    name = instance.instance_id
    model: ChatModel | None = None

    def make() -> ChatModel:
        nonlocal model
        model = batch.model()
        return model

    try:
        clone = clone_of(instance, batch.repos)
        request = Request(
            clone,
            instance.issue(),
            make,
            batch.limits,
            snapshot=lambda _repo: snapshot.of_commit(clone, instance.base_commit),
            keep_record=False,
            always_reproduce=True,
            **batch.request,
        )
        run = runner.run(request, _prefixed(events, name))
        fix = run.winner.patch if run.winner and run.winner.patch else ""
        resolved = _resolved(instance, clone, fix) if fix else False
        status, why = run.status()
        result = InstanceResult(name, status, resolved, _spent(model), 0.0, why)
        outcome = Outcome(result, redact_data(record.build(run)), fix)
    except VerifixError as exc:
        outcome = Outcome(InstanceResult(name, "ERROR", None, _spent(model), 0.0, str(exc)))
    outcome.result.seconds = round(time.monotonic() - started, 1)
    return outcome


def died(instance: Instance, batch: Batch, why: str, runs: int = 1) -> Outcome:
    """The outcome of an instance whose ``runs`` died without saying what they spent:
    each charged its whole --max-cost, so --max-total-cost holds; no prediction, so a
    second batch tries it again."""
    cost = runs * batch.per_instance_cost
    line = why.strip().splitlines()[0] if why.strip() else "the run died"
    return Outcome(InstanceResult(instance.instance_id, "ERROR", None, cost, 0.0, line))


def _resolved(instance: Instance, clone: Path, patch: str) -> bool:
    """The instance's own tests (FAIL_TO_PASS, PASS_TO_PASS, with its test patch) on the
    source changes verifix handed over: the SWE-bench harness's question."""
    with snapshot.of_commit(clone, instance.base_commit) as snap:
        sandbox = DockerSandbox(snap, ignore)
        with sandbox.session(instance.checks()) as session:
            return session.check(patch).status is Status.VERIFIED


class BatchRun:
    """A batch's bookkeeping, whatever runs its instances: what is spent and held against
    --max-total-cost, and the output (predictions appended as they come, records, the
    summary), written here alone."""

    def __init__(self, batch: Batch, events: Events) -> None:
        self.batch = batch
        self.events = events
        self.lock = threading.Lock()
        self.spent = 0.0
        self.held = 0.0
        self.results: list[InstanceResult] = []
        #: Set when the batch is interrupted: no instance may start after it.
        self.stopping = False

    def run(self, instances: list[Instance], executor: Executor) -> list[InstanceResult]:
        """Run the instances not yet predicted in the output, then write the summary."""
        self.batch.out.mkdir(parents=True, exist_ok=True)
        done = done_ids(self.batch.out)
        todo = [i for i in instances if i.instance_id not in done]
        if len(todo) < len(instances):
            self.events(Step(f"{len(instances) - len(todo)} instances already done: skipped"))
        # What earlier runs into this output did stays in the summary and counts against
        # --max-total-cost: a resumed batch is still one batch.
        self.results = self._earlier(done)
        self.spent = sum(r.cost for r in self.results)
        try:
            executor.run(todo, self)
        except BaseException:
            # Ctrl-C or SIGTERM: no instance starts any more, and what finished is summed
            # up (the runs under way end with the process; they are not predicted, so a
            # second batch runs them again).
            self.stopping = True
            raise
        finally:
            self._summary()
        return list(self.results)

    def _earlier(self, done: set[str]) -> list[InstanceResult]:
        """The previous summary's rows of the instances already predicted."""
        try:
            rows = json.loads((self.batch.out / SUMMARY).read_text())["instances"]
            return [InstanceResult(**row) for row in rows if row["instance_id"] in done]
        except (OSError, ValueError, KeyError, TypeError):
            return []  # no summary yet, or one this version cannot read

    def reserve(self, instance: Instance) -> bool:
        """Hold the instance's --max-cost if the batch can still afford it; if not, the
        instance is SKIPPED and must not start."""
        name = instance.instance_id
        if self.stopping:
            return False
        if self.hold():
            self.events(Step(f"{name}: started"))
            return True
        self._keep(InstanceResult(name, "SKIPPED", None, 0.0, 0.0, "--max-total-cost reached"))
        return False

    def hold(self) -> bool:
        """Hold one more --max-cost if it fits on top of what is spent and held by the
        others (an instance that starts, or runs again after its node was lost)."""
        limit = self.batch.max_total_cost
        with self.lock:
            if limit is not None and self.spent + self.held + self.batch.per_instance_cost > limit:
                return False
            self.held += self.batch.per_instance_cost
            return True

    def finish(self, outcome: Outcome, holds: int = 1) -> None:
        """Charge what the instance spent in place of its holds, and write it down."""
        result = outcome.result
        with self.lock:
            self.held -= holds * self.batch.per_instance_cost
            self.spent += result.cost
        if outcome.record is not None:
            path = self.batch.out / "records" / f"{result.instance_id}.json"
            result.record = str(record.write_to(path, outcome.record))
        if outcome.patch is not None:
            self._predict(result.instance_id, outcome.patch)
        where = f" (node {result.node[:8]})" if result.node else ""
        self.events(
            Step(f"{result.instance_id}: {result.status}, resolved: {result.resolved}{where}")
        )
        self._keep(result)
        if self.stopping:  # a run cut off by the interrupt ends after the summary was written
            self._summary()

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
        with self.lock:
            results = list(self.results)
        rows = [asdict(r) for r in results]
        summary = {
            "schema": RUN_SCHEMA,
            # How each instance searched: what a comparison of batches (the report's fixes
            # against dollars as candidates grow) tells them apart by.
            "search": {
                "model": self.batch.model_name,
                "max_cost": self.batch.per_instance_cost,
                "max_attempts": self.batch.limits.max_attempts,
                **self.batch.request,
            },
            "instances": rows,
            "totals": {
                "instances": len(rows),
                "verified": sum(r.status == "VERIFIED" for r in results),
                "resolved": sum(bool(r.resolved) for r in results),
                "cost": round(sum(r.cost for r in results), 4),
                "seconds": round(sum(r.seconds for r in results), 1),
            },
        }
        (self.batch.out / SUMMARY).write_text(json.dumps(summary, indent=1))


@dataclass
class Threads:
    """The local executor: ``workers`` threads on this machine, each taking the next
    instance in the dataset's order."""

    workers: int

    def run(self, todo: list[Instance], batch: BatchRun) -> None:
        queue = list(reversed(todo))
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    instance = queue.pop()
                if not batch.reserve(instance):
                    continue
                try:
                    outcome = attempt(instance, batch.batch, batch.events)
                except BaseException as exc:
                    batch.finish(died(instance, batch.batch, f"{type(exc).__name__}: {exc}"))
                    raise
                batch.finish(outcome)

        threads = [
            threading.Thread(target=worker, name=f"verifix-bench-{n}", daemon=True)
            for n in range(max(1, min(self.workers, len(todo))))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)


def _spent(model: ChatModel | None) -> float:
    return model.budget.spent if model is not None else 0.0


def _prefixed(events: Events, name: str) -> Events:
    """A run's events with its instance named in every step line (several run at once)."""

    def publish(event: Event) -> None:
        if isinstance(event, Step):
            events(Step(f"{name}: {event.message}", event.phase))

    return publish
