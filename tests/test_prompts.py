"""What the model reads is product surface: each prompt teaches the format its parser reads."""

from __future__ import annotations

import pytest
from verifix.agent import edits
from verifix.agent.issue import Issue
from verifix.agent.repair import SYSTEM_PROMPT, first_prompt
from verifix.agent.reproduce import REPRO_PROMPT
from verifix.cli.example.scripted_model import literal
from verifix.sandbox.container import ExecResult
from verifix.sandbox.testrun import TestReport, TestResult


@pytest.mark.parametrize("prompt", [SYSTEM_PROMPT, REPRO_PROMPT], ids=["repair", "reproduction"])
def test_the_prompt_shows_a_block_the_parser_reads_and_applies(prompt):
    blocks = edits.parse(prompt)

    assert len(blocks) == 1
    block = blocks[0]
    assert block.path == "src/shapes.py"
    before = {block.path: "import math\n\n\n" + block.search}
    assert edits.apply(before, blocks)[block.path].endswith(block.replace)
    assert "empty" in prompt and "SEARCH section creates a new file" in prompt


@pytest.mark.parametrize("prompt", [SYSTEM_PROMPT, REPRO_PROMPT], ids=["repair", "reproduction"])
def test_a_literal_model_that_copies_the_shown_format_is_understood(prompt):
    body = {"messages": [{"role": "system", "content": prompt}, {"role": "user", "content": "?"}]}
    reply = literal("pkg/calc.py", "    return a - b\n", "    return a + b\n")(body)

    (block,) = edits.parse(reply)
    assert (block.path, block.search, block.replace) == (
        "pkg/calc.py",
        "    return a - b\n",
        "    return a + b\n",
    )


def test_a_prompt_without_the_example_gets_a_reply_no_parser_reads():
    untaught = SYSTEM_PROMPT.replace(edits.FORMAT_HELP, "the usual format")
    body = {"messages": [{"role": "system", "content": untaught}]}
    with pytest.raises(edits.EditError):
        edits.parse(literal("pkg/calc.py", "a\n", "b\n")(body))


def test_the_first_repair_prompt_holds_what_the_task_needs_in_order(tmp_path):
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "pricing.py").write_text("def apply_discount(p, pct):\n    return p\n")
    failing = TestResult(
        "tests/test_pricing.py::test_ten_off", "failed", "E       assert 80.0 == 72.0"
    )
    baseline = TestReport({failing.id: failing}, ExecResult(1, "", False, 0.0), "pytest")
    issue = Issue("Discounts do nothing", "shop/pricing.py: apply_discount(80, 10) gives 80.")

    prompt = first_prompt(issue, tmp_path, baseline, [failing.id], 4000)

    order = [
        prompt.index("Discounts do nothing"),
        prompt.index("tests/test_pricing.py::test_ten_off"),
        prompt.index("assert 80.0 == 72.0"),
        prompt.index("def apply_discount(p, pct):"),
        prompt.index("give the search/replace blocks"),
    ]
    assert order == sorted(order)
    assert prompt.rstrip().endswith("give the search/replace blocks.")
