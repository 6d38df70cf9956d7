"""Attacks on the verdict, against the real engine: code under test (the repo's own tests at
baseline, or a patch) trying to decide its own verdict. None of them may be VERIFIED."""

from __future__ import annotations

import json
import resource
import textwrap

import pytest
from conftest import BUGGY_MODULE, TESTS, diff_for, verifix

pytestmark = pytest.mark.docker

FIXED_MODULE = BUGGY_MODULE.replace("a - b", "a + b")
ALL_TESTS = ["test_add", "test_double", "test_double_two"]


def _verify(repo, tmp_path, patch_text: str, *extra: str) -> tuple[int, dict]:
    patch = tmp_path / "attack.diff"
    patch.write_text(patch_text)
    result = verifix("verify", "--patch", str(patch), "--json", *extra, str(repo))
    assert result.out.strip(), result.err
    return result.code, json.loads(result.out)


def _targets(verdict: dict) -> dict[str, str]:
    return {t["id"].rsplit("::", 1)[-1]: t["after"] for t in verdict["targets"]}


FORGE_AT_EXIT = """
import atexit as _atexit, glob as _glob, json as _json, os as _os

def _forge():
    lines = "".join(
        _json.dumps({"id": "tests/test_calc.py::" + n, "when": w, "outcome": "passed",
                     "xfail": False, "message": "", "duration": 0.0, "watched": "returned"}) + "\\n"
        for n in ("test_add", "test_double", "test_double_two")
        for w in ("setup", "call", "teardown")
    ) + _json.dumps({"session": "finished", "exitstatus": 0}) + "\\n"
    for path in _glob.glob("/verifix/**", recursive=True) + [_os.environ.get("VERIFIX_REPORT", "")]:
        try:
            with open(path, "w") as f:
                f.write(lines)
        except OSError:
            pass
    try:
        _os.write(3, lines.encode())
    except OSError:
        pass
    _os._exit(0)

_atexit.register(_forge)
"""


def test_results_forged_at_exit_are_not_verified(make_repo, tmp_path):
    repo = make_repo()
    code, verdict = _verify(repo, tmp_path, diff_for(repo, "calc.py", BUGGY_MODULE + FORGE_AT_EXIT))

    assert code == 1
    assert verdict["status"] == "NOT_VERIFIED", verdict["reason"]
    assert _targets(verdict)["test_add"] == "failed"


@pytest.mark.parametrize(
    "death",
    [
        "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
        "import os; os._exit(0)",
    ],
    ids=["segfault", "os-exit-0"],
)
def test_a_test_whose_process_dies_never_passes(make_repo, tmp_path, death):
    repo = make_repo()
    dying = FIXED_MODULE.replace("def add(a, b):\n", f"def add(a, b):\n    {death}\n")

    code, verdict = _verify(repo, tmp_path, diff_for(repo, "calc.py", dying))

    assert code == 1
    assert verdict["status"] == "NOT_VERIFIED", verdict["reason"]
    first = verdict["targets"][0]
    assert first["after"] == "error"
    assert "never finished" in first["message"]


HOOK_WRAPPER = """
import gc as _gc, sys as _sys

if "pytest" in _sys.modules:
    import pytest as _pytest
    from _pytest.config import Config as _Config

    class _Pass:
        @_pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(self, item, call):
            outcome = yield
            report = outcome.get_result()
            if report.outcome == "failed":
                report.outcome, report.longrepr = "passed", None

    for _obj in _gc.get_objects():
        if isinstance(_obj, _Config):
            _obj.pluginmanager.register(_Pass())
"""


def test_outcomes_rewritten_by_a_hook_wrapper_are_caught(make_repo, tmp_path):
    repo = make_repo()
    code, verdict = _verify(repo, tmp_path, diff_for(repo, "calc.py", BUGGY_MODULE + HOOK_WRAPPER))

    assert code == 1
    assert verdict["status"] == "NOT_VERIFIED", verdict["reason"]
    assert _targets(verdict)["test_add"] == "error"
    assert "a hook rewrote the result" in verdict["targets"][0]["message"]
    assert any("hooks into how test outcomes are reported" in f for f in verdict["flags"])


