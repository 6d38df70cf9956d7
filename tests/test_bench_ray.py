"""``verifix bench run --executor ray``. The ``docker`` tests run a real two-node Ray
cluster on this machine (two ``ray start``, each with its own temp folder and a resource
that names it) over generated repositories made into SWE-bench-style instances, with the
scripted model: what each node ran is read back from the summary, the predictions must
equal a local run's, and a killed node's instance runs again on the other. The driver's
bookkeeping (the budget held, lost runs charged) is also driven in memory against a fake
Ray, and the one-line errors need no cluster at all."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import OURS, git, new_repo, verifix
from test_bench import HIDDEN, REPRO, row
from test_fix import RIGHT, WRONG
from verifix.agent import bench, ray_executor
from verifix.agent.bench import InstanceResult, Outcome
from verifix.agent.engine import Limits
from verifix.agent.swebench import Instance
from verifix.cli.example.scripted_model import ScriptedModel
from verifix.sandbox.prune import owner_running

RAY = Path(sys.executable).parent / "ray"
MODEL = ["--model", "openai/scripted", "--price-in", "1", "--price-out", "2"]
#: Each instance's reply to the repair prompt, found by its problem statement.
REPLIES = {"acme__calc-1": RIGHT, "acme__calc-2": WRONG, "acme__calc-3": RIGHT}


def reply(body: dict) -> str:
    """The model's answer whichever node asks, in whatever order: a reproduction test
    first, then the fix this instance is scripted to get."""
    system, prompt = body["messages"][0]["content"], body["messages"][-1]["content"]
    if "reproducing a bug report" in system:
        return REPRO
    found = [text for name, text in REPLIES.items() if f"[{name}]" in prompt]
    return found[0] if found else "I do not recognise this issue."


def dataset(tmp_path: Path) -> tuple[Path, Path]:
    """A dataset of three instances on one generated repository, and its repos folder."""
    repos = tmp_path / "repos"
    repo = new_repo(repos / "acme__calc")
    fields = {
        "base_commit": git(repo, "rev-parse", "HEAD").strip(),
        "test_patch": HIDDEN,
        "FAIL_TO_PASS": json.dumps(["tests/test_hidden.py::test_add_more"]),
        "PASS_TO_PASS": json.dumps(["tests/test_calc.py::test_double"]),
    }
    rows = [row(name, problem_statement=f"add() subtracts [{name}]", **fields) for name in REPLIES]
    path = tmp_path / "dataset.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, repos


def predictions(out: Path) -> dict[str, dict]:
    lines = (out / "predictions.jsonl").read_text().splitlines()
    return {p["instance_id"]: p for p in map(json.loads, lines)}


def test_without_ray_the_executor_says_how_to_install_it(tmp_path):
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no module named ray')\n")
    path, repos = dataset(tmp_path)

    result = verifix(
        *("bench", "run", str(path), "--repos", str(repos), "-o", str(tmp_path / "out")),
        *(*MODEL, "--executor", "ray"),
        env={"PYTHONPATH": str(fake.parent)},
    )

    assert result.code == 2, result.err
    assert "pip install 'verifix[ray]'" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_unreachable_cluster_is_one_line_saying_what_to_check(tmp_path):
    path, repos = dataset(tmp_path)
    started = time.monotonic()

    result = verifix(
        *("bench", "run", str(path), "--repos", str(repos), "-o", str(tmp_path / "out")),
        *(*MODEL, "--executor", "ray", "--ray-address", "127.0.0.1:9"),
    )

    assert result.code == 3, result.err
    assert "cannot join the Ray cluster at 127.0.0.1:9" in result.err
    assert "--ray-address" in result.err and len(result.err.strip().splitlines()) == 1
    assert time.monotonic() - started < 30


def test_workers_belong_to_the_local_executor(tmp_path):
    path, repos = dataset(tmp_path)
    args = ["bench", "run", str(path), "--repos", str(repos), *MODEL]

    on_ray = verifix(*args, "--executor", "ray", "--workers", "2")
    local = verifix(*args, "--ray-address", "127.0.0.1:9")

    assert on_ray.code == 2 and "--workers is for --executor local" in on_ray.err
    assert local.code == 2 and "--ray-address is for --executor ray" in local.err


class FakeRay:
    """What the dispatch asks of Ray, in memory: each instance's runs follow its script,
    a cost (the run finished and spent that) or "lost" (its node died)."""

    class exceptions:  # named as ray.exceptions
        class RayError(Exception):
            pass

        class RayTaskError(RayError):
            cause = None

    def __init__(self, slots: int, script: dict[str, list[float | str]]) -> None:
        self.slots, self.script = slots, script
        self.most_at_once = self.submitted = 0
        self.pending: list[tuple[str, int]] = []  # the refs: (instance, submission)

    def remote(self, **options: object):
        assert options["max_retries"] == 0 and options["resources"] == {"docker": 1}
        return lambda _function: SimpleNamespace(remote=self._submit)

    def put(self, value: object) -> object:
        return value

    def cluster_resources(self) -> dict[str, float]:
        return {"docker": self.slots}

    def _submit(self, instance: Instance, _batch: object) -> tuple[str, int]:
        self.submitted += 1
        ref = (instance.instance_id, self.submitted)
        self.pending.append(ref)
        self.most_at_once = max(self.most_at_once, len(self.pending))
        return ref

    def wait(self, refs: list, num_returns: int) -> tuple[list, list]:
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref: tuple[str, int]) -> Outcome:
        self.pending.remove(ref)
        name = ref[0]
        run = self.script[name].pop(0)
        if run == "lost":
            raise self.exceptions.RayError("the node died")
        result = InstanceResult(name, "VERIFIED", True, float(run), 1.0, "ok")
        return Outcome(result, None, "a patch")


@dataclass
class OnFake:
    ray: FakeRay

    def run(self, todo: list[Instance], batch: bench.BatchRun) -> None:
        ray_executor._Dispatch(self.ray, batch).run(todo)


def fake_batch(tmp_path: Path, script: dict, slots: int, max_total: float | None):
    """A batch of the script's instances at $0.50 each, run by the dispatch on FakeRay."""
    batch = bench.Batch(tmp_path, tmp_path / "out", lambda: None, "m", 0.5, Limits(1, 60))
    batch.max_total_cost = max_total
    run = bench.BatchRun(batch, lambda _event: None)
    instances = [Instance(name, "acme/calc", "HEAD", "", "", [], []) for name in script]
    fake = FakeRay(slots, script)
    results = {r.instance_id: r for r in run.run(instances, OnFake(fake))}
    return run, results, fake


