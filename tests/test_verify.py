"""``verifix verify`` against a real engine, on real repos with real bugs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import BUGGY_MODULE, OURS, TESTS, VERIFIX, diff_for, git, verifix

FIXED_MODULE = BUGGY_MODULE.replace("a - b", "a + b")


@pytest.mark.docker
def test_fixing_patch_is_verified(make_repo, tmp_path):
    repo = make_repo()
    patch = tmp_path / "fix.diff"
    patch.write_text(diff_for(repo, "calc.py", FIXED_MODULE))

    result = verifix("verify", "--patch", str(patch), str(repo))

    assert result.code == 0, result.out + result.err
    assert result.out.startswith("VERIFIED")
    assert "tests/test_calc.py::test_add" in result.out
    assert "tests/test_calc.py::test_double_two" in result.out


@pytest.mark.docker
def test_patch_that_breaks_another_test_names_it(make_repo, tmp_path):
    repo = make_repo()
    # Fixes add() but makes double(0) wrong: test_double passed before and fails now.
    breaking = FIXED_MODULE.replace("return add(x, x)", "return add(x, x) or 1")
    patch = tmp_path / "p.diff"
    patch.write_text(diff_for(repo, "calc.py", breaking))

    result = verifix("verify", "--patch", str(patch), "--json", str(repo))

    assert result.code == 1
    verdict = json.loads(result.out)
    assert verdict["status"] == "NOT_VERIFIED"
    assert [b["id"] for b in verdict["broken"]] == ["tests/test_calc.py::test_double"]
    assert verdict["broken"][0]["before"] == "passed"
    assert verdict["broken"][0]["after"] == "failed"
    assert "assert 1 == 0" in verdict["broken"][0]["message"]


@pytest.mark.docker
def test_patch_that_does_not_apply_says_so(make_repo, tmp_path):
    repo = make_repo()
    patch_text = diff_for(repo, "calc.py", FIXED_MODULE).replace("return a - b", "return a * b")
    patch = tmp_path / "stale.diff"
    patch.write_text(patch_text)

    result = verifix("verify", "--patch", str(patch), str(repo))

    assert result.code == 1
    assert result.out.startswith("DOES NOT APPLY")
    assert "rejected hunks" in result.out
    assert "-    return a * b" in result.out


@pytest.mark.docker
def test_endless_loop_is_stopped_by_the_timeout(make_repo, tmp_path):
    repo = make_repo()
    looping = FIXED_MODULE.replace("return add(x, x)", "while True:\n        pass")
    patch = tmp_path / "loop.diff"
    patch.write_text(diff_for(repo, "calc.py", looping))

    started = time.monotonic()
    result = verifix("verify", "--patch", str(patch), "--test-timeout", "8", "--json", str(repo))
    elapsed = time.monotonic() - started

    assert result.code == 1
    verdict = json.loads(result.out)
    assert verdict["status"] == "NOT_VERIFIED"
    assert any("timed out" in e for e in verdict["errors"])
    assert elapsed < 60


@pytest.mark.docker
def test_no_target_is_never_verified(make_repo):
    repo = make_repo()
    (repo / "calc.py").write_text(FIXED_MODULE)  # every test passes on this tree
    git(repo, "commit", "-qam", "fix")

    result = verifix("verify", "--json", str(repo))

    assert result.code == 1
    assert json.loads(result.out)["status"] == "NO_TARGET"


@pytest.mark.docker
def test_named_targets_and_patch_from_stdin(make_repo):
    repo = make_repo()
    patch = diff_for(repo, "calc.py", FIXED_MODULE)

    result = verifix(
        "verify",
        "--patch",
        "-",
        "--test",
        "tests/test_calc.py::test_add",
        "--json",
        str(repo),
        stdin=patch,
    )

    assert result.code == 0, result.err
    verdict = json.loads(result.out)
    assert [t["id"] for t in verdict["targets"]] == ["tests/test_calc.py::test_add"]
    assert verdict["targets"][0] == {
        "id": "tests/test_calc.py::test_add",
        "before": "failed",
        "after": "passed",
        "message": "",
    }


def _state(repo: Path) -> dict[str, str]:
    """Every byte of the work tree and of .git that a user could care about."""
    files = {}
    for path in sorted(repo.rglob("*")):
        if path.is_file() and "objects" not in path.relative_to(repo).parts:
            files[str(path.relative_to(repo))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


@pytest.mark.docker
def test_user_repo_is_untouched(make_repo, tmp_path):
    repo = make_repo()
    patch = tmp_path / "fix.diff"
    patch.write_text(diff_for(repo, "calc.py", FIXED_MODULE))
    # Uncommitted, staged, untracked and stashed work must all survive.
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "tests" / "test_calc.py").write_text(
        (repo / "tests" / "test_calc.py").read_text() + "\n"
    )
    (repo / "calc.py").write_text(BUGGY_MODULE + "\n# staged\n")
    git(repo, "add", "calc.py")
    git(repo, "stash", "-q")
    (repo / "calc.py").write_text(BUGGY_MODULE + "\n# wip\n")
    before = _state(repo)
    stash = git(repo, "stash", "list")

    result = verifix("verify", "--patch", str(patch), str(repo))

    assert result.code == 0, result.out + result.err
    assert _state(repo) == before
    assert git(repo, "stash", "list") == stash


@pytest.mark.docker
def test_verify_uses_uncommitted_changes(make_repo):
    """The baseline is what the user sees: an uncommitted fix means nothing fails."""
    repo = make_repo()
    (repo / "calc.py").write_text(FIXED_MODULE)

    result = verifix("verify", "--json", str(repo))

    assert result.code == 1, result.err
    assert json.loads(result.out)["status"] == "NO_TARGET"
    assert json.loads(result.out)["counts"]["baseline"] == {"passed": 3}


@pytest.mark.docker
def test_second_verify_reuses_the_environment(make_repo, tmp_path):
    repo = make_repo(
        {
            "calc.py": BUGGY_MODULE,
            "tests/test_calc.py": TESTS,
            # A dependency file of its own, so the first run below must build.
            "requirements-test.txt": f"pytest  # {uuid.uuid4()}\n",
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
        }
    )
    patch = tmp_path / "fix.diff"
    patch.write_text(diff_for(repo, "calc.py", FIXED_MODULE))

    first = verifix("verify", "--patch", str(patch), "--json", str(repo))
    second = verifix("verify", "--patch", str(patch), "--json", str(repo))

    assert (first.code, second.code) == (0, 0), first.err + second.err
    assert json.loads(first.out)["environment"]["cached"] is False
    step = "install_requirements.py requirements-test.txt"
    assert step in first.err
    assert json.loads(second.out)["environment"]["cached"] is True
    assert step not in second.err  # the line the first run printed: nothing is installed again
    assert json.loads(second.out)["status"] == "VERIFIED"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_mid_run_leaves_no_container(make_repo, docker_client, sig):
    repo = make_repo(
        {
            "tests/test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(60)\n",
            "pyproject.toml": "[tool.pytest.ini_options]\n",
        }
    )
    proc = subprocess.Popen(
        [str(VERIFIX), "verify", str(repo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if docker_client.containers.list(filters={"label": ["verifix.kind=run", OURS["label"]]}):
            break
        time.sleep(0.5)
    else:
        raise AssertionError("verify never started its test container")
    time.sleep(3)  # inside the baseline run: test_slow sleeps for a minute
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert docker_client.containers.list(all=True, filters=OURS) == []


def test_failed_setup_removes_its_container(make_repo, docker_client):
    repo = make_repo()

    result = verifix("verify", "--setup", "echo installing; exit 7", str(repo))

    assert result.code == 3
    assert "setup command 'echo installing; exit 7' exited with 7: installing" in result.err
    log = result.err.split("full output: ")[1].split(";")[0]
    assert "installing" in Path(log).read_text()
    assert docker_client.containers.list(all=True, filters=OURS) == []


@pytest.mark.docker
def test_files_missing_from_the_object_store_are_left_out_and_reported(make_repo, tmp_path):
    """Partial clones and mirrors lack some blobs: git archive refuses, verifix carries on."""
    repo = make_repo()
    (repo / "data.bin").write_bytes(b"large data\n")
    git(repo, "add", "data.bin")
    git(repo, "commit", "-qm", "data")
    blob = git(repo, "rev-parse", "HEAD:data.bin").strip()
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    jsonl = tmp_path / "t.jsonl"
    head = git(repo, "rev-parse", "HEAD").strip()
    jsonl.write_text(
        json.dumps(
            {
                "instance_id": "local__m-1",
                "repo": "local/m",
                "base_commit": head,
                "patch": diff_for(repo, "calc.py", FIXED_MODULE),
                "test_patch": "",
                "FAIL_TO_PASS": '["tests/test_calc.py::test_add"]',
                "PASS_TO_PASS": "[]",
            }
        )
        + "\n"
    )

    result = verifix(
        "verify",
        str(repo),
        "--swebench",
        str(jsonl),
        "--instance",
        "local__m-1",
        "--gold",
        "--json",
    )

    assert result.code == 0, result.out + result.err
    notes = json.loads(result.out)["environment"]["notes"]
    assert any("left out: data.bin" in n for n in notes)


@pytest.mark.docker
def test_a_target_that_does_not_exist_is_named(make_repo, tmp_path):
    repo = make_repo()
    patch = tmp_path / "fix.diff"
    patch.write_text(diff_for(repo, "calc.py", FIXED_MODULE))

    # --tests, verify's spelling before fix and verify agreed on --test, still works.
    result = verifix(
        "verify", "--patch", str(patch), "--tests", "tests/test_calc.py::test_nope", str(repo)
    )

    assert result.code == 1
    assert "1 target test never ran (is the id right?): tests/test_calc.py::test_nope" in result.out


def test_verify_and_fix_spell_target_tests_the_same():
    for command in ("verify", "fix"):
        shown = verifix(command, "--help")
        assert shown.code == 0, shown.err
        assert "--test " in shown.out and "-t " in shown.out, command
        assert "--tests" not in shown.out, command  # the old spelling is accepted, not shown


MANY = """\
import pytest
from calc import add


@pytest.mark.parametrize("i", range(3000), ids="a-rather-long-parameter-id-{:05d}".format)
def test_many(i):
    assert add(i, 1) == i + 1
"""


@pytest.mark.docker
def test_thousands_of_targets_are_confirmed_in_chunks(make_repo, tmp_path):
    # ~300 KB of target ids: more than one environment variable or command line can hold.
    repo = make_repo()
    (repo / "tests" / "test_many.py").write_text(MANY)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "many")
    patch = tmp_path / "fix.diff"
    patch.write_text(diff_for(repo, "calc.py", FIXED_MODULE))

    result = verifix("verify", "--patch", str(patch), "--json", str(repo))

    verdict = json.loads(result.out)
    assert verdict["status"] == "VERIFIED", verdict["reason"]
    assert len(verdict["targets"]) == 3002
    assert verdict["confirmation"]["ran"] is True
    assert verdict["confirmation"]["not_passing"] == []
    assert result.code == 0
