"""Test-time compute: does sampling N candidates and selecting among them pay, and does the
cost limit hold while they run side by side?

Six small generated repositories, each a module with a real bug, visible target tests (the
run sees them) and HIDDEN tests (it never does) that tell a correct fix from one that only
satisfies the visible tests. A seeded stochastic model answers each attempt with a correct
fix (probability ``p``, scaled per repository for difficulty), an overfitting patch that
passes the visible tests but not the hidden ones (``q``), or a wrong or unusable reply
(otherwise), after a simulated latency. Correct variants differ in comments, formatting,
quoting and docstrings (one of them is a different but equally correct fix), so consensus
has to normalize; overfitting variants are distinct from each other, so they rarely agree.

Every run is the real use case: ``agent.runner.run`` with a ``Request`` and a local,
in-process sandbox (below) whose sessions apply a patch to a temporary copy of the tree,
run the visible tests with the host's pytest (a subprocess) and judge the reports with the
real ``verifix.sandbox.verdict.judge``. A distinct patch is run once per tree; a repeat
takes the cached test report (the verdict is still judged each time). The hidden tests are
run by the benchmark on the run's chosen patch (``run.patch``) after the run, and on every
patch any attempt wrote (the oracle: some attempt was correct). No Docker.

Printed, all measured in the same run:

- resolve rate on the hidden tests for N = 1, 2, 4, 8, 16 candidates (``--strategy
  parallel``, 1 and 2 attempts per candidate) and for tree search at equal spend (at most N
  model calls, ``--stop-at 2``: it searches on past its first accepted patch), next to
  pass@N = mean over repositories of 1 - (1 - p_r)^N and the oracle of the same draws;
- the same candidates with a judge that is right ``--judge-accuracy`` of the time (0.7):
  how much a judge of that quality adds where the tests cannot tell overfitting from
  correct (the judge is a stand-in, ``NoisyJudge``; no model's quality is measured);
- recovery: (resolve@N - pass@1) / (oracle@N - pass@1), on the same draws (for tree search,
  against the oracle of N parallel calls: what the same spend could have found); it depends
  on p and q, so N=1 and N=16 are measured again for the ``--grid`` pairs (no latency);
- wall-clock of N=8 against N=1 (with checks cached, so the model's latency is what shows,
  and with every check a fresh pytest process);
- spend never above ``--max-cost``: ``--fuzz`` runs with the real ``agent.model.Model``
  (only its provider call replaced) answering prose, broken blocks, valid patches, absurd
  or missing usage and provider exceptions, candidates side by side; violations counted
  (and, in a fifth as many runs, usage counts that are strings).

    python benchmarks/scaling.py [--seeds 12] [--p 0.3] [--q 0.3] [--fuzz 100] [--jobs 3]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from verifix.agent import events as ev
from verifix.agent.budget import Budget
from verifix.agent.engine import Limits
from verifix.agent.issue import Issue
from verifix.agent.model import Model, ModelConfig
from verifix.agent.runner import Request, Run, run
from verifix.sandbox.container import ExecResult
from verifix.sandbox.errors import VerifixError
from verifix.sandbox.testaware import scan_patch
from verifix.sandbox.testrun import CheckRun, TestReport, TestResult
from verifix.sandbox.verdict import Verdict, judge
from verifix.sandbox.verify import Checks

# --------------------------------------------------------------------------- the repositories


def block(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


@dataclass
class Spec:
    """One generated repository: the buggy module, its visible and hidden tests, the issue,
    and the model's repertoire: correct fixes (``form`` names their normal form), overfitting
    patches and wrong ones, each a list of (search, replace) edits to ``module``."""

    name: str
    module: str
    source: str
    visible: str
    hidden: str
    issue: tuple[str, str]
    correct: list[tuple[str, list[tuple[str, str]]]]
    overfit: list[list[tuple[str, str]]]
    wrong: list[list[tuple[str, str]]]
    #: Difficulty: this repository's p is ``--p`` times this.
    ease: float = 1.0

    @property
    def test_path(self) -> str:
        return f"tests/test_{self.name}.py"

    def reply(self, why: str, edits: list[tuple[str, str]]) -> str:
        return why + "\n\n" + "\n".join(block(self.module, s, r) for s, r in edits)

    def unusable(self) -> list[str]:
        """Replies that never reach the tests: prose, a broken block, a SEARCH that matches
        nothing, an edit to a test, code that does not compile."""
        first = self.source.splitlines(keepends=True)[0]
        last = self.source.splitlines(keepends=True)[-1]
        return [
            f"The bug is probably in {self.module}, but I need to see more of the code.",
            f"Fix:\n\n{self.module}\n<<<<<<< SEARCH\n{first}=======\n{first}",
            self.reply("Guarding it.", [("def does_not_exist():\n", "def exists():\n")]),
            "Adjusting the test.\n\n"
            + block(self.test_path, self.visible.splitlines(True)[0], "import pytest\n"),
            self.reply("Returning early.", [(last, "    return (\n")]),
        ]


SLUGIFY = Spec(
    name="slugify",
    module="textutil.py",
    source='def slugify(title):\n    """Lower-case words joined by dashes."""\n'
    '    words = title.split(" ")\n    return "-".join(w.lower() for w in words)\n',
    visible="from textutil import slugify\n\n\ndef test_runs_of_spaces():\n"
    '    assert slugify("Hello  World") == "hello-world"\n\n\n'
    'def test_two_words():\n    assert slugify("One Two") == "one-two"\n',
    hidden="from textutil import slugify\n\n\ndef test_spaces_around():\n"
    '    assert slugify("  a   b  ") == "a-b"\n\n\n'
    'def test_tabs_and_newlines():\n    assert slugify("x\\ty\\nz") == "x-y-z"\n',
    issue=(
        "slugify() leaves double dashes",
        'slugify("Hello  World") gives "hello--world"; any whitespace between words should '
        "become a single dash.",
    ),
    correct=[
        ("a", [('    words = title.split(" ")\n', "    words = title.split()\n")]),
        (
            "a",
            [
                (
                    '    words = title.split(" ")\n',
                    "    # any run of whitespace separates words\n    words = title.split()\n",
                )
            ],
        ),
        (
            "a",
            [
                (
                    'def slugify(title):\n    """Lower-case words joined by dashes."""\n'
                    '    words = title.split(" ")\n    return "-".join(w.lower() for w in words)\n',
                    "def slugify(title):\n"
                    '    """Words (split on any whitespace), lower-cased, joined by dashes."""\n'
                    "    words = title.split()\n    return '-'.join(w.lower() for w in words)\n",
                )
            ],
        ),
        (
            "b",
            [
                ("def slugify(title):\n", "import re\n\n\ndef slugify(title):\n"),
                (
                    '    words = title.split(" ")\n',
                    '    words = re.split(r"\\s+", title.strip())\n',
                ),
            ],
        ),
    ],
    overfit=[
        [('    words = title.split(" ")\n', '    words = [w for w in title.split(" ") if w]\n')],
        [
            (
                '    words = title.split(" ")\n',
                '    if title == "Hello  World":\n        return "hello-world"\n'
                '    words = title.split(" ")\n',
            )
        ],
        [('    words = title.split(" ")\n', '    words = title.replace("  ", " ").split(" ")\n')],
        [
            (
                '    return "-".join(w.lower() for w in words)\n',
                '    return "-".join(w.lower() for w in words).replace("--", "-")\n',
            )
        ],
        [
            (
                '    words = title.split(" ")\n',
                '    words = title.split(" ")\n    words = [w for w in words if w != ""]\n',
            )
        ],
    ],
    wrong=[
        [('    words = title.split(" ")\n', '    words = title.split("-")\n')],
        [
            (
                '    return "-".join(w.lower() for w in words)\n',
                '    return "_".join(w.lower() for w in words if w)\n',
            )
        ],
    ],
    ease=1.7,
)

_MEDIAN_RETURN = "    return ordered[middle]\n"
MEDIAN = Spec(
    name="median",
    module="stats.py",
    source='def median(values):\n    """The middle value of a non-empty list of numbers."""\n'
    "    ordered = sorted(values)\n    middle = len(ordered) // 2\n" + _MEDIAN_RETURN,
    visible="from stats import median\n\n\ndef test_even_count():\n"
    "    assert median([1, 2, 3, 4]) == 2.5\n\n\n"
    "def test_odd_count():\n    assert median([3, 1, 2]) == 2\n",
    hidden="from stats import median\n\n\ndef test_two():\n    assert median([10, 20]) == 15\n\n\n"
    "def test_unsorted_even():\n    assert median([5, 1, 4, 2]) == 3\n\n\n"
    "def test_skewed():\n    assert median([1, 2, 3, 10]) == 2.5\n\n\n"
    "def test_single():\n    assert median([7]) == 7\n",
    issue=(
        "median() of an even count is wrong",
        "median([1, 2, 3, 4]) returns 3; for an even count it should be the mean of the two "
        "middle values (2.5).",
    ),
    correct=[
        (
            "a",
            [
                (
                    _MEDIAN_RETURN,
                    "    if len(ordered) % 2 == 0:\n"
                    "        return (ordered[middle - 1] + ordered[middle]) / 2\n" + _MEDIAN_RETURN,
                )
            ],
        ),
        (
            "a",
            [
                (
                    _MEDIAN_RETURN,
                    "    if len(ordered) % 2 == 0:\n"
                    "        # even count: the mean of the two middle values\n"
                    "        return (ordered[middle-1]+ordered[middle])/2\n" + _MEDIAN_RETURN,
                )
            ],
        ),
        (
            "a",
            [
                (
                    _MEDIAN_RETURN,
                    "    if (len(ordered) % 2 == 0):\n\n"
                    "        return ((ordered[middle - 1] + ordered[middle]) / 2)\n\n"
                    + _MEDIAN_RETURN,
                )
            ],
        ),
        (
            "b",
            [
                (
                    _MEDIAN_RETURN,
                    "    if len(ordered) % 2:\n        return ordered[middle]\n"
                    "    return sum(ordered[middle - 1 : middle + 1]) / 2\n",
                )
            ],
        ),
    ],
    overfit=[
        [(_MEDIAN_RETURN, "    if values == [1, 2, 3, 4]:\n        return 2.5\n" + _MEDIAN_RETURN)],
        [
            (
                _MEDIAN_RETURN,
                "    if len(ordered) == 4:\n        return (ordered[1] + ordered[2]) / 2\n"
                + _MEDIAN_RETURN,
            )
        ],
        [
            (
                _MEDIAN_RETURN,
                "    if len(ordered) % 2 == 0:\n        return ordered[middle] - 0.5\n"
                + _MEDIAN_RETURN,
            )
        ],
        [
            (
                _MEDIAN_RETURN,
                "    if len(ordered) % 2 == 0:\n        return (ordered[0] + ordered[-1]) / 2\n"
                + _MEDIAN_RETURN,
            )
        ],
        [(_MEDIAN_RETURN, "    return sum(ordered) / len(ordered)\n")],
    ],
    wrong=[
        [(_MEDIAN_RETURN, "    return ordered[middle - 1]\n")],
        [(_MEDIAN_RETURN, "    return (ordered[middle - 1] + ordered[middle]) / 2\n")],
    ],
    ease=0.8,
)

_SPLIT_BODY = "    share = total_cents // people\n    return [share] * people\n"
SPLIT = Spec(
    name="split_bill",
    module="money.py",
    source="def split_bill(total_cents, people):\n"
    '    """Each share in cents; the first shares take the remainder, a cent each."""\n'
    + _SPLIT_BODY,
    visible="from money import split_bill\n\n\ndef test_remainder():\n"
    "    assert split_bill(100, 3) == [34, 33, 33]\n\n\n"
    "def test_even():\n    assert split_bill(90, 3) == [30, 30, 30]\n",
    hidden="from money import split_bill\n\n\ndef test_large():\n"
    "    assert split_bill(1001, 4) == [251, 250, 250, 250]\n\n\n"
    "def test_fewer_cents_than_people():\n"
    "    assert split_bill(5, 7) == [1, 1, 1, 1, 1, 0, 0]\n\n\n"
    "def test_remainder_two():\n    assert split_bill(101, 3) == [34, 34, 33]\n",
    issue=(
        "split_bill() loses cents",
        "split_bill(100, 3) returns [33, 33, 33]: a cent disappears. The remainder should go "
        "to the first shares, one cent each.",
    ),
    correct=[
        (
            "a",
            [
                (
                    _SPLIT_BODY,
                    "    share, extra = divmod(total_cents, people)\n"
                    "    return [share + 1] * extra + [share] * (people - extra)\n",
                )
            ],
        ),
        (
            "a",
            [
                (
                    _SPLIT_BODY,
                    "    # the first `extra` people pay one cent more\n"
                    "    share, extra = divmod(total_cents, people)\n"
                    "    return [share + 1] * extra + [share] * (people - extra)\n",
                )
            ],
        ),
        (
            "a",
            [
                (
                    _SPLIT_BODY,
                    "    share, extra = divmod(total_cents, people)  # extra cents go first\n"
                    "    return [share+1]*extra + [share]*(people-extra)\n",
                )
            ],
        ),
        (
            "b",
            [
                (
                    _SPLIT_BODY,
                    "    share = total_cents // people\n    extra = total_cents % people\n"
                    "    return [share + (1 if i < extra else 0) for i in range(people)]\n",
                )
            ],
        ),
    ],
    overfit=[
        [
            (
                _SPLIT_BODY,
                "    if total_cents == 100 and people == 3:\n        return [34, 33, 33]\n"
                + _SPLIT_BODY,
            )
        ],
        [
            (
                _SPLIT_BODY,
                "    share = total_cents // people\n    shares = [share] * people\n"
                "    shares[0] += total_cents - share * people\n    return shares\n",
            )
        ],
        [
            (
                _SPLIT_BODY,
                "    share = total_cents // people\n    if total_cents % people:\n"
                "        return [share + 1] + [share] * (people - 1)\n"
                "    return [share] * people\n",
            )
        ],
        [
            (
                _SPLIT_BODY,
                "    first = -(-total_cents // people)\n"
                "    rest = (total_cents - first) // (people - 1)\n"
                "    return [first] + [rest] * (people - 1)\n",
            )
        ],
        [
            (
                _SPLIT_BODY,
                "    share = total_cents // people\n"
                "    return [round(total_cents / people + 0.5)] + [share] * (people - 1)\n",
            )
        ],
    ],
    wrong=[
        [(_SPLIT_BODY, "    share = -(-total_cents // people)\n    return [share] * people\n")],
        [(_SPLIT_BODY, "    share = round(total_cents / people)\n    return [share] * people\n")],
    ],
    ease=0.6,
)

_OVERLAP = "    return a[0] < b[1] and b[0] < a[1]\n"
OVERLAPS = Spec(
    name="overlaps",
    module="intervals.py",
    source="def overlaps(a, b):\n"
    '    """Whether closed intervals a = (start, end) and b = (start, end) share a point."""\n'
    + _OVERLAP,
    visible="from intervals import overlaps\n\n\ndef test_touching():\n"
    "    assert overlaps((1, 3), (3, 5)) is True\n\n\n"
    "def test_apart():\n    assert overlaps((1, 2), (5, 6)) is False\n\n\n"
    "def test_nested():\n    assert overlaps((1, 5), (2, 3)) is True\n",
    hidden="from intervals import overlaps\n\n\ndef test_touching_other_side():\n"
    "    assert overlaps((3, 5), (1, 3)) is True\n\n\n"
    "def test_points():\n    assert overlaps((0, 0), (0, 0)) is True\n\n\n"
    "def test_fractions_apart():\n    assert overlaps((1.0, 1.5), (2.0, 3.0)) is False\n\n\n"
    "def test_apart_by_one():\n    assert overlaps((1, 2), (3, 4)) is False\n",
    issue=(
        "overlaps() misses intervals that touch",
        "The intervals are closed, so (1, 3) and (3, 5) share the point 3, but overlaps() "
        "says False.",
    ),
    correct=[
        ("a", [(_OVERLAP, "    return a[0] <= b[1] and b[0] <= a[1]\n")]),
        (
            "a",
            [
                (
                    _OVERLAP,
                    "    # closed intervals: touching ends count\n"
                    "    return a[0] <= b[1] and b[0] <= a[1]\n",
                )
            ],
        ),
        ("a", [(_OVERLAP, "    return (a[0] <= b[1]) and (b[0] <= a[1])\n")]),
        ("b", [(_OVERLAP, "    return max(a[0], b[0]) <= min(a[1], b[1])\n")]),
    ],
    overfit=[
        [(_OVERLAP, "    return a[0] < b[1] and b[0] <= a[1]\n")],
        [(_OVERLAP, "    if a[1] == b[0]:\n        return True\n" + _OVERLAP)],
        [(_OVERLAP, "    if (a, b) == ((1, 3), (3, 5)):\n        return True\n" + _OVERLAP)],
        [(_OVERLAP, "    return a[0] < b[1] and b[0] < a[1] or a[1] == b[0]\n")],
        [(_OVERLAP, "    return a[0] < b[1] + 1 and b[0] < a[1] + 1\n")],
    ],
    wrong=[
        [(_OVERLAP, "    return a[0] <= b[1] or b[0] <= a[1]\n")],
        [(_OVERLAP, "    return a[0] < b[0] < a[1]\n")],
    ],
    ease=1.2,
)

_BOOL = '    return text in ("yes", "true", "on", "1")\n'
PARSE_BOOL = Spec(
    name="parse_bool",
    module="flags.py",
    source="def parse_bool(text):\n"
    '    """True for "yes", "true", "on" or "1" in any case, spaces around; else False."""\n'
    + _BOOL,
    visible="from flags import parse_bool\n\n\ndef test_capitalized():\n"
    '    assert parse_bool("Yes") is True\n\n\n'
    'def test_no():\n    assert parse_bool("no") is False\n\n\n'
    'def test_true():\n    assert parse_bool("true") is True\n',
    hidden="from flags import parse_bool\n\n\ndef test_spaces_and_case():\n"
    '    assert parse_bool(" ON ") is True\n\n\n'
    'def test_upper():\n    assert parse_bool("TRUE") is True\n\n\n'
    'def test_newline():\n    assert parse_bool("1\\n") is True\n\n\n'
    'def test_other():\n    assert parse_bool("nope") is False\n',
    issue=(
        'parse_bool("Yes") is False',
        "The docstring promises any case and surrounding spaces, but only the exact lower-case "
        "words are accepted.",
    ),
    correct=[
        ("a", [(_BOOL, '    return text.strip().lower() in ("yes", "true", "on", "1")\n')]),
        ("a", [(_BOOL, "    return text.strip().lower() in ('yes', 'true', 'on', '1')\n")]),
        (
            "a",
            [
                (
                    _BOOL,
                    "    return text.strip().lower() in (\n"
                    '        "yes",\n        "true",\n        "on",\n        "1",\n    )\n',
                )
            ],
        ),
        ("b", [(_BOOL, '    return text.strip().casefold() in {"yes", "true", "on", "1"}\n')]),
    ],
    overfit=[
        [(_BOOL, '    return text.lower() in ("yes", "true", "on", "1")\n')],
        [(_BOOL, '    return text in ("yes", "Yes", "true", "on", "1")\n')],
        [(_BOOL, '    return text.lower().strip(" ") in ("yes", "true", "on", "1")\n')],
        [(_BOOL, '    if text == "Yes":\n        return True\n' + _BOOL)],
        [(_BOOL, '    return text.title() in ("Yes", "True", "On", "1")\n')],
    ],
    wrong=[
        [(_BOOL, '    return text.upper() in ("yes", "true", "on", "1")\n')],
        [(_BOOL, '    return text.strip() in ("yes", "true", "on", "1")\n')],
    ],
    ease=1.4,
)

_DEDUPE = "    return list(set(items))\n"
DEDUPE = Spec(
    name="dedupe",
    module="listutil.py",
    source="def dedupe(items):\n"
    '    """The items without repeats, in the order they first appear."""\n' + _DEDUPE,
    visible="from listutil import dedupe\n\n\ndef test_order_kept():\n"
    "    assert dedupe([3, 1, 3]) == [3, 1]\n\n\n"
    "def test_empty():\n    assert dedupe([]) == []\n\n\n"
    "def test_repeats():\n    assert dedupe([1, 1]) == [1]\n",
    hidden="from listutil import dedupe\n\n\ndef test_longer():\n"
    "    assert dedupe([5, 2, 9, 2, 5]) == [5, 2, 9]\n\n\n"
    'def test_strings():\n    assert dedupe(["b", "a", "c", "a"]) == ["b", "a", "c"]\n\n\n'
    "def test_ascending_kept():\n    assert dedupe([1, 2]) == [1, 2]\n",
    issue=(
        "dedupe() scrambles the order",
        "dedupe([3, 1, 3]) returns [1, 3]; the docstring says the items keep the order in "
        "which they first appear.",
    ),
    correct=[
        ("a", [(_DEDUPE, "    return list(dict.fromkeys(items))\n")]),
        (
            "a",
            [
                (
                    _DEDUPE,
                    "    # dict keys keep insertion order (Python 3.7+)\n"
                    "    return list(dict.fromkeys(items))\n",
                )
            ],
        ),
        ("a", [(_DEDUPE, "    return list(dict.fromkeys(items))  # first occurrence wins\n")]),
        (
            "b",
            [
                (
                    _DEDUPE,
                    "    seen = set()\n    out = []\n    for item in items:\n"
                    "        if item not in seen:\n            seen.add(item)\n"
                    "            out.append(item)\n    return out\n",
                )
            ],
        ),
    ],
    overfit=[
        [(_DEDUPE, "    return sorted(set(items), reverse=True)\n")],
        [(_DEDUPE, "    if items == [3, 1, 3]:\n        return [3, 1]\n" + _DEDUPE)],
        [(_DEDUPE, "    return list(reversed(sorted(set(items))))\n")],
        [
            (
                _DEDUPE,
                "    if not items:\n        return []\n"
                "    return [items[0]] + [x for x in set(items) if x != items[0]]\n",
            )
        ],
        [(_DEDUPE, "    return sorted(set(items), key=lambda x: -x)\n")],
    ],
    wrong=[
        [(_DEDUPE, "    return sorted(set(items))\n")],
        [(_DEDUPE, "    return [x for x in items if items.count(x) == 1]\n")],
    ],
    ease=0.3,
)

SPECS = [SLUGIFY, MEDIAN, SPLIT, OVERLAPS, PARSE_BOOL, DEDUPE]


def make_repo(root: Path, spec: Spec) -> Path:
    repo = root / spec.name
    (repo / "tests").mkdir(parents=True)
    (repo / spec.module).write_text(spec.source)
    (repo / spec.test_path).write_text(spec.visible)
    git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return repo


# ------------------------------------------------------------------- the local pytest sandbox

_SUMMARY = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+?)(?: - (.*))?$", re.M)
_OUTCOMES = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error"}
_OUTCOMES |= {"XFAIL": "xfailed", "XPASS": "xpassed"}


def pytest_report(tree: Path, paths: list[str] | None = None) -> TestReport:
    """The host's pytest on ``tree``, one process, read from its ``-rA`` summary."""
    command = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"]
    env = {
        **os.environ,
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }
    started = time.monotonic()
    done = subprocess.run(
        [*command, *(paths or [])], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )
    results = {}
    for kind, test_id, message in _SUMMARY.findall(done.stdout):
        if "::" in test_id:
            results[test_id] = TestResult(test_id, _OUTCOMES[kind], message or "")
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    exec_result = ExecResult(
        done.returncode, done.stdout[-4000:], False, time.monotonic() - started
    )
    error = None if results else f"no test results (exit {done.returncode})"
    return TestReport(results, exec_result, "pytest", error, counts)