def test_a_test_aware_patch_is_suspect_not_verified(make_repo, tmp_path):
    repo = make_repo()
    cheating = BUGGY_MODULE.replace(
        "def add(a, b):\n",
        "def add(a, b):\n    import os\n"
        "    if os.environ.get('PYTEST_CURRENT_TEST'):\n        return {(2, 3): 5, (2, 2): 4}"
        ".get((a, b), 0)\n",
    )

    code, verdict = _verify(repo, tmp_path, diff_for(repo, "calc.py", cheating))

    assert code == 1
    assert verdict["status"] == "SUSPECT", verdict["reason"]
    assert all(after == "passed" for after in _targets(verdict).values())  # the cheat works
    assert any("calc.py" in f and "runs under pytest" in f for f in verdict["flags"])


TAMPERING_CONFTEST = """
import pathlib, subprocess

def pytest_sessionfinish(session):
    repo = pathlib.Path(__file__).parent
    calc = repo / "calc.py"
    calc.write_text(calc.read_text().replace("a - b", "a + b"))
    git = ["git", "-C", str(repo), "-c", "user.name=x", "-c", "user.email=x@x"]
    subprocess.run(git + ["commit", "-qam", "tampered"])
    subprocess.run(git + ["tag", "-f", "tampered"])
"""


def test_a_baseline_that_commits_into_the_repo_changes_nothing(make_repo, tmp_path):
    repo = make_repo(
        {
            "calc.py": BUGGY_MODULE,
            "tests/test_calc.py": TESTS,
            "conftest.py": TAMPERING_CONFTEST,
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
        }
    )
    # An innocent patch: with a tampered base tree, calc.py would already be fixed.
    code, verdict = _verify(repo, tmp_path, diff_for(repo, "notes.txt", "hello\n"))

    assert code == 1
    assert verdict["status"] == "NOT_VERIFIED", verdict["reason"]
    assert _targets(verdict)["test_add"] == "failed"


LEAVING_CONFTEST = """
import pathlib, site, subprocess, sys

def pytest_sessionfinish(session):
    repo = pathlib.Path(__file__).parent
    pathlib.Path("/tmp/verifix-leak").write_text("x")
    (repo / "build").mkdir(exist_ok=True)
    (repo / "build" / "leak.txt").write_text("x")
    (pathlib.Path.home() / "leak").write_text("x")
    for folder in site.getsitepackages():
        try:
            pathlib.Path(folder, "leak.pth").write_text("import os; os.environ['LEAKED'] = '1'\\n")
        except OSError:
            pass
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "verifix-leak"],
                     start_new_session=True)
"""

STATE_TEST = """
import os, pathlib

def test_nothing_left_from_an_earlier_run():
    repo = pathlib.Path(__file__).parent.parent
    leftovers = [p for p in ("/tmp/verifix-leak", str(repo / "build" / "leak.txt"),
                             str(pathlib.Path.home() / "leak")) if os.path.exists(p)]
    running = []
    for pid in os.listdir("/proc"):
        try:
            cmdline = pathlib.Path("/proc", pid, "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if b"verifix-leak" in cmdline and int(pid) != os.getpid():
            running.append(pid)
    assert not leftovers and not running and "LEAKED" not in os.environ, (leftovers, running)
"""


def test_state_left_by_the_baseline_is_gone_for_the_patched_run(make_repo, tmp_path):
    repo = make_repo(
        {
            "calc.py": BUGGY_MODULE,
            "tests/test_calc.py": TESTS,
            "tests/test_state.py": STATE_TEST,
            "conftest.py": LEAVING_CONFTEST,
            ".gitignore": "build/\n",
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
        }
    )
    code, verdict = _verify(repo, tmp_path, diff_for(repo, "calc.py", FIXED_MODULE))

    assert verdict["status"] == "VERIFIED", (verdict["reason"], verdict["broken"])
    assert code == 0


HUGE_REPORT_TEST = """
import os

def test_floods_the_results():
    chunk = b"x" * (1 << 20)
    for _ in range(300):
        os.write(3, chunk)
"""


