"""``--locate-with-model``: the model's choice among the locator's top files goes first;
its prompts teach the format the parser reads; a useless reply or an empty budget leaves
the locator's order. Scripted model, generated repos, no engine."""

from __future__ import annotations

import json

import pytest
from fakes import MemorySandbox, ScriptedChat
from test_engine import RIGHT, always, fixed
from verifix.agent import events as ev
from verifix.agent.budget import Budget
from verifix.agent.engine import Limits
from verifix.agent.issue import Issue
from verifix.agent.locate import Locator
from verifix.agent.model_locate import FILES_PROMPT, SYMBOLS_PROMPT, ModelLocator, chosen
from verifix.agent.runner import Request, run

ISSUE = Issue("Cart.total is off by a cent", "Cart.total loses a cent: the round cents step?")


@pytest.fixture
def shop(tmp_path):
    files = {
        "shop/cart.py": "class Cart:\n    def total(self):\n        return 0\n",
        "shop/money.py": "def round_cents(x):\n    return int(x)\n\n\ndef fmt(x):\n    return x\n",
        "shop/report.py": "def summary():\n    return 'total'\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def files_reply(*paths: str) -> str:
    return "These.\n\n```files\n" + "\n".join(paths) + "\n```\n"


def symbols_reply(*names: str) -> str:
    return "```symbols\n" + "\n".join(names) + "\n```\n"


def test_each_prompt_shows_a_block_its_parser_reads():
    assert chosen(FILES_PROMPT, "files") == ["src/shop/pricing.py", "src/shop/cart.py"]
    assert chosen(SYMBOLS_PROMPT, "symbols")[1] == "src/shop/cart.py::Cart.total"


def test_the_models_choice_goes_first_with_its_functions(shop):
    model = ScriptedChat(
        [files_reply("shop/money.py"), symbols_reply("shop/money.py::round_cents")]
    )
    locator = ModelLocator(model, ISSUE, Locator(cache=None))

    base = Locator(cache=None).locate(shop, ISSUE.as_text()).paths()
    ranking = locator.locate(shop, ISSUE.as_text())

    assert base[0] == "shop/cart.py" and "shop/money.py" in base  # the locator's order
    first = ranking.files[0]
    assert first.path == "shop/money.py" and first.reasons[0] == "model's choice"
    assert first.symbols[0].name == "round_cents"
    assert model.budget.calls == 2
    assert "### shop/cart.py\nclass Cart" in model.seen[0][1]["content"]  # the map it read


def test_a_reply_naming_no_top_file_leaves_the_locators_order(shop):
    base = Locator(cache=None).locate(shop, ISSUE.as_text()).paths()
    model = ScriptedChat([files_reply("/etc/passwd", "nowhere.py"), "prose"])

    ranking = ModelLocator(model, ISSUE, Locator(cache=None)).locate(shop, ISSUE.as_text())

    assert ranking.paths() == base and model.budget.calls == 1


def test_with_no_budget_left_the_locators_order_stands(shop):
    base = Locator(cache=None).locate(shop, ISSUE.as_text()).paths()
    model = ScriptedChat([files_reply("shop/money.py")], budget=Budget(0.001))

    ranking = ModelLocator(model, ISSUE, Locator(cache=None)).locate(shop, ISSUE.as_text())

    assert ranking.paths() == base and model.budget.calls == 0


def test_a_run_asks_once_and_records_the_conversation(make_repo):
    repo = make_repo()
    replies = [files_reply("calc.py"), symbols_reply("calc.py::add"), RIGHT]
    model = ScriptedChat(replies)
    sandbox = MemorySandbox({"tests/test_calc.py::test_add": fixed, "ok": always})
    request = Request(
        repo, ISSUE, lambda: model, Limits(3, 60), sandbox=sandbox, locate_with_model=True
    )

    result = run(request, ev.ignore)

    assert result.status()[0] == "VERIFIED" and model.budget.calls == 3
    saved = json.loads(result.record.read_text())
    roles = [m["role"] for m in saved["localization"]["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert saved["outcome"]["calls"] == 3