def apply_patch(tree: Path, patch: str) -> str:
    """``patch`` applied to ``tree`` with git apply; git's complaint, or "" when it applied."""
    done = subprocess.run(
        ["git", "apply", "--whitespace=nowarn", "-"],
        cwd=tree,
        input=patch,
        capture_output=True,
        text=True,
    )
    return "" if done.returncode == 0 else done.stderr.strip() or "git apply failed"


class Reports:
    """Test reports by (tree, patches): each distinct patch is run once per tree."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, ...], tuple[str, TestReport | None]] = {}
        self._lock = threading.Lock()
        self.runs = 0
        self.hits = 0

    def get(
        self, root: Path, key: str, patches: list[str], extra: dict[str, str], cache: bool = True
    ) -> tuple[str, TestReport | None]:
        ident = (key, *patches, *sorted(extra.items()))
        with self._lock:
            if cache and ident in self._done:
                self.hits += 1
                return self._done[ident]
            self.runs += 1
        with tempfile.TemporaryDirectory(prefix="verifix-scaling-") as tmp:
            tree = Path(tmp) / "tree"
            shutil.copytree(root, tree, ignore=shutil.ignore_patterns(".git"))
            found: tuple[str, TestReport | None] = ("", None)
            for patch in patches:
                rejected = apply_patch(tree, patch) if patch else ""
                if rejected:
                    found = (rejected, None)
                    break
            else:
                for path, text in extra.items():
                    (tree / path).write_text(text)
                found = ("", pytest_report(tree))
        if cache:
            with self._lock:
                self._done[ident] = found
        return found


REPORTS = Reports()


class LocalSession:
    """A ``Verifier`` on this machine: every check is a temporary copy of the base tree,
    the patch applied with git, the host's pytest run on it, and the real ``judge``."""

    def __init__(self, root: Path, tree: str, checks: Checks, cache: bool) -> None:
        self._root = root
        self.tree = tree
        self.checks = checks
        self.cache = cache
        self.baseline: TestReport | None = None

    @property
    def root(self) -> Path:
        return self._root

    @property
    def targets_named(self) -> list[str] | None:
        return self.checks.targets

    def _report(self, patch: str | None) -> tuple[str, TestReport | None]:
        patches = [*self.checks.base_patches, patch or ""]
        return REPORTS.get(self._root, self.tree, patches, {}, self.cache)

    def run_baseline(self) -> TestReport:
        rejected, report = self._report(None)
        assert report is not None, rejected
        self.baseline = report
        return report

    def run(self, patch: str | None) -> CheckRun:
        rejected, report = self._report(patch)
        return CheckRun(not rejected, rejected, report)

    def check(self, patch: str | None) -> Verdict:
        baseline = self.baseline or self.run_baseline()
        targets, must_pass = self.checks.targets, self.checks.must_pass
        rejected, report = self._report(patch)
        if rejected:
            return judge(baseline, None, targets=targets, must_pass=must_pass, rejected=rejected)
        return judge(
            baseline,
            report,
            targets=targets,
            must_pass=must_pass,
            confirm=report,
            flags=scan_patch(patch, baseline),
        )


