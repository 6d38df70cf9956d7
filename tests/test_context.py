"""What the model sees of a repo (module API on real files, no engine needed)."""

from __future__ import annotations

from verifix.agent import context
from verifix.sandbox.container import ExecResult
from verifix.sandbox.testrun import TestReport, TestResult


def _report(*failures: TestResult) -> TestReport:
    return TestReport({f.id: f for f in failures}, ExecResult(1, "", False, 0.0), "pytest")


def _repo(tmp_path):
    files = {
        "shop/pricing.py": "def apply_discount(price, percent):\n    return price\n",
        "shop/cart.py": (
            "class Cart:\n    def __init__(self, items: list):\n        self.items = items\n\n"
            "    @property\n    def total(self) -> float:\n        return 0.0\n"
        ),
        "shop/io.py": "def load(path):\n    return path\n",
        "docs/conf.py": "project = 'x'\n",
        "tests/test_cart.py": "def test_total():\n    assert False\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_named_and_traceback_files_in_full_neighbours_as_outline(tmp_path):
    root = _repo(tmp_path)
    failure = TestResult("tests/test_cart.py::test_total", "failed", "tests/test_cart.py:2: assert")
    text = context.build(
        root,
        "apply_discount in shop/pricing.py ignores percent",
        _report(failure),
        budget_tokens=4000,
    )

    assert "## shop/pricing.py\n```python\ndef apply_discount(price, percent):" in text
    assert "## tests/test_cart.py\n```python" in text  # from the failing traceback
    assert "## shop/cart.py (outline)\nclass Cart\n    def __init__(self, items: list)" in text
    assert "\n    def total(self) -> float\n" in text
    assert "docs/conf.py" in text.split("## shop")[0]  # in the layout, not shown in full
    assert "## docs/conf.py" not in text


def test_the_budget_is_kept(tmp_path):
    root = _repo(tmp_path)
    (root / "shop" / "pricing.py").write_text("x = 1\n" * 5000)
    text = context.build(root, "shop/pricing.py is slow", _report(), budget_tokens=500)
    assert len(text) <= 500 * context.CHARS_PER_TOKEN
    assert "## shop/pricing.py\n" not in text  # too big to fit: left out, not cut
