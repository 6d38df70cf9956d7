"""The pure core of judging: how records become outcomes, and outcomes a verdict. No engine."""

from __future__ import annotations

import json

from verifix.sandbox.testaware import scan_patch
from verifix.sandbox.testrun import _report
from verifix.sandbox.verdict import Status, judge

OK_RUN = {"exit": 0, "timed_out": False, "seconds": 1.0, "bytes": 0, "truncated": False}


def rec(test: str, when: str, outcome: str = "passed", **extra) -> dict:
    return {"id": test, "when": when, "outcome": outcome, "xfail": False, "message": "", **extra}


def report(records: list[dict], finished: bool = True, **run):
    lines = [*records, *([{"session": "finished", "exitstatus": 0}] if finished else [])]
    raw = "".join(json.dumps(r) + "\n" for r in lines).encode()
    return _report(raw, {**OK_RUN, **run}, "", "pytest", 60)


def full(test: str, outcome: str = "passed", **extra) -> list[dict]:
    return [rec(test, "setup"), rec(test, "call", outcome, **extra), rec(test, "teardown")]


def test_a_test_that_died_after_setup_is_an_error():
    result = report([rec("t.py::a", "setup")], finished=False, exit=139).results["t.py::a"]
    assert result.outcome == "error"
    assert "died (exit code 139)" in result.message


def test_a_test_without_teardown_is_an_error():
    result = report([rec("t.py::a", "setup"), rec("t.py::a", "call")], finished=False)
    assert result.results["t.py::a"].outcome == "error"


def test_a_skip_in_setup_is_a_skip():
    skipped = report([rec("t.py::a", "setup", "skipped"), rec("t.py::a", "teardown")])
    assert skipped.results["t.py::a"].outcome == "skipped"


def test_the_worst_record_wins():
    records = [*full("t.py::a", "failed"), *full("t.py::a", "passed")]
    assert report(records).results["t.py::a"].outcome == "failed"


def test_a_pass_the_reporter_saw_raise_is_an_error():
    for watched in ("raised", "missing"):
        result = report(full("t.py::a", watched=watched)).results["t.py::a"]
        assert result.outcome == "error"
        assert "a hook rewrote the result" in result.message
    assert report(full("t.py::a", watched="returned")).results["t.py::a"].outcome == "passed"


def test_malformed_or_oversized_results_are_not_judged():
    raw = (json.dumps(rec("t.py::a", "call")) + "\n{oops\n[1, 2]\n").encode()
    bad = _report(raw, OK_RUN, "", "pytest", 60)
    assert bad.error and "2 lines" in bad.error
    huge = _report(b"", {**OK_RUN, "bytes": 300 << 20, "truncated": True}, "", "pytest", 60)
    assert huge.error and "MiB" in huge.error


def _judge(base_records, patched_records, targets=None, **kw):
    return judge(
        report(base_records, exit=1),
        report(patched_records, **kw.pop("run", {})),
        targets=targets,
        must_pass=None,
        **kw,
    )


BASE = [*full("t.py::bug", "failed"), *full("t.py::ok")]
FIXED = [*full("t.py::bug"), *full("t.py::ok")]


def test_verified_needs_a_confirmation_run_that_exits_zero():
    assert _judge(BASE, FIXED).status is Status.VERIFIED  # confirmation not asked for
    missing = _judge(BASE, FIXED, require_confirm=True)
    assert missing.status is Status.NOT_VERIFIED
    assert "not confirmed" in missing.reason
    good = report(full("t.py::bug"))
    assert _judge(BASE, FIXED, require_confirm=True, confirm=good).status is Status.VERIFIED
    bad_exit = report(full("t.py::bug"), exit=1)
    verdict = _judge(BASE, FIXED, require_confirm=True, confirm=bad_exit)
    assert verdict.status is Status.NOT_VERIFIED
    assert "exits with 1" in verdict.reason
    assert verdict.confirmation["exit_code"] == 1


def test_a_failing_exit_no_test_explains_is_not_verified():
    verdict = _judge(BASE, FIXED, run={"exit": 3})
    assert verdict.status is Status.NOT_VERIFIED
    assert "exited with 3 although no test failed" in verdict.reason