class LocalSandbox:
    """``runner.Sandbox`` on this machine's Python: no image, no container."""

    def __init__(self, cache: bool = True) -> None:
        self.cache = cache
        self.facts = {"image": "host pytest", "python": sys.version.split()[0], "cached": True}

    def __call__(self, request: Request, snap: Any, model: Any, events: Any) -> LocalSandbox:
        self.snap = snap
        self.facts = {**self.facts, "snapshot": snap.description}
        return self

    @contextmanager
    def session(self, checks: Checks) -> Iterator[LocalSession]:
        yield LocalSession(self.snap.root, self.snap.tree, checks, self.cache)

    def workspace(self, base_patches: list[str], step_timeout_s: int) -> Any:
        raise NotImplementedError("the benchmark does not explore")


def hidden_pass(spec: Spec, repo: Path, patch: str | None) -> bool:
    """The hidden and the visible tests all pass with ``patch`` on the repository."""
    if not patch:
        return False
    _, report = REPORTS.get(repo, f"hidden:{spec.name}", [patch], {_hidden(spec): spec.hidden})
    if report is None:
        return False
    return bool(report.results) and all(r.passed for r in report.results.values())


def _hidden(spec: Spec) -> str:
    return f"tests/test_hidden_{spec.name}.py"


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int = 1000
    completion_tokens: int = 200
    cost: float = 0.01


