"""SWE-bench mode on a task instance made from a real local repo (CI reaches no GitHub)."""

from __future__ import annotations

import json

import pytest
from conftest import BUGGY_MODULE, diff_for, git, verifix

FIXED = BUGGY_MODULE.replace("a - b", "a + b")
NEW_TEST = (
    "from calc import add\n\n\ndef test_add_negative():\n    assert add(-1, -1) == -2\n\n\n"
    "def test_add_zero():\n    assert add(0, 0) == 0\n"
)


def _instance(repo, tmp_path) -> tuple:
    base = git(repo, "rev-parse", "HEAD").strip()
    test_patch = diff_for(repo, "tests/test_more.py", NEW_TEST)
    gold = diff_for(repo, "calc.py", FIXED)
    # Move the repo on, so the instance's base is not what is checked out.
    (repo / "README").write_text("later work\n")
    git(repo, "add", "README")
    git(repo, "commit", "-qm", "later")
    row = {
        "instance_id": "local__calc-1",
        "repo": "local/calc",
        "base_commit": base,
        "patch": gold,
        "test_patch": test_patch,
        "problem_statement": "add() subtracts",
        # "[100%]" is log debris of the kind SWE-bench's lists hold: it names no test.
        "FAIL_TO_PASS": json.dumps(["tests/test_more.py::test_add_negative", "[100%]"]),
        "PASS_TO_PASS": json.dumps(["tests/test_more.py::test_add_zero"]),
    }
    jsonl = tmp_path / "tasks.jsonl"
    jsonl.write_text(json.dumps({"instance_id": "other__x-9"}) + "\n" + json.dumps(row) + "\n")
    return jsonl, row


@pytest.mark.docker
def test_gold_patch_is_verified_and_no_patch_is_not(make_repo, tmp_path):
    repo = make_repo()
    jsonl, _ = _instance(repo, tmp_path)
    args = ("verify", str(repo), "--swebench", str(jsonl), "--instance", "local__calc-1", "--json")

    gold = verifix(*args, "--gold")
    none = verifix(*args)

    assert gold.code == 0, gold.out + gold.err
    verdict = json.loads(gold.out)
    assert verdict["status"] == "VERIFIED"
    assert verdict["targets"] == [
        {
            "id": "tests/test_more.py::test_add_negative",
            "before": "failed",
            "after": "passed",
            "message": "",
        }
    ]
    assert verdict["ignored_ids"] == ["[100%]"]
    # SWE-bench runs only the test files the test patch touches.
    assert verdict["environment"]["test_command"] == "python -m pytest tests/test_more.py"
    assert none.code == 1
    assert json.loads(none.out)["status"] == "NOT_VERIFIED"


def test_base_commit_missing_from_the_repo(make_repo, tmp_path):
    repo = make_repo()
    jsonl, row = _instance(repo, tmp_path)
    other = make_repo({"tests/test_x.py": "def test_x():\n    pass\n"}, name="other")

    result = verifix("verify", str(other), "--swebench", str(jsonl), "--instance", "local__calc-1")

    assert result.code == 2
    assert f"commit {row['base_commit']} is not in" in result.err


@pytest.mark.docker
def test_ids_cut_at_a_space_match_the_tests_they_name(make_repo, tmp_path):
    """SWE-bench lists hold parametrized ids cut at the first space; they still count."""
    repo = make_repo()
    base = git(repo, "rev-parse", "HEAD").strip()
    test_patch = diff_for(
        repo,
        "tests/test_param.py",
        "import pytest\n\nfrom calc import add\n\n\n"
        "@pytest.mark.parametrize('expr', ['1 1', '2 2'])\n"
        "def test_sums(expr):\n"
        "    a, b = map(int, expr.split())\n"
        "    assert add(a, b) == a + b\n",
    )
    row = {
        "instance_id": "local__calc-2",
        "repo": "local/calc",
        "base_commit": base,
        "patch": diff_for(repo, "calc.py", FIXED),
        "test_patch": test_patch,
        "FAIL_TO_PASS": json.dumps(
            ["tests/test_param.py::test_sums[1", "tests/test_param.py::test_sums[2"]
        ),
        "PASS_TO_PASS": "[]",
    }
    jsonl = tmp_path / "tasks.jsonl"
    jsonl.write_text(json.dumps(row) + "\n")

    result = verifix(
        "verify",
        str(repo),
        "--swebench",
        str(jsonl),
        "--instance",
        "local__calc-2",
        "--gold",
        "--json",
    )

    assert result.code == 0, result.out + result.err
    verdict = json.loads(result.out)
    assert [t["id"] for t in verdict["targets"]] == [
        "tests/test_param.py::test_sums[1 1]",
        "tests/test_param.py::test_sums[2 2]",
    ]
