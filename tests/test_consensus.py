"""Consensus: the same fix written differently is one vote; the largest vote wins, then
the smallest patch. Pure functions on texts; no engine."""

from __future__ import annotations

from verifix.agent.consensus import normal_form, normal_source, tally
from verifix.agent.engine import Attempt

BASE = "def add(a, b):\n    return a - b\n"


def test_comments_docstrings_and_formatting_do_not_make_another_fix():
    one = 'def add(a, b):\n    """Sum."""\n    return a + b  # fixed\n'
    two = "def add(a,b):\n\n    return (a + b)\n"
    assert normal_form({"calc.py": one}) == normal_form({"calc.py": two})


def test_a_different_expression_is_another_fix():
    assert normal_form({"calc.py": "def add(a, b):\n    return a + b\n"}) != normal_form(
        {"calc.py": "def add(a, b):\n    return b + a\n"}
    )


def test_the_order_of_files_does_not_matter():
    first = {"a.py": "x = 1\n", "b.py": "y = 2\n"}
    assert normal_form(first) == normal_form(dict(reversed(list(first.items()))))


def test_code_that_does_not_parse_is_compared_as_text_without_whitespace_noise():
    assert normal_source("x.py", "def (:\n  pass  \n\n") == normal_source("x.py", "def (:\npass")
    assert normal_source("x.txt", "a   b\n\n") == "a b"


def attempt(number: int, patch: str) -> Attempt:
    return Attempt(f"f{number}", number, "", patch=patch, accepted=True)


def test_the_largest_vote_wins_then_the_smallest_patch():
    files = {
        "p1": {"calc.py": "def add(a, b):\n    return a + b\n"},
        "p2": {"calc.py": "def add(a, b):\n    return sum((a, b))\n"},
        "p3": {"calc.py": "def add(a, b):\n    # add\n    return a + b\n"},
    }
    attempts = [attempt(1, "p1-long-patch"), attempt(2, "p2"), attempt(3, "p3")]

    votes = tally(attempts, lambda a: files[a.patch.split("-")[0]])

    assert [v.count for v in votes] == [2, 1]
    assert votes[0].smallest.number == 3 and votes[1].attempts[0].number == 2


def test_a_tie_goes_to_the_smallest_patch():
    files = {"short": {"a.py": "x = 1\n"}, "longer": {"a.py": "x = 2\n"}}
    votes = tally([attempt(1, "longer"), attempt(2, "short")], lambda a: files[a.patch])
    assert votes[0].smallest.number == 2