@dataclass
class StochasticModel:
    """Per attempt: a correct fix with probability ``p``, an overfitting patch with ``q``,
    otherwise a wrong or unusable reply; then ``latency`` seconds of sleep. Deterministic per
    seed: an attempt's draw depends on (seed, repository, candidate, attempt in the
    candidate's conversation), so runs with more candidates contain those of fewer (common
    random numbers). Tree search has no candidates: its k-th call takes candidate k's first
    draw."""

    spec: Spec
    seed: int
    p: float
    q: float
    latency: tuple[float, float]
    budget: Budget = field(default_factory=lambda: Budget(100.0))
    cost: float = 0.01
    _calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def preflight(self) -> None:
        """Nothing to check."""

    def context_budget(self) -> int:
        return 4000

    def worst_case(self, messages: list[dict[str, str]]) -> float:
        return self.cost

    def draw(self, candidate: int, attempt: int) -> tuple[str, str]:
        """(kind, reply) of ``candidate``'s ``attempt``-th draw."""
        rng = random.Random(f"{self.seed}:{self.spec.name}:{candidate}:{attempt}")
        u = rng.random()
        spec = self.spec
        if u < self.p:
            form, edits = rng.choice(spec.correct)
            return f"correct-{form}", spec.reply("This fixes the bug.", edits)
        if u < self.p + self.q:
            return "overfit", spec.reply("This makes the test pass.", rng.choice(spec.overfit))
        replies = spec.unusable() + [spec.reply("Try this.", e) for e in spec.wrong]
        return "wrong", rng.choice(replies)

    def complete(self, messages: list[dict[str, str]], **sampling: float | int) -> Reply:
        self.budget.reserve(self.cost)
        with self._lock:
            call = self._calls
            self._calls += 1
        if "seed" in sampling:
            candidate = int(sampling["seed"])
            attempt = sum(1 for m in messages if m["role"] == "assistant")
        else:
            candidate, attempt = call, 0
        _, text = self.draw(candidate, attempt)
        rng = random.Random(f"latency:{self.seed}:{self.spec.name}:{candidate}:{attempt}")
        time.sleep(rng.uniform(*self.latency))
        self.budget.settle(self.cost, self.cost, 1000, 200)
        return Reply(text, cost=self.cost)


