"""Snapshots of real git repos: submodules and versions from tags. No engine needed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import git
from verifix.sandbox import snapshot


def _repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    return path


def _with_submodule(tmp_path: Path) -> Path:
    lib = _repo(tmp_path / "lib", {"lib.py": "VALUE = 1\n"})
    app = _repo(tmp_path / "app", {"app.py": "import lib\n"})
    git(app, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(app, "commit", "-qm", "add lib")
    return app


def test_initialized_submodules_are_in_the_snapshot(tmp_path):
    app = _with_submodule(tmp_path)
    (app / "vendor" / "lib" / "lib.py").write_text("VALUE = 2\n")  # an uncommitted edit

    with snapshot.of_worktree(app) as snap:
        assert (snap.root / "vendor" / "lib" / "lib.py").read_text() == "VALUE = 2\n"
        assert b"vendor/lib/lib.py\0" in snap.file_list_path.read_bytes()
        assert snap.notes == []
    with snapshot.of_commit(app, "HEAD") as snap:
        assert (snap.root / "vendor" / "lib" / "lib.py").read_text() == "VALUE = 1\n"
    assert git(app, "status", "--porcelain") == " M vendor/lib\n"  # the user's state, as it was


def test_a_submodule_that_is_not_initialized_is_named(tmp_path):
    app = _with_submodule(tmp_path)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(app), str(clone)], check=True)

    with snapshot.of_worktree(clone) as snap:
        assert not (snap.root / "vendor" / "lib" / "lib.py").exists()
        assert len(snap.notes) == 1
        assert "submodule vendor/lib is not initialized" in snap.notes[0]
        assert "submodule update --init vendor/lib" in snap.notes[0]


def test_version_from_the_newest_earlier_tag_when_none_is_reachable(tmp_path):
    repo = _repo(tmp_path / "r", {"setup.py": "use_scm_version=True\n"})
    git(repo, "checkout", "-qb", "release")
    git(repo, "commit", "-q", "--allow-empty", "-m", "release 2.3.0")
    git(repo, "tag", "v2.3.0")
    git(repo, "checkout", "-q", "-")
    git(repo, "commit", "-q", "--allow-empty", "-m", "later work")

    with snapshot.of_commit(repo, "HEAD") as snap:
        assert snap.scm_version == "2.3.0.post1"
    git(repo, "tag", "v2.4.0")
    with snapshot.of_commit(repo, "HEAD") as snap:
        assert snap.scm_version == "2.4.0"
