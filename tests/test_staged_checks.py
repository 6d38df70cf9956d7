"""Cheap checks first, against the real engine: each stage rejects only what truly fails,
and a VERIFIED still rests on the full suite. Assertions are on the stage a verdict records,
never on seconds."""

from __future__ import annotations

import json

import pytest
from conftest import diff_for, verifix

pytestmark = pytest.mark.docker

CALC = """\
def add(a, b):
    return a - b


def mul(a, b):
    return a * b
"""
FIXED = CALC.replace("a - b", "a + b")

FILES = {
    "calc.py": CALC,
    # Uses calc, but the tests reach it only through this module: no test file that
    # imports it imports calc.
    "app.py": "from calc import mul\n\n\ndef area(w, h):\n    return mul(w, h)\n",
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    # Sets state a later file relies on: in the baseline's full run it runs first.
    "tests/test_a_setup.py": (
        "import builtins\n\n\ndef test_sets_flag():\n    builtins.VERIFIX_FLAG = True\n"
    ),
    "tests/test_uses_calc.py": """\
import builtins

from calc import mul


def test_mul():
    assert mul(2, 3) == 6


def test_mul_zero():
    assert mul(0, 5) == 0


def test_relies_on_another_file():
    assert getattr(builtins, "VERIFIX_FLAG", False)
""",
    "tests/test_indirect.py": "from app import area\n\n\ndef test_area():\n"
    "    assert area(7, 2) == 14\n",
    **{
        f"tests/test_other_{n}.py": "".join(
            f"def test_{n}_{i}():\n    assert {i} == {i}\n\n\n" for i in range(5)
        )
        for n in "bcd"
    },
}


def _verify(repo, tmp_path, new_calc: str, *extra: str) -> tuple[int, dict, str]:
    patch = tmp_path / "p.diff"
    patch.write_text(diff_for(repo, "calc.py", new_calc))
    result = verifix("verify", "--patch", str(patch), "--json", *extra, str(repo))
    assert result.out.strip(), result.err
    return result.code, json.loads(result.out), result.err


def test_a_wrong_patch_is_rejected_at_the_targets_stage(make_repo, tmp_path):
    repo = make_repo(FILES)

    code, verdict, err = _verify(repo, tmp_path, CALC.replace("a - b", "a - b + 0"))

    assert code == 1
    assert verdict["status"] == "NOT_VERIFIED"
    assert verdict["stage"] == "targets"
    assert "still fails with the patch" in verdict["reason"]
    assert verdict["targets"][0]["after"] == "failed"
    assert "targets_s" in verdict["timings"]
    assert "affected_s" not in verdict["timings"] and "full_s" not in verdict["timings"]
    assert verdict["counts"]["patched"] == {"failed": 1}  # only the target ran
    assert "running the target test with the patch" in err
    assert "running the full suite" not in err


def test_breaking_a_test_that_imports_the_module_is_rejected_at_the_affected_stage(
    make_repo, tmp_path
):
    repo = make_repo(FILES)

    code, verdict, err = _verify(repo, tmp_path, FIXED.replace("a * b", "a * b + 1"))

    assert code == 1
    assert verdict["status"] == "NOT_VERIFIED", verdict["reason"]
    assert verdict["stage"] == "affected"
    # test_relies_on_another_file fails in this selection, but without the patch too:
    # never blamed on the patch.
    assert sorted(b["id"] for b in verdict["broken"]) == [
        "tests/test_uses_calc.py::test_mul",
        "tests/test_uses_calc.py::test_mul_zero",
    ]
    assert verdict["affected"]["files"] == ["tests/test_calc.py", "tests/test_uses_calc.py"]
    assert "full_s" not in verdict["timings"]
    assert "running the affected tests with the patch" in err
    assert "running the full suite" not in err


def test_a_correct_patch_runs_the_full_suite_before_verified(make_repo, tmp_path):
    repo = make_repo(FILES)

    code, verdict, err = _verify(repo, tmp_path, FIXED)

    assert code == 0, verdict["reason"]
    assert verdict["status"] == "VERIFIED"
    assert verdict["stage"] == "full"
    assert {"targets_s", "affected_s", "full_s"} <= set(verdict["timings"])
    assert verdict["counts"]["patched"]["passed"] == 21  # the whole suite ran
    assert verdict["confirmation"]["ran"] is True  # the targets' own run, from the first stage
    assert verdict["confirmation"]["exit_code"] == 0
    assert "running the full suite with the patch" in err


def test_breaking_a_test_that_does_not_import_the_module_is_caught_by_the_full_suite(
    make_repo, tmp_path
):
    repo = make_repo(FILES)
    # area(7, 2) breaks; test_uses_calc's checks of mul still pass.
    sneaky = FIXED.replace("return a * b", "return 0 if a == 7 else a * b")

    code, verdict, _ = _verify(repo, tmp_path, sneaky)

    assert code == 1
    assert verdict["status"] == "NOT_VERIFIED"
    assert verdict["stage"] == "full"
    assert [b["id"] for b in verdict["broken"]] == ["tests/test_indirect.py::test_area"]
    assert "affected_s" in verdict["timings"]  # the affected stage ran and let it through


def test_no_stage_runs_the_full_suite_at_once(make_repo, tmp_path):
    repo = make_repo(FILES)

    code, verdict, err = _verify(repo, tmp_path, CALC.replace("a - b", "a - b + 0"), "--no-stage")

    assert code == 1
    assert verdict["stage"] == "full"
    assert "targets_s" not in verdict["timings"] and "full_s" in verdict["timings"]
    assert verdict["counts"]["patched"]["passed"] == 20
    assert "running the tests with the patch" in err


def test_a_patch_that_does_not_apply_runs_no_test(make_repo, tmp_path):
    repo = make_repo(FILES)
    stale = diff_for(repo, "calc.py", FIXED).replace("-    return a - b", "-    return a * b")
    patch = tmp_path / "stale.diff"
    patch.write_text(stale)

    result = verifix("verify", "--patch", str(patch), "--json", str(repo))

    verdict = json.loads(result.out)
    assert verdict["status"] == "DOES_NOT_APPLY"
    assert verdict["stage"] == "apply"
    assert "apply_s" in verdict["timings"] and "targets_s" not in verdict["timings"]
    assert "patched" not in verdict["counts"]