@dataclass
class NoisyJudge:
    """A judge that is right with probability ``accuracy``: asked to choose among distinct
    verified fixes, it names one that passes the hidden tests (when any does) that often,
    otherwise any finalist. It reads the finalists' diffs from the real judge prompt and
    answers in its format, so the real ``Judge`` and ``_select`` run; it measures how much
    a judge of a given quality adds, not any model's quality."""

    spec: Spec
    repo: Path
    rng: random.Random
    accuracy: float
    budget: Budget = field(default_factory=lambda: Budget(100.0))
    cost: float = 0.01

    def preflight(self) -> None:
        """Nothing to check."""

    def context_budget(self) -> int:
        return 4000

    def worst_case(self, messages: list[dict[str, str]]) -> float:
        return self.cost

    def complete(self, messages: list[dict[str, str]], **sampling: float | int) -> Reply:
        self.budget.reserve(self.cost)
        parts = messages[-1]["content"].split("## Candidate ")[1:]
        diffs = [re.search(r"```diff\n(.*?)\n```", part, re.S) for part in parts]
        right = [
            n
            for n, found in enumerate(diffs, 1)
            if found and hidden_pass(self.spec, self.repo, found.group(1) + "\n")
        ]
        if right and self.rng.random() < self.accuracy:
            choice = self.rng.choice(right)
        else:
            choice = self.rng.randint(1, max(len(parts), 1))
        self.budget.settle(self.cost, self.cost, 1000, 50)
        return Reply(f"This one.\n\n```choice\n{choice}\n```\n", cost=self.cost)


