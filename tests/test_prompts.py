"""What the model reads is product surface: each prompt teaches the format its parser reads."""

from __future__ import annotations

import pytest
from verifix.agent import edits
from verifix.agent.loop import SYSTEM_PROMPT
from verifix.agent.repro import REPRO_PROMPT
from verifix.cli.example.scripted_model import literal


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