def test_on_ray_an_instance_starts_only_when_the_batch_can_afford_it(tmp_path):
    script = {f"i-{n}": [0.1] for n in range(4)}

    run, results, fake = fake_batch(tmp_path, script, slots=4, max_total=1.2)

    # Two runs held ($1.00): a third would pass $1.20, so it is skipped, as locally.
    assert [r.status for r in results.values()] == ["SKIPPED", "SKIPPED", "VERIFIED", "VERIFIED"]
    assert (round(run.spent, 4), run.held, fake.most_at_once) == (0.2, 0.0, 2)


def test_on_ray_a_lost_run_is_charged_its_max_cost_and_runs_again(tmp_path):
    script = {"a": ["lost", 0.1], "b": ["lost", "lost", "lost"], "c": [0.1]}

    run, results, _ = fake_batch(tmp_path, script, slots=2, max_total=None)

    assert results["a"].status == "VERIFIED" and results["a"].cost == 0.6
    assert results["a"].reason == "ok (after 1 lost node(s))"
    assert results["b"].status == "ERROR" and results["b"].cost == 1.5  # 3 runs, all lost
    assert "its node was lost" in results["b"].reason
    assert (round(run.spent, 4), run.held) == (2.2, 0.0)
    assert set(predictions(tmp_path / "out")) == {"a", "c"}  # b runs again in a second batch


def test_on_ray_a_lost_run_runs_again_only_if_the_batch_can_afford_it(tmp_path):
    script = {"a": ["lost", 0.1], "b": [0.1]}

    run, results, _ = fake_batch(tmp_path, script, slots=2, max_total=1.2)

    # a's lost run counts $0.50 spent, b holds $0.50: another $0.50 would pass $1.20.
    assert results["a"].status == "ERROR" and results["a"].cost == 0.5
    assert (round(run.spent, 4), run.held) == (0.6, 0.0)


@dataclass
class Cluster:
    address: str
    folder: Path
    #: Node id -> the name its resource gives it ("head" or "second").
    nodes: dict[str, str]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ray_start(folder: Path, name: str, *args: str) -> None:
    resources = json.dumps({"docker": 1, f"verifix_test_{name}": 1})
    flags = ["--node-ip-address=127.0.0.1", "--num-cpus=1", f"--resources={resources}"]
    flags += [f"--temp-dir={folder / name}", "--disable-usage-stats"]
    subprocess.run([str(RAY), "start", *args, *flags], check=True, capture_output=True, timeout=120)