# ------------------------------------------------------------------------------- the runs


@dataclass
class Problem:
    spec: Spec
    repo: Path
    seed: int
    p: float


@dataclass
class Outcome:
    resolved: bool
    oracle: bool
    calls: int
    seconds: float
    verified: bool


def solve_once(
    problem: Problem,
    strategy: str,
    n: int,
    attempts: int,
    args: argparse.Namespace,
    cache: bool = True,
) -> Outcome:
    spec = problem.spec
    model = StochasticModel(spec, problem.seed, problem.p, args.q, args.latency)
    judge = None
    if strategy == "judged":  # parallel, with a judge of accuracy args.judge_accuracy
        rng = random.Random(f"judge:{problem.seed}:{spec.name}:{n}")
        noisy = NoisyJudge(spec, problem.repo, rng, args.judge_accuracy)
        strategy, judge = "parallel", lambda: noisy
    if strategy == "tree":  # at most n calls, searching on until two accepted agree
        limits, candidates, stop_at = Limits(n, 600), 1, 2
    else:
        limits, candidates, stop_at = Limits(attempts, 600), n, None
    request = Request(
        problem.repo,
        Issue(*spec.issue),
        lambda: model,
        limits,
        strategy=strategy,
        candidates=candidates,
        stop_at=stop_at,
        judge=judge,
        keep_record=False,
        sandbox=LocalSandbox(cache),
    )
    started = time.monotonic()
    result: Run = run(request, ev.ignore)
    seconds = time.monotonic() - started
    attempts_made = result.fix.attempts if result.fix else []
    oracle = any(hidden_pass(spec, problem.repo, a.patch) for a in attempts_made if a.patch)
    resolved = hidden_pass(spec, problem.repo, result.patch)
    return Outcome(resolved, oracle, model.budget.calls, seconds, result.winner is not None)


def self_check(repos: dict[str, Path]) -> list[str]:
    """Every variant does what its kind says: correct ones are VERIFIED and pass the hidden
    tests, overfitting ones are VERIFIED and fail them, wrong ones are not VERIFIED. Also
    warms the cache of test reports."""
    from verifix.agent.repair import edit

    def check(spec: Spec, kind: str, edits: list[tuple[str, str]]) -> str:
        repo = repos[spec.name]
        tree = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD^{tree}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        patch = edit(spec.reply("x", edits), repo)[0]
        verified = LocalSession(repo, tree, Checks(), cache=True).check(patch).verified
        hidden = hidden_pass(spec, repo, patch)
        expected = {"correct": (True, True), "overfit": (True, False)}.get(kind, (False, False))
        if (verified, hidden) != expected:
            return f"{spec.name} {kind}: verified={verified} hidden={hidden}\n{patch}"
        return ""

    work = []
    for spec in SPECS:
        work += [(spec, "correct", e) for _, e in spec.correct]
        work += [(spec, "overfit", e) for e in spec.overfit]
        work += [(spec, "wrong", e) for e in spec.wrong]
    with ThreadPoolExecutor(2) as pool:
        return [f for f in pool.map(lambda w: check(*w), work) if f]


def pass_at(p_values: list[float], n: int) -> float:
    return statistics.fmean(1 - (1 - p) ** n for p in p_values)


def measure(
    problems: list[Problem], configs: list[tuple[str, int, int]], args: argparse.Namespace
) -> dict[tuple[str, int, int], list[Outcome]]:
    """Every config on every problem, ``args.jobs`` problems at a time."""
    results: dict[tuple[str, int, int], list[Outcome]] = {c: [] for c in configs}
    lock = threading.Lock()

    def one(problem: Problem) -> None:
        for config in configs:
            outcome = solve_once(problem, *config, args)
            with lock:
                results[config].append(outcome)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, problems))
    return results


def timing(problems: list[Problem], args: argparse.Namespace, cache: bool) -> tuple[float, float]:
    """Mean seconds of N=1 and N=8 runs, one run at a time, alternating."""
    one, eight = [], []
    for problem in problems[: args.timing_runs]:
        one.append(solve_once(problem, "parallel", 1, 1, args, cache).seconds)
        eight.append(solve_once(problem, "parallel", 8, 1, args, cache).seconds)
    return statistics.fmean(one), statistics.fmean(eight)


# ------------------------------------------------------------------------------- the fuzz


class _Usage:
    def __init__(self, prompt: Any, completion: Any) -> None:
        self.prompt_tokens = prompt
        self.completion_tokens = completion


class _Message:
    def __init__(self, content: Any) -> None:
        self.content = content


class _Choice:
    def __init__(self, content: Any) -> None:
        self.message = _Message(content)


class _Response:
    def __init__(self, content: Any, usage: Any) -> None:
        self.choices = [_Choice(content)] if content is not ... else []
        if usage is not ...:
            self.usage = usage


def _provider_error(name: str) -> Exception:
    return type(name, (Exception,), {})(f"simulated {name}")


_ERRORS = ("RateLimitError", "APIConnectionError", "Timeout", "InternalServerError")
#: Usage counts a provider may report: missing, zero, negative, absurd, of the wrong type.
_ABSURD: list[Any] = [None, 0, -5, 10**12, 2**63, True, 3.5, 10**7, 500]
_STRINGS: list[Any] = ["123", "lots"]