def test_targets_passing_at_baseline_get_their_own_verdict():
    verdict = _judge(BASE, FIXED, targets=["t.py::bug", "t.py::ok"])
    assert verdict.status is Status.TARGETS_ALREADY_PASS
    assert "1 of 2 target tests already pass" in verdict.reason
    assert "t.py::ok" in verdict.reason


def test_a_flagged_patch_is_suspect_when_tests_pass_and_listed_otherwise():
    flags = ["calc.py:3: detects that it runs under pytest: ..."]
    assert _judge(BASE, FIXED, flags=flags).status is Status.SUSPECT
    failing = _judge(BASE, BASE, flags=flags)
    assert failing.status is Status.NOT_VERIFIED
    assert failing.flags == flags


def _patch(path: str, *added: str) -> str:
    body = "".join(f"+{line}\n" for line in added)
    return f"--- a/{path}\n+++ b/{path}\n@@ -1,1 +1,{len(added) + 1} @@\n x = 1\n{body}"


def test_test_aware_source_is_flagged():
    cases = {
        "os.environ.get('PYTEST_CURRENT_TEST')": "runs under pytest",
        "frame = sys._getframe(1)": "caller's stack",
        "if 'pytest' in sys.modules: return 5": "test framework",
        "atexit.register(lambda: None)": "exits",
        "if open('tests/test_calc.py').read(): pass": "test file",
        "if name == 'test_parse_empty': return []": "names the test test_parse_empty",
    }
    base = report(full("tests/test_p.py::test_parse_empty"))
    for line, meaning in cases.items():
        findings = scan_patch(_patch("pkg/mod.py", line), base)
        assert findings and meaning in findings[0], (line, findings)
        assert findings[0].startswith("pkg/mod.py:2: ")


def test_ordinary_fixes_and_tests_are_not_flagged():
    assert scan_patch(_patch("pkg/mod.py", "return a + b  # pytest taught us", "y = [x]")) == []
    assert scan_patch(_patch("tests/test_mod.py", "import pytest", "def test_x(): pass")) == []
    # Hooks that rewrite outcomes are flagged even in a conftest.
    hook = scan_patch(_patch("conftest.py", "def pytest_runtest_makereport(item, call):"))
    assert hook and "how test outcomes are reported" in hook[0]


def test_setup_repair_rules():
    from verifix.sandbox.envrepair import repair_for

    build = "  File \"setup.py\", line 1\nModuleNotFoundError: No module named 'numpy'\n"
    assert repair_for(build, []) == "python -m pip install numpy"
    assert repair_for(build, ["python -m pip install numpy"]) is None  # no loop
    assert repair_for("No module named 'yaml'", []) == "python -m pip install pyyaml"
    old = (
        "ERROR: Could not find a version that satisfies the requirement typed-ast<1.5 "
        "(from versions: none)\nERROR: No matching distribution found for typed-ast<1.5\n"
    )
    assert repair_for(old, []) == (
        "env -u PIP_UPLOADED_PRIOR_TO python -m pip install 'typed-ast<1.5'"
    )
    assert repair_for("error: subprocess-exited-with-error", []) is None
    metadata = (
        "WARNING: Ignoring version 2.8.0 of unyt since it has invalid metadata:\n"
        "Expected matching RIGHT_PARENTHESIS\nPlease use pip<24.1 for this version.\n"
        "ERROR: No matching distribution found for unyt\n"
    )
    assert repair_for(metadata, []) == "env -u PIP_UPLOADED_PRIOR_TO python -m pip install unyt"
    compiler = "error: command 'x86_64-linux-gnu-g++' failed: No such file or directory"
    assert repair_for(compiler, []).endswith("--no-install-recommends build-essential")
    tools = (
        "FileNotFoundError: [Errno 2] No such file or directory: 'icu-config'\n"
        "FileNotFoundError: [Errno 2] No such file or directory: 'pkg-config'\n"
    )
    first = repair_for(tools, [])
    assert first.endswith(" libicu-dev")
    assert repair_for(tools, [first]).endswith(" pkg-config")
    assert repair_for("'npm -v' failed (is node/npm installed?)", []).endswith(" npm")
    cython = "error: missing build requirement 'Cython >= 3.0.0'\nFailed to build mpi4py"
    assert repair_for(cython, []) == "python -m pip install 'Cython>=3.0.0'"
    assert repair_for("OSError: No pandoc was found: either install pandoc", []).endswith(" pandoc")
    headers = "fatal error: Python.h: No such file or directory"
    assert repair_for(headers, []).endswith("--no-install-recommends python3-dev")


