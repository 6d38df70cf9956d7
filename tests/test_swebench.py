"""SWE-bench mode on a task instance made from a real local repo (CI reaches no GitHub)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import BUGGY_MODULE, diff_for, git, verifix
from verifix.agent import swebench
from verifix.agent.issue import Issue
from verifix.sandbox.errors import UsageError

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


#: SWE-bench Lite's dev split, where the workspace has it (the benchmarks read it).
LITE_DEV = Path(__file__).resolve().parents[2] / "shared" / "swebench" / "lite-dev.jsonl"


def _lite_row(**extra) -> dict:
    """A row shaped like lite-dev.jsonl's: every field SWE-bench gives."""
    return {
        "repo": "sqlfluff/sqlfluff",
        "instance_id": "sqlfluff__sqlfluff-1625",
        "base_commit": "14e1a23a3166b9a645a16de96f694c77a5d4abb7",
        "patch": "diff --git a/src/x.py b/src/x.py\n--- a/src/x.py\n+++ b/src/x.py\n",
        "test_patch": "diff --git a/test/x_test.py b/test/x_test.py\n--- a/test/x_test.py\n"
        "+++ b/test/x_test.py\n@@ -1 +1 @@\n-a\n+b\n",
        "problem_statement": "TSQL - L031 incorrectly triggers on joins\n"
        "## Expected Behaviour\r\nNo error<!-- hidden -->.\n\n",
        "hints_text": "Actually, re-reading the docs I think this is intended.",
        "created_at": "2021-10-13T11:35:29Z",
        "version": "0.6",
        "FAIL_TO_PASS": '["test/x_test.py::test_a"]',
        "PASS_TO_PASS": '["test/x_test.py::test_b"]',
        "environment_setup_commit": "67023b85c41d23d6c6d69812a41b207c4f8a9331",
        **extra,
    }


def test_loading_keeps_the_problem_statement_and_builds_the_issue(tmp_path):
    row = _lite_row()
    jsonl = tmp_path / "lite.jsonl"
    jsonl.write_text(json.dumps({"instance_id": "other__x-9"}) + "\n\n" + json.dumps(row) + "\n")

    inst = swebench.load(jsonl, "sqlfluff__sqlfluff-1625")

    assert inst.problem_statement == row["problem_statement"]
    assert inst.hints_text == row["hints_text"]
    assert inst.version == "0.6"
    assert inst.environment_setup_commit == row["environment_setup_commit"]
    issue = inst.issue()
    assert isinstance(issue, Issue)
    assert issue.title == "TSQL - L031 incorrectly triggers on joins"
    assert issue.body == "## Expected Behaviour\r\nNo error<!-- hidden -->."
    assert issue.url is None and issue.comments == ()
    # As for every issue, the prompt gets the text without what a reader cannot see.
    assert "hidden" not in issue.as_text()
    assert issue.as_text().startswith("Title: TSQL - L031 incorrectly triggers on joins\n")
    checks = inst.checks()
    assert checks.targets == ["test/x_test.py::test_a"]
    assert checks.must_pass == ["test/x_test.py::test_b"]
    assert checks.selection == ["test/x_test.py"]
    assert checks.base_patches == [row["test_patch"]]


def test_the_optional_fields_may_be_missing_but_an_issue_needs_a_statement(tmp_path):
    row = _lite_row(version=3.0)
    for field in ("problem_statement", "hints_text", "environment_setup_commit"):
        del row[field]
    jsonl = tmp_path / "lite.jsonl"
    jsonl.write_text(json.dumps(row) + "\n")

    inst = swebench.load(jsonl, row["instance_id"])

    assert inst.problem_statement == ""
    assert inst.hints_text is None and inst.environment_setup_commit is None
    assert inst.version == "3.0"  # SWE-bench's versions are strings; a float is one too
    with pytest.raises(UsageError, match="sqlfluff__sqlfluff-1625 has no problem_statement"):
        inst.issue()
    one_line = swebench.Instance(**{**inst.__dict__, "problem_statement": "  add() subtracts \n"})
    assert one_line.issue() == Issue(title="add() subtracts", body="")


@pytest.mark.skipif(not LITE_DEV.is_file(), reason=f"{LITE_DEV} is not in this workspace")
def test_every_instance_of_lite_dev_loads_with_its_issue():
    ids = [json.loads(line)["instance_id"] for line in LITE_DEV.read_text().splitlines() if line]

    for instance_id in ids:
        inst = swebench.load(LITE_DEV, instance_id)
        issue = inst.issue()
        assert issue.title and inst.problem_statement.startswith(issue.title), instance_id
        assert inst.version and inst.environment_setup_commit, instance_id
        assert inst.checks().targets, instance_id
