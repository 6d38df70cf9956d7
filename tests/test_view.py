"""``verifix view``: a run record as an HTML page, loaded in headless Chromium (Debian's
``chromium``) and checked by what it renders. The record is hostile: nothing in it may
become markup or script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from conftest import verifix
from fakes import MemorySandbox, ScriptedChat
from test_engine import RIGHT, WRONG, always, block
from verifix.agent import events as ev
from verifix.agent.engine import Limits
from verifix.agent.issue import Issue
from verifix.agent.runner import Request, run

HOSTILE = '<script>document.title="owned"</script><img src=x onerror="document.title=1">'
ADD = "tests/test_calc.py::test_add"


def adds(patch: str) -> bool:
    return "+    return a + b" in patch or "sum((a, b))" in patch


def rendered(page) -> str:
    """The DOM Chromium builds from the page, serialized after load."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is needed (Debian: apt-get install chromium)"
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture
def page(make_repo, tmp_path):
    repo = make_repo()
    issue = Issue("add() subtracts " + HOSTILE, "body " + HOSTILE)
    other = block("calc.py", "    return a - b\n", "    return sum((a, b))\n", HOSTILE)
    model = ScriptedChat([WRONG + HOSTILE, RIGHT, other])
    request = Request(
        repo,
        issue,
        lambda: model,
        Limits(2, 60),
        sandbox=MemorySandbox({ADD: adds, "tests/test_calc.py::test_ok": always}),
        candidates=3,
    )
    result = run(request, ev.ignore)
    shown = verifix("view", str(result.record), "-o", str(tmp_path / "run.html"))
    assert shown.code == 0, shown.err
    return tmp_path / "run.html", len(result.fix.attempts)


def test_the_page_shows_the_issue_attempts_diffs_and_the_vote(page):
    path, attempts = page
    dom = rendered(path)

    assert "<h1>add() subtracts &lt;script&gt;" in dom
    assert re.search(r'<span class="add">\+    return a \+ b</span>', dom)
    assert dom.count("<summary>attempt f") == attempts
    assert dom.count('<tr class="chosen">') == 1
    assert "<h2>Vote</h2>" in dom and "<h2>Spend</h2>" in dom and "<polyline" in dom


def test_nothing_in_a_record_becomes_markup_or_script(page):
    dom = rendered(page[0])

    assert "<script" not in dom and "<img" not in dom
    assert "<title>owned</title>" not in dom and "<title>1</title>" not in dom
    assert "&lt;script&gt;" in dom  # shown as text


def test_a_bench_report_shows_the_resolve_rate_and_links_each_run(page, tmp_path):
    record_page, _ = page
    out = tmp_path / "bench"
    (out / "records").mkdir(parents=True)
    record = next(record_page.parent.glob("repo/.verifix/runs/*.json"))
    kept = out / "records" / "acme__calc-1.json"
    kept.write_text(record.read_text())
    rows = [
        {"instance_id": "acme__calc-1", "status": "VERIFIED", "resolved": True, "cost": 0.05,
         "seconds": 12.0, "reason": "targets pass", "record": str(kept)},
        {"instance_id": HOSTILE, "status": "ERROR", "resolved": None, "cost": 0.0,
         "seconds": 1.0, "reason": HOSTILE, "record": None},
    ]  # fmt: skip
    totals = {"instances": 2, "verified": 1, "resolved": 1, "cost": 0.05, "seconds": 13.0}
    (out / "summary.json").write_text(json.dumps({"instances": rows, "totals": totals}))

    made = verifix("bench", "report", str(out))

    assert made.code == 0, made.err
    dom = rendered(out / "report.html")
    assert "1 of 2 resolved (50%)" in dom
    assert '<a href="records/acme__calc-1.html">run</a>' in dom
    assert (out / "records" / "acme__calc-1.html").is_file()
    assert "<script" not in dom and "<img" not in dom
    assert dom.count("<svg") == 5
    assert "<h2>Resolve rate</h2>" in dom and ">not verified</text>" in dom
    phases = json.loads(kept.read_text())["phases"]
    assert "<h2>Time per phase (all instances)</h2>" in dom
    assert all(f">{phase}</text>" in dom for phase in phases) and "repair" in phases


def test_a_bench_report_compares_batches_as_candidates_grow(tmp_path):
    folders = []
    for n, (cost, resolved) in {1: (0.4, 3), 4: (1.5, 6), 2: (0.8, 5)}.items():
        out = tmp_path / f"n{n}"
        out.mkdir()
        summary = {
            "search": {"candidates": n, "strategy": "parallel"},
            "instances": [],
            "totals": {"instances": 10, "verified": resolved, "resolved": resolved,
                       "cost": cost, "seconds": 60.0},
        }  # fmt: skip
        (out / "summary.json").write_text(json.dumps(summary))
        folders.append(out)

    made = verifix("bench", "report", str(folders[0]), "--compare", str(folders[1]),
                   "--compare", str(folders[2]))  # fmt: skip
    missing = verifix("bench", "report", str(folders[0]), "--compare", str(tmp_path / "nope"))

    assert made.code == 0, made.err
    dom = rendered(folders[0] / "report.html")
    assert "<h2>Fixes against dollars as candidates grow</h2>" in dom
    labels = re.findall(r">(\d candidates?, parallel: \d+ for \$[\d.]+)</text>", dom)
    assert labels == [
        "1 candidate, parallel: 3 for $0.40",
        "2 candidates, parallel: 5 for $0.80",
        "4 candidates, parallel: 6 for $1.50",
    ]
    assert missing.code == 2 and "nope holds no summary.json" in missing.err
