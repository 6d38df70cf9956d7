"""Cheap checks first, the pure part: which tests a patch affects (a static scan of imports)
and the rules each stage judges by. No engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

from test_verdict_rules import full, report
from verifix.sandbox.incontainer.supervise import _any_not_passing
from verifix.sandbox.stages import (
    ImportIndex,
    affected_files,
    changed_paths,
    files_of,
    imports_changed,
    imports_of,
    module_names,
    plan_affected,
)
from verifix.sandbox.verdict import Status, judge_affected, judge_before_running, judge_targets

PATCH = """\
diff --git a/src/pkg/core.py b/src/pkg/core.py
--- a/src/pkg/core.py
+++ b/src/pkg/core.py
@@ -1 +1 @@
-x = 1
+x = 2
diff --git a/old_name.py b/new_name.py
similarity index 90%
rename from old_name.py
rename to new_name.py
diff --git a/docs/notes.txt b/docs/notes.txt
--- a/docs/notes.txt
+++ b/docs/notes.txt
@@ -1 +1 @@
-a
+b
"""


def test_changed_paths_are_every_path_the_diff_names():
    assert changed_paths(PATCH) == [
        "src/pkg/core.py",
        "old_name.py",
        "new_name.py",
        "docs/notes.txt",
    ]


def test_a_new_file_has_no_old_path():
    patch = "diff --git a/t.py b/t.py\nnew file mode 100644\n--- /dev/null\n+++ b/t.py\n"
    assert changed_paths(patch) == ["t.py"]


def test_module_names_are_every_tail_of_the_path():
    assert module_names("src/pkg/core.py") == {"src.pkg.core", "pkg.core", "core"}
    assert module_names("pkg/__init__.py") == {"pkg"}
    assert module_names("docs/notes.txt") == set()


def test_imports_are_found_at_any_depth_and_relative_ones_resolved():
    source = """\
import os, pkg.core as core
from pkg import util
from star import *
from . import helpers
from ..shared.fixtures import make

def test_late():
    try:
        import late.module
    except ImportError:
        pass
