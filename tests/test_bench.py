"""``verifix bench validate``: a dataset's instances judged with detected environments.
Dataset handling is pure; the validation runs real containers on generated repositories
made into SWE-bench-style instances."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import BUGGY_MODULE, git, new_repo, verifix
from verifix.agent import swebench
from verifix.sandbox.errors import UsageError

FIXED = BUGGY_MODULE.replace("return a - b", "return a + b")


def row(instance_id: str, **fields: object) -> dict:
    return {
        "instance_id": instance_id,
        "repo": "acme/calc",
        "base_commit": "HEAD",
        "patch": "",
        "test_patch": "",
        "FAIL_TO_PASS": "[]",
        "PASS_TO_PASS": "[]",
        "problem_statement": "add() subtracts",
        **fields,
    }


def test_a_resumed_batch_keeps_its_summary_and_counts_what_it_spent_before(tmp_path):
    from dataclasses import asdict

    from verifix.agent import bench
    from verifix.agent.engine import Limits
    from verifix.agent.events import ignore

    out = tmp_path / "out"
    out.mkdir()
    earlier = bench.InstanceResult("acme__calc-1", "VERIFIED", True, 0.8, 10.0, "targets pass")
    (out / bench.PREDICTIONS).write_text(json.dumps({"instance_id": "acme__calc-1"}) + "\n")
    (out / bench.SUMMARY).write_text(json.dumps({"instances": [asdict(earlier)]}))
    dataset = tmp_path / "d.jsonl"
    dataset.write_text("\n".join(json.dumps(row(f"acme__calc-{n}")) for n in (1, 2)))
    batch = bench.Batch(tmp_path, out, lambda: None, "m", 0.5, Limits(1, 60), max_total_cost=1.0)

    class StartsEach:
        def run(self, todo, batch_run):
            for instance in todo:
                batch_run.reserve(instance)

    results = bench.BatchRun(batch, ignore).run(swebench.load_all(dataset), StartsEach())

    # $0.80 spent before: a second $0.50 instance would pass the $1.00 for the batch.
    assert [(r.instance_id, r.status) for r in results] == [
        ("acme__calc-1", "VERIFIED"),
        ("acme__calc-2", "SKIPPED"),
    ]
    summary = json.loads((out / bench.SUMMARY).read_text())
    assert summary["totals"]["cost"] == 0.8 and summary["totals"]["instances"] == 2


def test_a_dataset_is_a_json_list_or_json_lines(tmp_path):
    rows = [row("acme__calc-1"), row("acme__calc-2")]
    listed, lines = tmp_path / "d.json", tmp_path / "d.jsonl"
    listed.write_text(json.dumps(rows))
    lines.write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    for path in (listed, lines):
        assert [i.instance_id for i in swebench.load_all(path)] == ["acme__calc-1", "acme__calc-2"]


def test_instances_are_chosen_by_id_slice_and_filter(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(row(f"acme__calc-{n}")) for n in range(6)))
    every = swebench.load_all(path)

    def ids(chosen):
        return [i.instance_id.rsplit("-", 1)[1] for i in chosen]

    assert ids(swebench.select(every, ["acme__calc-4", "acme__calc-1"])) == ["1", "4"]
    assert ids(swebench.select(every, span="1:3")) == ["1", "2"]
    assert ids(swebench.select(every, span="4:", pattern="[05]$")) == ["5"]
    with pytest.raises(UsageError, match="--slice x: write A:B"):
        swebench.select(every, span="x")
    with pytest.raises(UsageError, match="no instance 'nope'"):
        swebench.select(every, ["nope"])


def test_a_repository_with_no_clone_is_named_with_where_to_put_it(tmp_path):
    (instance,) = swebench.load_all(_dataset(tmp_path, [row("a-1")]))
    with pytest.raises(UsageError, match=r"no clone of acme/calc under .*acme__calc"):
        swebench.clone_of(instance, tmp_path)


def test_without_repos_a_repository_is_mirrored_into_the_cache_once(tmp_path, monkeypatch):
    """No --repos: the mirror is fetched from VERIFIX_GIT_BASE (here a folder standing in
    for GitHub) into the cache, reused by the next instance, and brought up to date when
    an instance's base commit is newer than the mirror."""
    upstream = new_repo(tmp_path / "upstream" / "acme" / "calc")
    first = git(upstream, "rev-parse", "HEAD").strip()
    monkeypatch.setenv("VERIFIX_GIT_BASE", (tmp_path / "upstream").as_uri())
    monkeypatch.setenv("VERIFIX_CACHE_DIR", str(tmp_path / "cache"))
    (old,) = swebench.load_all(_dataset(tmp_path, [row("a-1", base_commit=first)]))

    # The upstream folder stands at BASE/acme/calc.git for git: link the name.
    (tmp_path / "upstream" / "acme" / "calc.git").symlink_to(upstream / ".git")
    mirror = swebench.clone_of(old, None)

    assert mirror == tmp_path / "cache" / "mirrors" / "acme+calc"
    assert git(mirror, "rev-parse", f"{first}^{{commit}}").strip() == first
    assert [p.name for p in (tmp_path / "cache" / "mirrors").iterdir()] == ["acme+calc"]

    (upstream / "calc.py").write_text(FIXED)
    git(upstream, "commit", "-qam", "fix")
    newer = git(upstream, "rev-parse", "HEAD").strip()
    (new,) = swebench.load_all(_dataset(tmp_path, [row("a-2", base_commit=newer)]))

    assert swebench.clone_of(new, None) == mirror
    assert git(mirror, "rev-parse", f"{newer}^{{commit}}").strip() == newer


