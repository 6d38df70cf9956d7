"""Output read outside a terminal (a pipe, a CI log at 80 columns) keeps every test id on one
line, says what failed in the assertion's own words, and spells statuses and counts the way
the prose does.

The conftest helper runs verifix with COLUMNS=200, which would hide folded cells: these tests
run it at 80 columns, through a pipe, as a CI job would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import diff_for, verifix

NARROW = {"COLUMNS": "80"}

#: Longer than 80 columns on its own, as parametrized ids in class-based suites often are.
LONG_ID = (
    "tests/integration/test_checkout_pricing.py::TestDiscounts::"
    "test_discount_applies_to_every_item[percent-10-rounding-half-even]"
)

#: What pytest reports for ``assert total(9) == 12``: the assertion, then its ``where`` lines.
ASSERTION = """\
    def test_discount_applies_to_every_item():
>       assert total(9) == 12
E       assert 81 == 12
E        +  where 81 = total(9)

tests/integration/test_checkout_pricing.py:12: AssertionError"""


def _attempt(number: int, status: str, reason: str, changes: dict[str, list]) -> dict:
    verdict = {"schema": "verifix.verdict/1", "status": status, "reason": reason, **changes}
    return {
        "number": number,
        "reply": "",
        "patch": "",
        "error": None,
        "verdict": verdict,
        "accepted": False,
        "cost": 0.001,
        "prompt_tokens": 1,
        "completion_tokens": 0,
        "seconds": 1.5,
    }


def _record(repo: Path) -> Path:
    """A run record as ``verifix fix`` writes it: one attempt, not verified, one target."""
    target = {"id": LONG_ID, "before": "failed", "after": "failed", "message": ASSERTION}
    still = {"id": LONG_ID + "-still", "before": "failed", "after": "failed", "message": ""}
    record = {
        "schema": "verifix.run/1",
        "started": "2025-01-01T00:00:00+00:00",
        "issue": {"title": "the discount is applied twice"},
        "model": {"name": "scripted", "api_base": None},
        "outcome": {
            "stopped": "attempt limit",
            "verified_attempt": None,
            "patch": None,
            "cost": 0.001,
            "calls": 1,
            "prompt_tokens": 1,
            "completion_tokens": 0,
        },
        "attempts": [
            _attempt(
                1,
                "NOT_VERIFIED",
                "1 of 1 target tests do not pass",
                {"targets": [target], "broken": [], "still_failing": [still]},
            )
        ],
        "messages": [],
    }
    path = repo / "run.json"
    path.write_text(json.dumps(record))
    return path


def _line_with(text: str, needle: str) -> str:
    lines = [line for line in text.splitlines() if needle in line]
    assert len(lines) == 1, text
    return lines[0]


def test_show_in_a_pipe_keeps_test_ids_whole_and_shows_the_assertion(make_repo):
    repo = make_repo()
    result = verifix("show", str(_record(repo)), "--repo", str(repo), env=NARROW)

    assert result.code == 0, result.err
    line = _line_with(result.out, LONG_ID + "  ")
    assert line == f"{LONG_ID}  failed -> failed  assert 81 == 12"
    assert "where 81" not in result.out
    assert f"{LONG_ID}-still  failed -> failed" in result.out.splitlines()
    assert "│" not in result.out and "┃" not in result.out  # no table in a pipe


def test_show_spells_statuses_and_counts_as_prose_does(make_repo):
    repo = make_repo()
    result = verifix("show", str(_record(repo)), "--repo", str(repo), env=NARROW)

    assert result.code == 0, result.err
    assert "NOT VERIFIED" in result.out and "NOT_VERIFIED" not in result.out
    assert "in 1 call, 1 token" in result.out
    line = _line_with(result.out, "attempt 1 ")
    assert line.startswith("attempt 1  NOT VERIFIED  $0.0010  1.5s  ")


@pytest.mark.docker
def test_verify_in_a_pipe_at_80_columns_keeps_a_long_test_id_on_one_line(make_repo, tmp_path):
    """Runs a container: the same lines from ``verify`` itself, on a parametrized class test
    whose id is longer than the log is wide."""
    cls = "TestDiscountsThatApplyToEveryItemInTheCart"
    param = "percent-ten-with-rounding-half-even-and-a-long-name"
    repo = make_repo(
        {
            "calc.py": "def total(n):\n    return n * n\n",
            "tests/test_calc.py": (
                "import pytest\nfrom calc import total\n\n\n"
                f"class {cls}:\n"
                f"    @pytest.mark.parametrize('n', [4], ids=['{param}'])\n"
                "    def test_total_is_twelve(self, n):\n"
                "        assert total(n) == 12\n"
            ),
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
        }
    )
    patch = tmp_path / "fix.diff"
    patch.write_text(diff_for(repo, "calc.py", "def total(n):\n    return n + n\n"))
    test_id = f"tests/test_calc.py::{cls}::test_total_is_twelve[{param}]"
    assert len(test_id) > 80

    result = verifix("verify", "--patch", str(patch), str(repo), env=NARROW)

    assert result.code == 1, result.out + result.err
    assert result.out.startswith("NOT VERIFIED")
    # The test's row, whole on one line (the headline names the id too, also whole).
    rows = [line for line in result.out.splitlines() if line.startswith(test_id)]
    assert rows == [f"{test_id}  failed -> failed  assert 8 == 12"], result.out
    assert all(test_id in line for line in result.out.splitlines() if cls in line)
