"""What the model reads is product surface: each prompt teaches the format its parser reads."""

from __future__ import annotations

import pytest
from verifix.agent import edits
from verifix.agent.loop import SYSTEM_PROMPT
from verifix.agent.repro import REPRO_PROMPT


@pytest.mark.parametrize("prompt", [SYSTEM_PROMPT, REPRO_PROMPT], ids=["repair", "reproduction"])
def test_the_prompt_shows_a_block_the_parser_reads_and_applies(prompt):
    blocks = edits.parse(prompt)

    assert len(blocks) == 1
    block = blocks[0]
    assert block.path == "src/shapes.py"
    before = {block.path: "import math\n\n\n" + block.search}
    assert edits.apply(before, blocks)[block.path].endswith(block.replace)
    assert "empty" in prompt and "SEARCH section creates a new file" in prompt