def test_a_repository_that_cannot_be_fetched_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("VERIFIX_GIT_BASE", (tmp_path / "nowhere").as_uri())
    monkeypatch.setenv("VERIFIX_CACHE_DIR", str(tmp_path / "cache"))
    (instance,) = swebench.load_all(_dataset(tmp_path, [row("a-1")]))

    with pytest.raises(UsageError, match=r"could not fetch acme/calc from file://.*pass --repos"):
        swebench.clone_of(instance, None)
    assert list((tmp_path / "cache" / "mirrors").iterdir()) == []  # no half a mirror left


def _dataset(tmp_path, rows) -> Path:
    path = tmp_path / "dataset.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _calc_batch(tmp_path, names: list[str]) -> Path:
    """A dataset of ``names``, each the calculator repo (under ``tmp_path/repos``) with a
    hidden test that only a fix of add() passes."""
    repo = new_repo(tmp_path / "repos" / "acme__calc")
    fields = {
        "base_commit": git(repo, "rev-parse", "HEAD").strip(),
        "test_patch": HIDDEN,
        "FAIL_TO_PASS": json.dumps(["tests/test_hidden.py::test_add_more"]),
        "PASS_TO_PASS": json.dumps(["tests/test_calc.py::test_double"]),
    }
    return _dataset(tmp_path, [row(name, **fields) for name in names])


@pytest.mark.docker
def test_gold_patches_hold_and_a_wrong_one_is_named(tmp_path):
    repo = new_repo(tmp_path / "repos" / "acme__calc")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "calc.py").write_text(FIXED)
    gold = git(repo, "diff")
    git(repo, "checkout", "--", "calc.py")
    wrong = gold.replace("+    return a + b", "+    return a * b")
    target = json.dumps(["tests/test_calc.py::test_add"])
    keep = json.dumps(["tests/test_calc.py::test_double"])
    fields = {"base_commit": base, "FAIL_TO_PASS": target, "PASS_TO_PASS": keep}
    path = _dataset(
        tmp_path,
        [row("acme__calc-1", patch=gold, **fields), row("acme__calc-2", patch=wrong, **fields)],
    )

    result = verifix("bench", "validate", str(path), "--repos", str(tmp_path / "repos"), "--json")

    assert result.code == 1, result.err
    first, second = (json.loads(line) for line in result.out.splitlines())
    assert (first["holds"], first["gold"], first["bare"]) == (True, "VERIFIED", "NOT_VERIFIED")
    assert second["holds"] is False and second["reason"].startswith("gold NOT VERIFIED")


REPRO = (
    "tests/test_verifix_repro.py\n<<<<<<< SEARCH\n=======\nfrom calc import add\n\n\n"
    "def test_repro():\n    assert add(2, 3) == 5\n>>>>>>> REPLACE\n"
)
HIDDEN = (
    "diff --git a/tests/test_hidden.py b/tests/test_hidden.py\nnew file mode 100644\n"
    "--- /dev/null\n+++ b/tests/test_hidden.py\n@@ -0,0 +1,5 @@\n+from calc import add\n+\n+\n"
    "+def test_add_more():\n+    assert add(1, 1) == 2\n"
)