def test_a_cut_id_targets_the_tests_it_names_that_fail():
    base = report([*full("t.py::test_x[select a;-]"), *full("t.py::test_x[select b;;-]", "failed")])
    fixed = report([*full("t.py::test_x[select a;-]"), *full("t.py::test_x[select b;;-]")])
    verdict = judge(base, fixed, targets=["t.py::test_x[select"], must_pass=[])
    assert verdict.status is Status.VERIFIED
    assert [t.id for t in verdict.targets] == ["t.py::test_x[select b;;-]"]
    broken = report(
        [*full("t.py::test_x[select a;-]", "failed"), *full("t.py::test_x[select b;;-]")]
    )
    assert judge(base, broken, targets=["t.py::test_x[select"], must_pass=[]).broken
    all_pass = judge(fixed, fixed, targets=["t.py::test_x[select"], must_pass=[])
    assert all_pass.status is Status.TARGETS_ALREADY_PASS


def test_collection_repair_rules():
    from verifix.sandbox.envrepair import collect_repair_for

    usage = (
        "ERROR: usage: __main__.py [options] [file_or_dir] [file_or_dir] [...]\n"
        "__main__.py: error: unrecognized arguments: --cov=pkg --cov-report=xml -n 2\n"
    )
    assert collect_repair_for(usage, []) == "python -m pip install pytest-cov"
    assert collect_repair_for(usage, ["python -m pip install pytest-cov"]) == (
        "python -m pip install pytest-xdist"
    )
    plugin = (
        "pluggy.PluginValidationError: Plugin 'pytest_cov' could not be loaded: "
        "(pytest 3.5.1 (/opt/venv/lib/python3.9/site-packages), "
        "Requirement.parse('pytest>=4.6'))!"
    )
    assert collect_repair_for(plugin, []) == "python -m pip install 'pytest>=4.6'"
    conftest = "ImportError while loading conftest\nE   ModuleNotFoundError: No module named 'nx'"
    assert collect_repair_for(conftest, []) == "python -m pip install nx"
    assert collect_repair_for("INTERNALERROR> AssertionError", []) is None
    assert collect_repair_for("No module named 'pandas.plotting._style'", []) is None
    assert collect_repair_for("No module named '...'", []) is None


def test_a_test_parametrized_by_the_time_is_not_broken_by_a_new_id():
    """marshmallow's ids hold the current time: each run has new ones. A passing test whose
    id changed is not a regression; one that fails with the patch, or is gone with no new
    passing id of its test, still is."""
    stamp = "tests/t.py::test_when[02:20:23 2026-11-23]"
    later = "tests/t.py::test_when[02:21:40 2026-11-23]"
    baseline = report([*full("tests/t.py::target", "failed"), *full(stamp), *full("t.py::b[1]")])

    renamed = report([*full("tests/t.py::target"), *full(later), *full("t.py::b[1]")])
    verdict = judge(baseline, renamed, targets=None, must_pass=None)
    assert verdict.status is Status.VERIFIED, verdict.reason

    failing = report([*full("tests/t.py::target"), *full(later, "failed"), *full("t.py::b[1]")])
    verdict = judge(baseline, failing, targets=None, must_pass=None)
    assert verdict.status is Status.NOT_VERIFIED
    assert [c.id for c in verdict.broken] == [stamp]

    gone = report([*full("tests/t.py::target"), *full("t.py::b[1]")])
    assert judge(baseline, gone, targets=None, must_pass=None).status is Status.NOT_VERIFIED

    # Named tests to keep passing are names: a named id that vanished is broken.
    named = judge(baseline, renamed, targets=None, must_pass=[stamp])
    assert named.status is Status.NOT_VERIFIED


def test_a_baseline_joined_with_a_new_files_run_counts_both():
    from verifix.sandbox.testrun import joined

    known = report([*full("t.py::a"), *full("t.py::b", "failed")])
    added = report(full("tests/test_verifix_repro.py::test_x", "failed"))

    both = joined(known, added)

    assert set(both.results) == {"t.py::a", "t.py::b", "tests/test_verifix_repro.py::test_x"}
    assert both.counts == {"passed": 1, "failed": 2} and both.command == known.command