class FuzzModel(Model):
    """The real ``Model`` (reservation, charge, clamps, retries) with its provider call
    replaced by random answers: prose, broken or valid blocks, no content, absurd or
    missing usage, provider exceptions; a little latency so candidates overlap."""

    def __init__(
        self, rng: random.Random, spec: Spec, budget: Budget, strings: bool = False
    ) -> None:
        super().__init__(
            ModelConfig("fuzz/model", price_in=3.0, price_out=15.0, max_output_tokens=1024),
            budget,
            sleep=lambda _s: None,
        )
        self.rng = rng
        self.spec = spec
        self.sent = 0
        self._sent_lock = threading.Lock()
        model = StochasticModel(spec, rng.randrange(10**6), 0.15, 0.15, (0.0, 0.0))
        self.replies = [model.draw(i, 0)[1] for i in range(20)]
        self.usages = _ABSURD + (_STRINGS if strings else [])

    def _send(self, messages: list[dict[str, str]], max_tokens: int, sampling: dict) -> Any:
        with self._sent_lock:
            self.sent += 1
            roll = self.rng.random()
            text: Any = self.rng.choice(self.replies)
            if self.rng.random() < 0.1:
                text = self.rng.choice([None, ..., "", "<<<<<<< SEARCH\n" * 50, "x" * 100_000])
            usage: Any = _Usage(self.rng.choice(self.usages), self.rng.choice(self.usages))
            if self.rng.random() < 0.15:
                usage = self.rng.choice([None, ..., object()])
            name = self.rng.choice(_ERRORS)
            delay = self.rng.uniform(0.0, 0.03)
        time.sleep(delay)
        if roll < 0.12:
            raise _provider_error(name)
        if roll < 0.13:
            raise _provider_error("AuthenticationError")  # ends the run
        return _Response(text, usage)


def fuzz(problems: list[Problem], runs: int, seed: int, strings: bool = False) -> dict[str, Any]:
    """``runs`` runs of random strategies, candidates, limits and replies; what broke."""
    rng = random.Random(f"fuzz:{seed}:{strings}")
    violations, leaks, unaccounted, crashes, calls, judged = 0, 0, 0, 0, 0, 0
    ended: dict[str, int] = {}
    worst_ratio = 0.0
    for i in range(runs):
        problem = rng.choice(problems)
        limit = rng.uniform(0.02, 0.2)
        budget = Budget(limit)
        model = FuzzModel(random.Random(f"{seed}:{i}"), problem.spec, budget, strings)
        judge_model = FuzzModel(random.Random(f"{seed}:{i}:j"), problem.spec, budget, strings)
        strategy = rng.choice(["parallel", "parallel", "parallel", "tree"])
        candidates = rng.choice([2, 3, 4, 8, 16]) if strategy == "parallel" else 1
        stop_at = rng.choice([None, 2]) if candidates >= 2 or strategy == "tree" else None
        request = Request(
            problem.repo,
            Issue(*problem.spec.issue),
            lambda model=model: model,
            Limits(rng.randint(1, 3) * (4 if strategy == "tree" else 1), 120),
            strategy=strategy,
            candidates=candidates,
            stop_at=stop_at,
            judge=lambda judge_model=judge_model: judge_model,
            keep_record=False,
            sandbox=LocalSandbox(),
        )
        try:
            result = run(request, ev.ignore)
            why = result.stopped
            judged += bool(result.judging)
        except VerifixError as exc:
            why = f"provider error ({type(exc).__name__})"
        except Exception as exc:  # a crash: not a stop verifix means to make
            why = f"crash ({type(exc).__name__}: {str(exc)[:80]})"
            crashes += 1
        kind = why if why.startswith("crash") else why.split(":")[0]
        ended[kind] = ended.get(kind, 0) + 1
        calls += budget.calls
        worst_ratio = max(worst_ratio, budget.spent / limit)
        violations += budget.spent > limit + 1e-12
        leaks += abs(budget.left() - (limit - budget.spent)) > 1e-9  # a reservation kept
        unaccounted += budget.calls != model.sent + judge_model.sent
    return {
        "runs": runs,
        "violations": violations,
        "leaks": leaks,
        "unaccounted": unaccounted,
        "calls": calls,
        "worst": worst_ratio,
        "ended": ended,
        "judged": judged,
        "crashes": crashes,
    }


# ------------------------------------------------------------------------------- the report