def _nodes(address: str) -> dict[str, str]:
    """The live nodes' ids, each named by its verifix_test_ resource, asked from a driver
    of its own so this test process never joins the cluster."""
    script = (
        "import json, ray\n"
        f"ray.init(address={address!r}, logging_level='ERROR', log_to_driver=False)\n"
        "print(json.dumps({n['NodeID']: r[len('verifix_test_'):] for n in ray.nodes() "
        "if n['Alive'] for r in n['Resources'] if r.startswith('verifix_test_')}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A head and a second node on this machine: distinct temp folders (short ones: Ray's
    socket paths must fit 107 bytes) and ports chosen by Ray, one docker slot each."""
    folder = Path(tempfile.mkdtemp(prefix="vfxray-", dir="/tmp"))
    address = f"127.0.0.1:{_free_port()}"
    try:
        port = address.rsplit(":", 1)[1]
        _ray_start(folder, "head", "--head", f"--port={port}", "--include-dashboard=false")
        _ray_start(folder, "second", f"--address={address}")
        deadline = time.monotonic() + 60
        while len(nodes := _nodes(address)) < 2 and time.monotonic() < deadline:
            time.sleep(1)
        assert sorted(nodes.values()) == ["head", "second"], nodes
        yield Cluster(address, folder, nodes)
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.docker
def test_a_batch_runs_on_both_nodes_and_predicts_as_a_local_run(tmp_path, cluster):
    path, repos = dataset(tmp_path)
    args = ["bench", "run", str(path), "--repos", str(repos), *MODEL, "--max-attempts", "1"]

    with ScriptedModel([reply] * 20) as server:
        local = verifix(*args, "-o", str(tmp_path / "local"), "--api-base", server.url)
        assert local.code == 0, local.err
        started = time.monotonic()
        on_ray = verifix(
            *(*args, "-o", str(tmp_path / "ray"), "--api-base", server.url),
            *("--executor", "ray", "--ray-address", cluster.address),
        )
        seconds = time.monotonic() - started
    assert on_ray.code == 0, on_ray.err

    assert predictions(tmp_path / "ray") == predictions(tmp_path / "local")
    assert predictions(tmp_path / "ray")["acme__calc-1"]["model_patch"]  # not all empty
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    ran_on = {row["instance_id"]: cluster.nodes[row["node"]] for row in summary["instances"]}
    # One docker slot per node: the first two instances ran at once, one on each node.
    assert set(ran_on.values()) == {"head", "second"}, ran_on
    resolved = {row["instance_id"]: row["resolved"] for row in summary["instances"]}
    assert resolved == {"acme__calc-1": True, "acme__calc-2": False, "acme__calc-3": True}
    for name in ("acme__calc-1", "acme__calc-2", "acme__calc-3"):
        assert (tmp_path / "ray" / "records" / f"{name}.json").is_file()
    print(f"ray batch: {seconds:.0f} s on {ran_on}", file=sys.stderr)


@pytest.mark.docker
def test_an_instance_whose_node_is_lost_runs_again_on_the_other(tmp_path, cluster, docker_client):
    path, repos = dataset(tmp_path)
    out = tmp_path / "out"
    held: list[str] = []
    lock, release = threading.Lock(), threading.Event()

    def hold_the_first_two(body: dict) -> str:
        """The first two instances (one per node) wait in their first model call, until
        the second node is gone."""
        with lock:
            wait = len(held) < 2
            if wait:
                held.append(body["messages"][-1]["content"])
        if wait:
            release.wait(120)
        return reply(body)

    def kill_the_second_node() -> None:
        deadline = time.monotonic() + 120
        while len(held) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        _kill(cluster.folder / "second")
        release.set()

    killer = threading.Thread(target=kill_the_second_node)
    with ScriptedModel([hold_the_first_two] * 20) as server:
        killer.start()
        result = verifix(
            *("bench", "run", str(path), "--repos", str(repos), "-o", str(out), *MODEL),
            *("--api-base", server.url, "--max-attempts", "1", "--max-cost", "0.5"),
            *("--executor", "ray", "--ray-address", cluster.address, "--instance"),
            *("acme__calc-1", "--instance", "acme__calc-3"),
        )
        killer.join()
    # The lost node's worker died mid-run: its containers stay (verifix env prune).
    for container in docker_client.containers.list(all=True, filters=OURS):
        if not owner_running(container.labels):
            container.remove(force=True)
    assert result.code == 0, result.err

    summary = json.loads((out / "summary.json").read_text())
    rows = {row["instance_id"]: row for row in summary["instances"]}
    assert {name: row["resolved"] for name, row in rows.items()} == {
        "acme__calc-1": True,
        "acme__calc-3": True,
    }
    assert {cluster.nodes[row["node"]] for row in rows.values()} == {"head"}
    (again,) = [row for row in rows.values() if "after 1 lost node" in row["reason"]]
    assert again["cost"] > 0.5  # the lost run is charged its whole --max-cost
    assert "its node was lost" in result.err and "running it again" in result.err
    assert "Raylet" not in result.out  # Ray's notice of the lost node is not on stdout
    assert set(predictions(out)) == {"acme__calc-1", "acme__calc-3"}


def _kill(folder: Path) -> None:
    """SIGKILL every process of the node whose temp folder is ``folder`` (its raylet and
    agents name it on their command line); its workers die with their raylet."""
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and str(folder).encode() in command:
            os.kill(int(proc.name), signal.SIGKILL)