def test_a_300_mb_report_is_an_error_with_bounded_memory(make_repo, tmp_path):
    repo = make_repo()
    patch = diff_for(repo, "calc.py", FIXED_MODULE) + diff_for(
        repo, "tests/test_flood.py", HUGE_REPORT_TEST
    )

    code, verdict = _verify(repo, tmp_path, patch)

    assert verdict["status"] == "ERROR"
    assert "MiB verifix reads" in verdict["reason"]
    assert code == 1
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mib < 700, f"a child of the test process peaked at {peak_mib:.0f} MiB"


def test_a_malformed_results_line_is_an_error_not_a_crash(make_repo, tmp_path):
    repo = make_repo()
    garbage = 'import os\n\ndef test_garbage():\n    os.write(3, b"{not json\\n")\n'
    patch = diff_for(repo, "calc.py", FIXED_MODULE) + diff_for(
        repo, "tests/test_garbage.py", garbage
    )

    code, verdict = _verify(repo, tmp_path, patch)

    assert code == 1
    assert verdict["status"] == "ERROR"
    assert "not verifix records" in verdict["reason"]


def test_targets_that_already_pass_prove_nothing(make_repo, tmp_path):
    repo = make_repo()
    code, verdict = _verify(
        repo,
        tmp_path,
        diff_for(repo, "calc.py", FIXED_MODULE),
        "--tests",
        "tests/test_calc.py::test_double",  # passes with the bug: double(0) == 0
        "--tests",
        "tests/test_calc.py::test_add",
    )

    assert code == 1
    assert verdict["status"] == "TARGETS_ALREADY_PASS"
    assert "test_double" in verdict["reason"]
    assert "do not show the bug" in verdict["reason"]


SECRET_MODULE = "SECRET = 'repo-a-only'\n"
PEEKING_TEST = """
import pathlib, subprocess

def test_sees_only_its_own_repository():
    repo = pathlib.Path(__file__).parent.parent
    commits = subprocess.run(["git", "-C", str(repo), "rev-list", "--all", "--count"],
                             capture_output=True, text=True).stdout.strip()
    needle = "-".join(["repo", "a", "only"])  # not a constant, or grep finds this file
    found = subprocess.run(["grep", "-rl", needle, "/repo", "/opt", "/tmp"],
                           capture_output=True, text=True).stdout
    assert commits == "1" and not found, (commits, found)
"""


def test_another_repository_never_sees_the_first_ones_code(make_repo, tmp_path):
    same_deps = '[tool.pytest.ini_options]\npythonpath = ["."]\n'
    first = make_repo(
        {
            "secret.py": SECRET_MODULE,
            "tests/test_a.py": "def test_a():\n    pass\n",
            "pyproject.toml": same_deps,
        },
        name="first",
    )
    # The first repository really ran: its one test passes, so there is nothing to fix.
    ran = verifix("verify", "--json", str(first))
    assert ran.code == 1 and json.loads(ran.out)["status"] == "NO_TARGET", ran.out + ran.err
    second = make_repo(
        {
            "calc.py": BUGGY_MODULE,
            "tests/test_calc.py": TESTS,
            "tests/test_peek.py": PEEKING_TEST,
            "pyproject.toml": same_deps,
        },
        name="second",
    )
    code, verdict = _verify(second, tmp_path, diff_for(second, "calc.py", FIXED_MODULE))

    assert verdict["status"] == "VERIFIED", (verdict["reason"], verdict["broken"])
    assert code == 0


def test_output_that_imitates_the_framing_is_only_output(make_repo, tmp_path):
    """The rejected-hunks text and test output are shown, never parsed into results."""
    repo = make_repo()
    noisy = FIXED_MODULE + textwrap.dedent(
        """
        print('{"applied": false, "lengths": []}')
        print('VERIFIX-EXIT 0')
        """
    )
    code, verdict = _verify(repo, tmp_path, diff_for(repo, "calc.py", noisy))

    assert verdict["status"] == "VERIFIED", verdict["reason"]
    assert code == 0
