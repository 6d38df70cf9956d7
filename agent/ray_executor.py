"""``bench run --executor ray``: a batch's instances on the nodes of a Ray cluster.

Each instance is one Ray task, and a task needs a node with its own Docker engine: it asks
for one CPU and the custom resource ``docker`` (``RESOURCES``), so a node started with
``--resources='{"docker": N}'`` runs N instances at once and a node without it runs none.
On its node the task finds the clone under --repos (the same path on every node) and the
provider's key in that node's environment: the driver ships the instance and the batch's
settings, never a secret. It returns the instance's ``Outcome``, its record already
redacted there (with that node's secrets), and the driver, the only writer of the output,
takes the outcomes as they finish (``ray.wait``).

Ray is imported here alone, and only when the executor runs: it is an optional extra.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from verifix.sandbox.errors import UsageError, VerifixError

from .bench import Batch, BatchRun, Outcome, attempt, died
from .events import Event, Step
from .swebench import Instance

#: What one instance asks of its node: a CPU for verifix, and a slot of the node's engine.
NUM_CPUS = 1
RESOURCES = {"docker": 1}
#: How many more times an instance runs after its node (or worker) was lost.
RETRIES = 2
#: How long an interrupted batch waits for its cancelled tasks to remove their containers.
CANCEL_WAIT_S = 60


class ClusterError(VerifixError):
    """The Ray cluster cannot be reached or cannot run an instance: exit code 3."""


@dataclass
class RayExecutor:
    """Runs a batch on the Ray cluster at ``address`` (``auto``: RAY_ADDRESS, else the one
    started on this machine)."""

    address: str = "auto"

    def __post_init__(self) -> None:
        _import_ray()  # no Ray: say so before the batch makes its output folder

    def run(self, todo: list[Instance], batch: BatchRun) -> None:
        ray = _import_ray()
        # Ray prints the cluster's errors (a node lost, with its raylet's last lines) on
        # stdout, which is the batch's rows' and a script's to read: they go to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            _connect(ray, self.address)
            try:
                if _slots(ray) < 1:
                    raise ClusterError(
                        f"no node of the Ray cluster at {self.address} offers the resource "
                        "docker: start each node that has a Docker engine with "
                        """--resources='{"docker": 1}'"""
                    )
                _Dispatch(ray, batch).run(todo)
            finally:
                ray.shutdown()


class _Dispatch:
    """Submits the instances as the batch affords them and the cluster has room, and hands
    each outcome to the batch; an instance whose node was lost runs again elsewhere."""

    def __init__(self, ray: Any, batch: BatchRun) -> None:
        self.ray = ray
        self.batch = batch
        # Retries are ours, not Ray's max_retries: a lost run's spend is unknown, so each
        # run must be held against --max-total-cost before it starts.
        self.task = ray.remote(num_cpus=NUM_CPUS, resources=RESOURCES, max_retries=0)(_on_node)
        self.settings = ray.put(batch.batch)  # shipped once, not with every task
        #: Each running task's instance and how many runs of it were held so far.
        self.pending: dict[Any, tuple[Instance, int]] = {}

    def run(self, todo: list[Instance]) -> None:
        queue = deque(todo)
        try:
            while queue or self.pending:
                # As many in flight as the cluster has docker slots (read again each time,
                # so a node that joins is used): an instance is held only when it can start.
                while queue and len(self.pending) < max(1, _slots(self.ray)):
                    instance = queue.popleft()
                    if self.batch.reserve(instance):
                        self._submit(instance, 1)
                if self.pending:
                    ready, _ = self.ray.wait(list(self.pending), num_returns=1)
                    self._collect(ready[0])
        except BaseException:
            self._cancel()
            raise

    def _submit(self, instance: Instance, runs: int) -> None:
        self.pending[self.task.remote(instance, self.settings)] = (instance, runs)

    def _collect(self, ref: Any) -> None:
        instance, runs = self.pending.pop(ref)
        errors = self.ray.exceptions
        try:
            outcome: Outcome = self.ray.get(ref)
        except errors.RayTaskError as exc:  # the task raised: a bug, the same on any node
            cause = exc.cause or exc
            why = f"{type(cause).__name__}: {cause}"
            self.batch.finish(died(instance, self.batch.batch, why, runs), runs)
            return
        except errors.RayError as exc:  # the node or its worker was lost
            lost = f"{instance.instance_id}: its node was lost ({type(exc).__name__})"
            if runs <= RETRIES and self.batch.hold():
                self.batch.events(Step(f"{lost}: running it again"))
                self._submit(instance, runs + 1)
                return
            why = f"its node was lost on each of its {runs} run(s): {exc}"
            self.batch.finish(died(instance, self.batch.batch, why, runs), runs)
            return
        # Each lost run before this one is charged its whole --max-cost.
        outcome.result.cost += (runs - 1) * self.batch.batch.per_instance_cost
        if runs > 1:
            outcome.result.reason += f" (after {runs - 1} lost node(s))"
        self.batch.finish(outcome, runs)

    def _cancel(self) -> None:
        """Interrupted: cancel the running tasks (an interrupt in each, so they remove
        their containers) and give them a while to do it."""
        refs = list(self.pending)
        for ref in refs:
            self.ray.cancel(ref)
        if refs:
            self.ray.wait(refs, num_returns=len(refs), timeout=CANCEL_WAIT_S)


def _on_node(instance: Instance, batch: Batch) -> Outcome:
    """The task: one instance on this node, which ran it named in the result."""
    import ray

    outcome = attempt(instance, batch, _to_stderr)
    outcome.result.node = ray.get_runtime_context().get_node_id()
    return outcome


def _to_stderr(event: Event) -> None:
    """A node's progress lines, in its Ray worker's log (``ray logs``) for whoever looks
    into one instance; the driver reports each instance's start and end."""
    if isinstance(event, Step):
        print(event.message, file=sys.stderr, flush=True)


def _slots(ray: Any) -> int:
    """How many instances the cluster's live nodes can run at once."""
    return int(ray.cluster_resources().get("docker", 0))


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            "--executor ray needs Ray: pip install 'verifix[ray]' (or use --executor local)"
        ) from exc
    return ray


def _connect(ray: Any, address: str) -> None:
    """Join the cluster as its driver, or one line saying what to do. A closed port is
    found in milliseconds here; ray.init itself would retry it for minutes."""
    url = urlsplit(address if "://" in address else f"ray://{address}")
    if address != "auto" and url.hostname:
        try:
            socket.create_connection((url.hostname, url.port or 6379), timeout=5).close()
        except OSError as exc:
            raise ClusterError(_unreachable(address, str(exc))) from exc
    try:
        # The nodes' progress stays in their worker logs: forwarded, Ray would interleave
        # it late, deduplicated and coloured with the driver's own lines.
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except Exception as exc:  # ConnectionError, a version mismatch (RuntimeError), ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ClusterError(_unreachable(address, first)) from exc


def _unreachable(address: str, why: str) -> str:
    return (
        f"cannot join the Ray cluster at {address}: {why} (is `ray start --head` running "
        "there, with the same Ray version? check --ray-address)"
    )