"""
    found = imports_of(source, "tests/unit/test_x.py")
    assert {"os", "pkg.core", "pkg", "pkg.util", "late.module"} <= found
    assert "tests.unit.helpers" in found and "tests.unit" in found
    assert "tests.shared.fixtures" in found and "tests.shared.fixtures.make" in found
    assert "star" in found and not any(name.endswith("*") for name in found)


def test_a_relative_import_above_the_root_and_bad_source_name_nothing():
    assert imports_of("from .... import x\n", "a/test_x.py") == frozenset()
    assert imports_of("def broken(:\n", "test_x.py") == frozenset()
    assert imports_of(b"\x00\x01", "test_x.py") == frozenset()
    assert imports_of("(" * 100_000, "test_x.py") == frozenset()


def test_importing_a_changed_module_or_inside_it_counts_but_not_its_parent():
    changed = module_names("pkg/core.py")
    assert imports_changed({"pkg.core"}, changed)
    assert imports_changed({"pkg.core.helper"}, changed)  # from pkg.core import helper
    assert imports_changed({"core"}, changed)  # a test folder on sys.path
    assert not imports_changed({"pkg"}, changed)  # the package, not the module
    assert not imports_changed({"pkg.corelib"}, changed)
    assert imports_changed({"pkg.sub"}, module_names("pkg/__init__.py"))


def write(root: Path, files: dict[str, str]) -> ImportIndex:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return ImportIndex(root)


def patch_of(*paths: str) -> str:
    return "".join(f"diff --git a/{p} b/{p}\n--- a/{p}\n+++ b/{p}\n@@ -1 +1 @@\n" for p in paths)


def test_affected_files_follow_the_documented_rule(tmp_path):
    index = write(
        tmp_path,
        {
            "src/pkg/core.py": "x = 1\n",
            "tests/test_core.py": "from pkg.core import x\n",
            "tests/test_util.py": "import pkg.util\n",
            "tests/test_target.py": "import os\n",
            "tests/test_changed.py": "import os\n",
            "tests/sub/conftest.py": "from pkg import core\n",
            "tests/sub/deep/test_under_conftest.py": "import os\n",
            "tests/other/test_plain.py": "import json\n",
        },
    )
    files = [
        "tests/test_core.py",
        "tests/test_util.py",
        "tests/test_target.py",
        "tests/test_changed.py",
        "tests/sub/deep/test_under_conftest.py",
        "tests/other/test_plain.py",
    ]
    chosen = affected_files(
        patch_of("src/pkg/core.py", "tests/test_changed.py"),
        files,
        ["tests/test_target.py::test_it"],
        index,
    )
    assert chosen == [
        "tests/sub/deep/test_under_conftest.py",  # its conftest imports the module
        "tests/test_changed.py",  # the patch changes it
        "tests/test_core.py",  # imports the module
        "tests/test_target.py",  # holds a target
    ]


def test_a_symlinked_or_special_file_is_never_read(tmp_path):
    index = write(tmp_path, {"real.py": "import pkg.core\n"})
    (tmp_path / "tests").mkdir()
    os.symlink(tmp_path / "real.py", tmp_path / "tests" / "test_link.py")
    os.symlink(tmp_path, tmp_path / "linked")
    os.mkfifo(tmp_path / "test_fifo.py")
    assert index.imports("tests/test_link.py") is None
    assert index.imports("linked/real.py") is None
    assert index.imports("test_fifo.py") is None
    assert index.imports("../etc/passwd") is None
    assert index.imports("real.py") == frozenset({"pkg.core"})


def test_each_file_is_parsed_once_per_index(tmp_path):
    index = write(tmp_path, {"tests/test_a.py": "import pkg.core\n"})
    assert index.imports("tests/test_a.py") == frozenset({"pkg.core"})
    (tmp_path / "tests/test_a.py").write_text("import other\n")
    assert index.imports("tests/test_a.py") == frozenset({"pkg.core"})


def test_files_of_test_ids():
    ids = ["a/test_x.py::t[1]", "a/test_x.py::t[2]", "b/test_y.py", "doc.rst::x"]
    assert files_of(ids) == ["a/test_x.py", "b/test_y.py"]


SUITE = {
    **{f"tests/test_other{i}.py::test_{j}": True for i in range(4) for j in range(3)},
    "tests/test_core.py::test_ok": True,
    "tests/test_core.py::test_env": False,  # fails at baseline already
    "tests/test_target.py::test_bug": False,
}


def core_repo(tmp_path: Path) -> ImportIndex:
    return write(
        tmp_path,
        {
            "pkg/core.py": "x = 1\n",
            "tests/test_core.py": "from pkg import core\n",
            "tests/test_target.py": "import os\n",
            **{f"tests/test_other{i}.py": "import json\n" for i in range(4)},
        },
    )


def test_the_plan_guards_what_passed_at_baseline_and_is_no_target(tmp_path):
    plan = plan_affected(
        patch_of("pkg/core.py"),
        SUITE,
        ["tests/test_target.py::test_bug"],
        None,
        core_repo(tmp_path),
    )
    assert not plan.skip
    assert plan.files == ["tests/test_core.py", "tests/test_target.py"]
    assert plan.guard == ["tests/test_core.py::test_ok"]
    assert plan.tests == 3


def test_must_pass_narrows_what_is_guarded(tmp_path):
    plan = plan_affected(
        patch_of("pkg/core.py"), SUITE, ["tests/test_target.py::test_bug"], [], core_repo(tmp_path)
    )
    assert plan.skip == "no affected test passed at baseline"


def test_nothing_affected_skips_the_stage(tmp_path):
    plan = plan_affected(patch_of("docs/x.txt"), SUITE, [], None, core_repo(tmp_path))
    assert plan.skip == "no test file imports the changed modules" and plan.files == []


def test_a_quarter_of_the_suite_or_more_affected_skips_the_stage(tmp_path):
    target = ["tests/test_target.py::test_bug"]
    index = core_repo(tmp_path / "small")
    assert not plan_affected(patch_of("pkg/core.py"), SUITE, target, None, index).skip  # 3 of 15
    assert (
        "3 of 15"
        in plan_affected(patch_of("pkg/core.py"), SUITE, target, None, index, max_share=0.2).skip
    )
    index = core_repo(tmp_path / "wide")
    for i in range(4):
        (tmp_path / f"wide/tests/test_other{i}.py").write_text("import pkg.core\n")
    plan = plan_affected(patch_of("pkg/core.py"), SUITE, [], None, index)
    assert plan.files == [] and "the full suite runs instead" in plan.skip


# --------------------------------------------------------------- the stages' judgement

T = "t.py::target"
OTHER = "t.py::other"
BASE = report([*full(T, "failed"), *full(OTHER)])


def test_a_target_failing_on_its_own_ends_the_check_at_the_targets_stage():
    alone = report(full(T, "failed"), exit=1)
    verdict = judge_targets(BASE, alone, targets=None, must_pass=None)
    assert verdict is not None
    assert verdict.status is Status.NOT_VERIFIED and verdict.stage == "targets"
    assert "1 of 1 target test still fails with the patch" in verdict.reason
    assert "the rest of the suite was not run" in verdict.reason
    assert verdict.targets[0].after == "failed" and verdict.broken == []
    assert verdict.confirmation == {
        "ran": True,
        "exit_code": 1,
        "command": "pytest",
        "not_passing": [T],
    }


def test_targets_passing_on_their_own_go_on_unless_the_run_exits_non_zero():
    assert judge_targets(BASE, report(full(T)), targets=None, must_pass=None) is None
    crashed = judge_targets(BASE, report(full(T), exit=3), targets=None, must_pass=None)
    assert crashed is not None and crashed.status is Status.NOT_VERIFIED
    assert "exits with 3" in crashed.reason


def test_a_target_run_timing_out_or_unjudged_ends_the_check():
    timed_out = report([], finished=False, timed_out=True, exit=124)
    verdict = judge_targets(BASE, timed_out, targets=None, must_pass=None)
    assert verdict is not None and verdict.status is Status.ERROR
    assert any("timed out" in e for e in verdict.errors)
    looped = report([full(T)[0]], finished=False, timed_out=True, exit=124)
    verdict = judge_targets(BASE, looped, targets=None, must_pass=None)
    assert verdict is not None and verdict.status is Status.NOT_VERIFIED
    assert any("timed out" in e for e in verdict.errors)


def test_a_named_target_naming_no_test_never_ran_but_a_flood_is_an_error():
    nothing = report([], finished=False, exit=4)
    verdict = judge_targets(BASE, nothing, targets=["t.py::nope"], must_pass=None)
    assert verdict is not None and verdict.status is Status.NOT_VERIFIED
    assert verdict.reason == "1 target test never ran (is the id right?): t.py::nope"
    flooded = report([], truncated=True, bytes=1 << 30)
    verdict = judge_targets(BASE, flooded, targets=["t.py::nope"], must_pass=None)
    assert verdict is not None and verdict.status is Status.ERROR
    broke = judge_targets(BASE, nothing, targets=None, must_pass=None)  # T ran at baseline
    assert broke is not None and broke.status is Status.ERROR
    assert "produced no test results" in broke.reason


def test_a_named_target_that_already_passes_is_decided_before_running():
    verdict = judge_before_running(BASE, targets=[OTHER], must_pass=None)
    assert verdict is not None and verdict.status is Status.TARGETS_ALREADY_PASS
    assert verdict.stage == "baseline"
    assert judge_before_running(BASE, targets=None, must_pass=None) is None


def test_an_affected_test_is_broken_only_where_it_passes_without_the_patch():
    affected = report([*full(T), *full(OTHER, "failed")], exit=1)
    control = report([*full(T, "failed"), *full(OTHER)], exit=1)
    verdict = judge_affected(
        BASE,
        affected,
        control,
        targets=None,
        must_pass=None,
        guard=[OTHER],
        confirm=report(full(T)),
    )
    assert verdict is not None
    assert verdict.status is Status.NOT_VERIFIED and verdict.stage == "affected"
    assert [b.id for b in verdict.broken] == [OTHER]
    assert verdict.targets[0].after == "passed"  # from the targets' own run
    assert "the full suite was not run" in verdict.reason


def test_an_affected_test_failing_without_the_patch_too_is_left_to_the_full_suite():
    """Order or isolation: it passed in the baseline's full run, but fails in this
    selection with or without the patch. Not the patch's doing: no rejection here."""
    affected = report([*full(T), *full(OTHER, "failed")], exit=1)
    control = report([*full(T, "failed"), *full(OTHER, "failed")], exit=1)
    kw = dict(targets=None, must_pass=None, guard=[OTHER])
    assert judge_affected(BASE, affected, control, **kw) is None
    assert judge_affected(BASE, affected, None, **kw) is None  # no control: no rejection
    unjudged = report([], finished=False, exit=2)
    assert judge_affected(BASE, affected, unjudged, **kw) is None


def test_a_target_failing_among_the_affected_tests_is_left_to_the_full_suite():
    affected = report([*full(T, "failed"), *full(OTHER)], exit=1)
    control = report([*full(T, "failed"), *full(OTHER)], exit=1)
    assert (
        judge_affected(BASE, affected, control, targets=None, must_pass=None, guard=[OTHER]) is None
    )


def test_the_supervisor_runs_a_control_only_when_a_guarded_test_did_not_pass():
    ok = {"timed_out": False, "truncated": False}

    def raw(*records):
        return b"".join(json.dumps(r).encode() + b"\n" for r in records)

    passing = raw(*full(OTHER), *full(T, "failed"))
    assert not _any_not_passing(passing, {OTHER}, ok)
    assert _any_not_passing(raw(*full(OTHER, "failed")), {OTHER}, ok)
    assert _any_not_passing(raw(full(OTHER)[0]), {OTHER}, ok)  # died after setup
    assert _any_not_passing(passing, {OTHER}, {**ok, "timed_out": True})
    assert not _any_not_passing(b"not json\n", {OTHER}, ok)  # not run here: the host judges
