"""The git hook, driven by real ``git push`` and ``git commit`` in temporary repositories
with a bare remote; the model is the local scripted server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import BUGGY_MODULE, git, verifix
from test_fix import RIGHT
from verifix.cli.example.scripted_model import ScriptedModel
from verifix.sandbox.tomlfile import read_toml

ROOT = Path(__file__).parent.parent
FIXED = BUGGY_MODULE.replace("a - b", "a + b")


def with_remote(repo: Path, tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def push(repo: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    branch = git(repo, "branch", "--show-current").strip()
    return subprocess.run(
        ["git", "-C", str(repo), "push", "-q", "origin", branch],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.docker
def test_passing_tests_let_the_push_through_and_the_earlier_hook_still_runs(make_repo, tmp_path):
    repo = make_repo()
    (repo / "calc.py").write_text(FIXED)
    git(repo, "commit", "-qam", "fix")
    with_remote(repo, tmp_path)
    earlier = repo / ".git" / "hooks" / "pre-push"
    earlier.write_text(f"#!/bin/sh\ncat > {tmp_path}/earlier-saw-stdin\n")
    earlier.chmod(0o755)

    installed = verifix("hook", "install", cwd=repo)
    again = verifix("hook", "install", cwd=repo)
    pushed = push(repo, {"VERIFIX_MODEL": ""})

    assert installed.code == 0 and "the earlier pre-push hook still runs first" in installed.err
    assert again.code == 0 and "already the pre-push hook" in again.err
    assert pushed.returncode == 0, pushed.stderr
    assert "verifix: 3 tests pass on" in pushed.stderr
    assert "refs/heads/" in (tmp_path / "earlier-saw-stdin").read_text()  # it got git's input
    status = verifix("hook", "status", cwd=repo)
    assert status.code == 0 and "pre-push: verifix (chained after the earlier hook)" in status.err

    assert verifix("hook", "uninstall", cwd=repo).code == 0
    assert earlier.read_text().startswith("#!/bin/sh\ncat > ")  # restored as it was
    assert not (repo / ".git" / "hooks" / "pre-push.verifix-chained").exists()


@pytest.mark.docker
def test_failing_tests_block_the_push_with_a_verified_fix_beside_the_work(make_repo, tmp_path):
    repo = make_repo()
    remote = with_remote(repo, tmp_path)
    (repo / "notes.txt").write_text("work in progress\n")  # untracked
    (repo / "calc.py").write_text(BUGGY_MODULE + "# local edit\n")
    git(repo, "stash", "-q")
    (repo / "calc.py").write_text(BUGGY_MODULE + "# another local edit\n")
    stash = git(repo, "stash", "list")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert verifix("hook", "install", cwd=repo).code == 0
    with ScriptedModel([RIGHT]) as model:
        (repo / ".verifix.toml").write_text("[model]\nprice_in = 1\nprice_out = 2\n")
        pushed = push(repo, {"VERIFIX_MODEL": "openai/scripted", "VERIFIX_API_BASE": model.url})

    assert pushed.returncode != 0
    assert "2 tests fail on" in pushed.stderr
    assert "git push --no-verify" in pushed.stderr
    patch = repo / ".verifix" / f"hook-{head[:8]}.patch"
    assert "+    return a + b" in patch.read_text()
    fixed = git(repo, "show", f"verifix/hook-{head[:8]}:calc.py")
    assert "return a + b" in fixed
    # Nothing of the user's changed, and nothing reached the remote.
    assert (repo / "calc.py").read_text() == BUGGY_MODULE + "# another local edit\n"
    assert (repo / "notes.txt").read_text() == "work in progress\n"
    assert git(repo, "stash", "list") == stash
    assert git(repo, "rev-parse", "HEAD").strip() == head
    assert (
        subprocess.run(
            ["git", "-C", str(remote), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True
        ).returncode
        != 0
    )


@pytest.mark.docker
def test_without_a_model_the_hook_reports_and_blocks_without_a_call(make_repo, tmp_path):
    repo = make_repo()
    with_remote(repo, tmp_path)
    assert verifix("hook", "install", cwd=repo).code == 0

    blocked = push(repo, {"VERIFIX_MODEL": ""})
    skipped = push(repo, {"VERIFIX_HOOK": "0"})

    assert blocked.returncode != 0
    assert "tests/test_calc.py::test_add" in blocked.stderr
    assert "no model is configured; nothing was sent to a model" in blocked.stderr
    assert skipped.returncode == 0, skipped.stderr


@pytest.mark.docker
def test_pre_commit_tests_the_staged_tree(make_repo):
    repo = make_repo()
    assert verifix("hook", "install", "--pre-commit", cwd=repo).code == 0
    (repo / "calc.py").write_text(FIXED)
    git(repo, "add", "calc.py")
    (repo / "calc.py").write_text(BUGGY_MODULE)  # the working tree is worse than the index

    committed = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "fix",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "VERIFIX_MODEL": ""},
    )

    assert committed.returncode == 0, committed.stderr
    assert "verifix: 3 tests pass on staged changes" in committed.stderr


def test_install_refuses_under_core_hooks_path(make_repo):
    repo = make_repo()
    git(repo, "config", "core.hooksPath", ".husky")
    result = verifix("hook", "install", cwd=repo)
    assert result.code == 2
    assert "core.hooksPath is set to .husky" in result.err
    assert not (repo / ".husky").exists()


def test_the_pre_commit_manifest_names_a_command_that_exists():
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["language"] == "python" and hook["stages"] == ["pre-push"]
    assert hook["pass_filenames"] is False and hook["always_run"] is True
    assert hook["require_serial"] is True
    words = hook["entry"].split()
    scripts = read_toml(ROOT / "pyproject.toml")["project"]["scripts"]
    assert words[0] in scripts
    assert verifix(*words[1:3], "--help").code == 0
    assert "--stage" in verifix(*words[1:3], "--help").out