def rate(outcomes: list[Outcome], attr: str) -> float:
    return statistics.fmean(getattr(o, attr) for o in outcomes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=12, help="runs per repository and setting")
    parser.add_argument("--p", type=float, default=0.3, help="mean chance of a correct fix")
    parser.add_argument("--q", type=float, default=0.3, help="chance of an overfitting patch")
    parser.add_argument("--latency", type=float, nargs=2, default=(0.2, 0.5), metavar=("LO", "HI"))
    parser.add_argument("--ns", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--no-two-attempts", action="store_true", help="skip the 2-attempt rows")
    parser.add_argument(
        "--judge-accuracy",
        type=float,
        default=0.7,
        help="rows with a judge this often right among distinct fixes (0: none)",
    )
    parser.add_argument("--fuzz", type=int, default=100, help="fuzzed runs for the cost limit")
    parser.add_argument("--timing-runs", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=3, help="problems measured at once")
    parser.add_argument(
        "--grid",
        type=float,
        nargs="*",
        default=[0.3, 0.15, 0.5, 0.15, 0.15, 0.3],
        metavar="P Q",
        help="more (p, q) pairs measured at N=1 and 16 with no latency",
    )
    args = parser.parse_args()
    args.latency = tuple(args.latency)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        repos = {spec.name: make_repo(Path(tmp), spec) for spec in SPECS}
        problems = [
            Problem(spec, repos[spec.name], seed, min(args.p * spec.ease, 0.95))
            for seed in range(args.seeds)
            for spec in SPECS
        ]
        failures = self_check(repos)
        if failures:
            print("the generated repositories are wrong:\n" + "\n".join(failures))
            return 1
        print(
            f"{len(SPECS)} repositories, {args.seeds} seeds each; every variant checked "
            f"(correct: VERIFIED and hidden tests pass; overfitting: VERIFIED, hidden fail; "
            f"wrong: not VERIFIED) in {time.monotonic() - started:.0f}s",
            flush=True,
        )
        p_values = [min(args.p * s.ease, 0.95) for s in SPECS]
        print(
            "p per repository: "
            + ", ".join(f"{s.name} {p:.2f}" for s, p in zip(SPECS, p_values, strict=True))
            + f"; q = {args.q}; latency {args.latency[0]}-{args.latency[1]} s per call",
            flush=True,
        )

        configs = [("parallel", n, 1) for n in args.ns]
        if not args.no_two_attempts:
            configs += [("parallel", n, 2) for n in args.ns]
        configs += [("tree", n, 0) for n in args.ns if n > 1]
        if args.judge_accuracy:
            configs += [("judged", n, 1) for n in args.ns if n > 1]
        phase = time.monotonic()
        results = measure(problems, configs, args)
        print(f"resolve rates measured in {time.monotonic() - phase:.0f}s", flush=True)

        grid, phase = [], time.monotonic()
        for p, q in zip(args.grid[::2], args.grid[1::2], strict=True):
            fast = argparse.Namespace(**{**vars(args), "q": q, "latency": (0.0, 0.0)})
            points = [Problem(x.spec, x.repo, x.seed, min(p * x.spec.ease, 0.95)) for x in problems]
            found = measure(points, [("parallel", 1, 1), ("parallel", 16, 1)], fast)
            grid.append((p, q, found[("parallel", 1, 1)], found[("parallel", 16, 1)]))
        if grid:
            print(f"grid measured in {time.monotonic() - phase:.0f}s", flush=True)

        phase = time.monotonic()
        warm = timing(problems, args, cache=True)
        cold = timing(problems, args, cache=False)
        print(f"timing measured in {time.monotonic() - phase:.0f}s", flush=True)

        phase = time.monotonic()
        fuzzed = fuzz(problems, args.fuzz, 0) if args.fuzz else None
        typed = fuzz(problems, max(args.fuzz // 5, 1), 0, strings=True) if args.fuzz else None
        if fuzzed:
            print(f"fuzz measured in {time.monotonic() - phase:.0f}s", flush=True)

    base = rate(results[("parallel", args.ns[0], 1)], "resolved")
    print()
    print(
        f"resolve rate on the hidden tests, {len(problems)} problems ({len(SPECS)} repos x "
        f"{args.seeds} seeds), selection = the run's own (tests, then consensus)"
    )
    header = (
        "| strategy | N | model calls (mean) | verified | resolved | pass@N (formula) "
        "| oracle (same draws) | recovery |"
    )
    print(header)
    print("| --- " * 8 + "|")
    for config in configs:
        strategy, n, attempts = config
        outcomes = results[config]
        resolved, oracle = rate(outcomes, "resolved"), rate(outcomes, "oracle")
        # Tree search at equal spend is measured against what N parallel calls could find.
        reach = oracle if strategy != "tree" else rate(results[("parallel", n, 1)], "oracle")
        gap = reach - base
        recovery = f"{(resolved - base) / gap:.0%}" if gap > 1e-9 and n > 1 else "-"
        label = f"parallel x{attempts} attempt{'s' if attempts > 1 else ''}"
        label = "tree (<= N calls)" if strategy == "tree" else label
        if strategy == "judged":
            label = f"parallel + judge right {args.judge_accuracy:.0%} of the time"
        formula = pass_at(p_values, n * max(attempts, 1))
        print(
            f"| {label} | {n} | {statistics.fmean(o.calls for o in outcomes):.1f} "
            f"| {rate(outcomes, 'verified'):.0%} | {resolved:.0%} | {formula:.0%} "
            f"| {oracle:.0%} | {recovery} |"
        )
    print(
        f"(pass@1 = resolve rate of N=1 with 1 attempt: {base:.0%}; "
        f"formula {pass_at(p_values, 1):.0%})"
    )
    print()
    print("the same at N=16 (1 attempt) for other p and q (p scaled per repository as above)")
    print("| p | q | pass@1 | resolved@16 | oracle@16 | recovery |")
    print("| --- " * 6 + "|")
    default = [("parallel", 1, 1), ("parallel", 16, 1)]
    if all(c in results for c in default):
        grid.insert(0, (args.p, args.q, *(results[c] for c in default)))
    for p, q, one, sixteen in grid:
        first, resolved, oracle = (
            rate(one, "resolved"),
            rate(sixteen, "resolved"),
            rate(sixteen, "oracle"),
        )
        recovery = (resolved - first) / (oracle - first) if oracle > first else float("nan")
        print(f"| {p} | {q} | {first:.0%} | {resolved:.0%} | {oracle:.0%} | {recovery:.0%} |")
    print()
    print("| wall-clock per run | N=1 | N=8 | ratio |")
    print("| --- | --- | --- | --- |")
    print(
        f"| checks cached (model latency) | {warm[0]:.2f} s | {warm[1]:.2f} s "
        f"| {warm[1] / warm[0]:.2f}x |"
    )
    print(
        f"| every check a pytest process | {cold[0]:.2f} s | {cold[1]:.2f} s "
        f"| {cold[1] / cold[0]:.2f}x |"
    )
    print(f"(pytest processes run: {REPORTS.runs}, cached reports reused: {REPORTS.hits})")
    if fuzzed:
        print()
        print(
            f"cost limit: {fuzzed['runs']} fuzzed runs, {fuzzed['calls']} requests charged: "
            f"{fuzzed['violations']} above --max-cost (highest spend {fuzzed['worst']:.0%} of "
            f"the limit), {fuzzed['leaks']} with a reservation left over, "
            f"{fuzzed['unaccounted']} with a request sent but not charged; judged "
            f"{fuzzed['judged']}; ended: {fuzzed['ended']}"
        )
    if typed:
        print(
            f"with usage counts that are strings as well: {typed['runs']} runs, "
            f"{typed['violations']} above --max-cost, {typed['crashes']} crashed, "
            f"{typed['leaks']} with a reservation left over: {typed['ended']}"
        )
    print(f"\ntotal {time.monotonic() - started:.0f}s")
    return 0 if not fuzzed or not (fuzzed["violations"] + fuzzed["crashes"]) else 1


if __name__ == "__main__":
    sys.exit(main())