@pytest.mark.docker
def test_a_batch_predicts_resumes_and_checks_with_the_hidden_tests(tmp_path):
    from test_fix import RIGHT, WRONG
    from verifix.cli.example.scripted_model import ScriptedModel

    path = _calc_batch(tmp_path, ["acme__calc-1", "acme__calc-2"])
    out = tmp_path / "out"
    args = ["bench", "run", str(path), "--repos", str(tmp_path / "repos"), "-o", str(out)]
    model = ["--model", "openai/scripted", "--price-in", "1", "--price-out", "2"]

    # Each instance reproduces the issue as a test first (an instance names no target).
    with ScriptedModel([REPRO, RIGHT, REPRO, WRONG]) as server:
        first = verifix(*args, *model, "--api-base", server.url, "--max-attempts", "1")
    assert first.code == 0, first.err
    predictions = [
        json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()
    ]
    assert [p["instance_id"] for p in predictions] == ["acme__calc-1", "acme__calc-2"]
    assert {p["model_name_or_path"] for p in predictions} == {"openai/scripted"}
    right, wrong = predictions
    # The source change only: verifix's own reproduction test is in the record, not here.
    assert "+    return a + b" in right["model_patch"] and "test_" not in right["model_patch"]
    assert wrong["model_patch"] == ""  # nothing verified: nothing predicted
    summary = json.loads((out / "summary.json").read_text())
    assert [(i["instance_id"], i["resolved"]) for i in summary["instances"]] == [
        ("acme__calc-1", True),
        ("acme__calc-2", False),
    ]
    assert (out / "records" / "acme__calc-1.json").is_file()

    assert summary["search"]["max_attempts"] == 1 and summary["search"]["candidates"] == 1

    with ScriptedModel([RIGHT]) as server:
        again = verifix(*args, *model, "--api-base", server.url)
        assert server.requests == []
    assert again.code == 0 and "2 instances already done" in again.err
    # A resumed batch is still one batch: its summary keeps what the first run did.
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["instances"] == summary["instances"]
    assert resumed["totals"] == summary["totals"]


@pytest.mark.docker
def test_sigterm_mid_batch_starts_nothing_more_and_leaves_no_container(tmp_path, docker_client):
    """Two workers, three instances: SIGTERM while the first two check in their containers
    must end the batch with no third instance started, no container left, a summary with
    nothing predicted, and a second run that does them all."""
    import os
    import signal
    import subprocess

    from conftest import OURS, VERIFIX
    from test_fix import RIGHT
    from verifix.cli.example.scripted_model import ScriptedModel

    names = [f"acme__calc-{n}" for n in (1, 2, 3)]
    path = _calc_batch(tmp_path, names)
    out = tmp_path / "out"
    args = [str(VERIFIX), "bench", "run", str(path), "--repos", str(tmp_path / "repos")]
    args += ["-o", str(out), "--workers", "2", "--model", "openai/scripted"]
    args += ["--price-in", "1", "--price-out", "2", "--max-attempts", "1"]
    with ScriptedModel([REPRO] * 9) as server:
        proc = subprocess.Popen(
            [*args, "--api-base", server.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        # SIGTERM while both workers check a reproduction test in their containers: the
        # exit removes those containers under them, and a worker that went on to the
        # next instance would start it (and a container nothing removes).
        deadline = time.monotonic() + 180
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(server.requests) == 2, "the two workers never asked"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
        time.sleep(3)  # what a worker left running would have started by now

    assert proc.returncode == 130, err
    assert "acme__calc-3: started" not in err and "Traceback" not in err
    assert docker_client.containers.list(all=True, filters=OURS) == []
    summary = json.loads((out / "summary.json").read_text())
    # The two runs cut off are ERROR rows (when they ended before the process), never
    # predictions: a second batch runs them again.
    assert {r["status"] for r in summary["instances"]} <= {"ERROR"}
    assert not (out / "predictions.jsonl").exists()

    with ScriptedModel([REPRO, RIGHT] * 3) as server:
        again = verifix(*args[1:], "--api-base", server.url)
    assert again.code == 0, again.err
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["instance_id"] for line in lines) == names
