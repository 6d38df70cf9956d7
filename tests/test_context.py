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


def test_named_and_traceback_files_are_shown_in_full(tmp_path):
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
    assert "docs/conf.py" in text.split("## shop")[0]  # in the layout
    assert "## docs/conf.py" not in text


def test_what_does_not_fit_in_full_is_outlined(tmp_path):
    root = _repo(tmp_path)
    (root / "shop" / "pricing.py").write_text(
        "def apply_discount(price, percent):\n    return price\n" + "# padding\n" * 120
    )
    text = context.build(root, "apply_discount in shop/pricing.py", _report(), budget_tokens=600)

    assert "## shop/pricing.py\n```python\ndef apply_discount" in text
    assert "## shop/cart.py (outline)\nclass Cart\n    def __init__(self, items: list)" in text
    assert "\n    def total(self) -> float" in text


def test_a_large_file_shows_its_relevant_function_quoted_exactly(tmp_path):
    root = _repo(tmp_path)
    filler = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(400))
    body = "def apply_discount(price, percent):\n    return price * (1 - percent)\n"
    (root / "shop" / "pricing.py").write_text(filler + body)
    text = context.build(root, "apply_discount ignores percent", _report(), budget_tokens=1500)

    assert "## shop/pricing.py (the relevant parts; the file has 1602 lines)" in text
    assert "# lines 1601-1602\n" + body in text
    assert "def helper_399" not in text
    assert len(text) <= 1500 * context.CHARS_PER_TOKEN


def test_the_budget_is_kept(tmp_path):
    root = _repo(tmp_path)
    (root / "shop" / "pricing.py").write_text("x = 1\n" * 5000)
    text = context.build(root, "shop/pricing.py is slow", _report(), budget_tokens=500)
    assert len(text) <= 500 * context.CHARS_PER_TOKEN
    assert "## shop/pricing.py\n" not in text  # too big to fit: left out, not cut
