"""verifix.sandbox.git on real repositories in temporary folders: no engine, no mocks."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import git as run_git
from verifix.sandbox import git, snapshot
from verifix.sandbox.errors import UsageError


def _repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    for rel, text in (files or {"a.py": "A = 1\n"}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    run_git(path, "init", "-q", "-b", "main")
    run_git(path, "config", "user.name", "t")
    run_git(path, "config", "user.email", "t@t")
    run_git(path, "add", "-A")
    run_git(path, "commit", "-qm", "initial")
    return path


def _state(repo: Path) -> tuple[str, ...]:
    """Everything of the user's that verifix promises not to change (asked without
    refreshing the index, as a plain ``git status`` would)."""
    index = repo / ".git" / "index"
    written = index.read_bytes().hex(), str(index.stat().st_mtime_ns)
    return (
        run_git(repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"),
        run_git(repo, "rev-parse", "HEAD"),
        run_git(repo, "branch", "--list", "--format=%(refname) %(objectname)"),
        run_git(repo, "stash", "list"),
        *written,
    )


def _tar_files(repo: Path, tree: str) -> dict[str, bytes]:
    out = io.BytesIO()
    assert git.archive(repo, tree, out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_importing_the_module_does_not_import_gitpython():
    code = "import sys, verifix.sandbox.git; print('git' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr


def test_nothing_inside_containers_imports_it():
    incontainer = Path(snapshot.__file__).parent / "incontainer"
    for source in incontainer.glob("*.py"):
        text = source.read_text()
        assert "import git" not in text and "sandbox.git" not in text, source


def test_the_working_tree_as_a_tree_leaves_the_users_state_alone(tmp_path):
    repo = _repo(tmp_path / "r", {"a.py": "A = 1\n", "b.py": "B = 1\n", ".gitignore": "*.log\n"})
    (repo / "a.py").write_text("A = 2\n")  # unstaged
    (repo / "b.py").write_text("B = 2\n")
    run_git(repo, "add", "b.py")  # staged
    (repo / "new.py").write_text("N = 1\n")  # untracked
    (repo / "debug.log").write_text("ignored\n")
    before = _state(repo)

    seen = _tar_files(repo, git.index_tree(repo, with_worktree=True))
    staged = _tar_files(repo, git.index_tree(repo, with_worktree=False))

    assert seen == {
        ".gitignore": b"*.log\n",
        "a.py": b"A = 2\n",
        "b.py": b"B = 2\n",
        "new.py": b"N = 1\n",
    }
    assert staged == {".gitignore": b"*.log\n", "a.py": b"A = 1\n", "b.py": b"B = 2\n"}
    assert _state(repo) == before


def test_a_pre_commit_hooks_index_is_the_one_read(tmp_path, monkeypatch):
    repo = _repo(tmp_path / "r")
    (repo / "a.py").write_text("A = 3\n")
    other = tmp_path / "hook-index"
    subprocess.run(
        ["git", "-C", str(repo), "add", "a.py"],
        env={**os.environ, "GIT_INDEX_FILE": str(other)},
        check=True,
    )
    monkeypatch.setenv("GIT_INDEX_FILE", str(other))  # as git sets it for `commit a.py`

    assert git.git_path(repo, "index") == other
    assert _tar_files(repo, git.index_tree(repo, with_worktree=False))["a.py"] == b"A = 3\n"


def test_blobs_the_store_lacks_are_named_not_fatal(tmp_path):
    repo = _repo(tmp_path / "r", {"small.py": "S = 1\n"})
    small = run_git(repo, "rev-parse", "HEAD:small.py").strip()
    absent = "1" * 40
    listing = f"100644 blob {small}\tsmall.py\n100644 blob {absent}\tbig.bin\n"
    tree = subprocess.run(
        ["git", "-C", str(repo), "mktree", "--missing"],
        input=listing,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    assert not git.archive(repo, tree, io.BytesIO())
    assert list(git.read_blobs(repo, [small, absent, small])) == [
        (small, b"S = 1\n"),
        (absent, None),
        (small, b"S = 1\n"),
    ]
    commit = run_git(repo, "commit-tree", tree, "-m", "partial").strip()
    with snapshot.of_commit(repo, commit) as snap:
        assert snap.missing == ["big.bin"]
        assert (snap.root / "small.py").read_text() == "S = 1\n"


def test_tree_entries_name_files_links_and_submodules(tmp_path):
    lib = _repo(tmp_path / "lib")
    app = _repo(tmp_path / "app", {"pkg/mod.py": "M = 1\n"})
    (app / "link").symlink_to("pkg/mod.py")
    (app / "run.sh").write_text("#!/bin/sh\n")
    (app / "run.sh").chmod(0o755)
    run_git(app, "add", "-A")
    run_git(app, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor")
    run_git(app, "commit", "-qm", "more")

    entries = {e.path: e for e in git.tree_entries(app, "HEAD")}

    assert entries["pkg/mod.py"].kind == "blob" and entries["pkg/mod.py"].mode == "100644"
    assert entries["link"].mode == "120000" and entries["run.sh"].mode == "100755"
    assert entries["vendor"].kind == "commit"
    assert entries["vendor"].sha == run_git(lib, "rev-parse", "HEAD").strip()
    assert git.tree_of(app / "vendor", entries["vendor"].sha) is not None
    assert git.tree_of(app, "f" * 40) is None


def test_a_patch_committed_on_a_new_branch_moves_nothing_else(tmp_path):
    repo = _repo(tmp_path / "r")
    (repo / "wip.txt").write_text("the user's work\n")
    patch = "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-A = 1\n+A = 2\n"
    before = _state(repo)
    head = git.resolve_commit(repo, "HEAD")

    commit = git.commit_patch(repo, head, patch, "Fix: A")
    assert not git.branch_exists(repo, "verifix/fix")
    git.create_branch(repo, "verifix/fix", commit)

    assert git.branch_exists(repo, "verifix/fix")
    assert run_git(repo, "show", "verifix/fix:a.py") == "A = 2\n"
    assert run_git(repo, "rev-parse", "verifix/fix~1").strip() == head
    assert git.current_branch(repo) == "main"
    after = _state(repo)
    assert after[:2] + after[3:] == before[:2] + before[3:]  # status, HEAD, stash, index
    assert after[2] == before[2] + f"refs/heads/verifix/fix {commit}\n"
    with pytest.raises(git.GitError, match=r"^git branch failed in .*already exists"):
        git.create_branch(repo, "verifix/fix", commit)


def test_apply_writes_the_working_tree_and_dirty_files_are_found(tmp_path):
    repo = _repo(tmp_path / "r", {"a.py": "A = 1\n", "b.py": "B = 1\n"})
    git.apply_patch(repo, "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-A = 1\n+A = 2\n")
    (repo / "c.py").write_text("C = 1\n")

    assert (repo / "a.py").read_text() == "A = 2\n"
    assert git.changed_paths(repo, ["a.py", "b.py", "c.py"]) == ["a.py", "c.py"]
    with pytest.raises(git.GitError) as failed:
        git.apply_patch(repo, "--- a/b.py\n+++ b/b.py\n@@ -1 +1 @@\n-B = 9\n+B = 2\n")
    assert isinstance(failed.value, UsageError) and "\n" not in str(failed.value)
    assert str(failed.value).startswith(f"git apply failed in {repo}: ")


def test_history_questions_on_a_repo_without_commits(tmp_path):
    empty = tmp_path / "e"
    empty.mkdir()
    run_git(empty, "init", "-q", "-b", "trunk")

    assert git.short_head(empty) is None
    assert git.commit_time(empty, "HEAD") is None and git.commit_day(empty, "HEAD") is None
    assert git.describe_tag(empty, "HEAD") is None and git.tag_times(empty) == []
    assert git.current_branch(empty) == "trunk"


def test_tags_and_dates(tmp_path):
    repo = _repo(tmp_path / "r")
    run_git(repo, "tag", "v1.0")
    run_git(repo, "tag", "-a", "v1.1", "-m", "annotated")
    tree_tag = run_git(repo, "rev-parse", "HEAD^{tree}").strip()
    run_git(repo, "tag", "tree-tag", tree_tag)
    run_git(repo, "commit", "-q", "--allow-empty", "-m", "next")

    tagged = git.commit_time(repo, "HEAD~1")
    assert tagged and git.commit_day(repo, "HEAD") is not None
    described = git.describe_tag(repo, "HEAD") or ""
    assert described.startswith("v1.") and described.split("-")[1] == "1"
    # Annotated tags count by their commit's date; a tag of a tree has none.
    assert dict(git.tag_times(repo)) == {"v1.0": tagged, "v1.1": tagged, "tree-tag": 0}
    assert len(git.short_head(repo) or "") >= 7


def test_where_things_are(tmp_path):
    repo = _repo(tmp_path / "r", {"pkg/a.py": ""})
    bare = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(bare)], check=True)
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    linked = tmp_path / "linked"
    run_git(repo, "worktree", "add", "-q", str(linked), "-b", "other")

    assert git.toplevel(repo / "pkg") == repo.resolve()
    assert git.toplevel(nothing) is None and not git.is_bare(nothing)
    assert git.toplevel(bare) is None and git.is_bare(bare)
    assert snapshot.repo_root(bare) == bare.resolve()
    assert git.git_path(repo, "hooks") == repo / ".git" / "hooks"
    assert git.git_path(linked, "index") == repo / ".git" / "worktrees" / "linked" / "index"
    assert git.current_branch(linked) == "other"
    with pytest.raises(UsageError, match="is not a git repository"):
        snapshot.repo_root(nothing)
    with pytest.raises(git.GitError, match="does not exist"):
        git.resolve_commit(tmp_path / "gone", "HEAD")  # never run in the current folder


def test_config_and_excludes(tmp_path):
    repo = _repo(tmp_path / "r")
    assert git.config_value(repo, "core.hooksPath") is None
    run_git(repo, "config", "core.hooksPath", ".husky")
    assert git.config_value(repo, "core.hooksPath") == ".husky"

    exclude = repo / ".git" / "info" / "exclude"
    exclude.write_text("*.tmp")  # no newline at the end
    git.add_exclude(repo, "/.verifix/")
    git.add_exclude(repo, "/.verifix/")
    assert exclude.read_text() == "*.tmp\n/.verifix/\n"
    (repo / ".verifix").mkdir()
    (repo / ".verifix" / "run.json").write_text("{}")
    assert run_git(repo, "status", "--porcelain", "--untracked-files=all") == ""

    elsewhere = tmp_path / "plain"
    elsewhere.mkdir()
    git.add_exclude(elsewhere, "/.verifix/")  # not a repository: nothing to do
    assert not (elsewhere / ".git").exists()


def test_current_branch(tmp_path):
    repo = _repo(tmp_path / "r")
    run_git(repo, "checkout", "-qb", "feature/x")
    assert git.current_branch(repo) == "feature/x"
    run_git(repo, "checkout", "-q", "--detach")
    assert git.current_branch(repo) == ""
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git.current_branch(plain) == ""


def test_init_commit_needs_no_identity_and_ignores_signing(tmp_path, monkeypatch):
    config = tmp_path / "gitconfig"
    config.write_text("[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = false\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "shop.py").write_text("PRICE = 1\n")
    (demo / ".gitignore").write_text("*.pyc\n")
    (demo / "shop.pyc").write_bytes(b"\0")

    commit = git.init_commit(demo, "shop with a discount bug")

    assert commit == run_git(demo, "rev-parse", "HEAD").strip()
    assert run_git(demo, "log", "-1", "--format=%an <%ae>|%cn|%s") == (
        "verifix <demo@verifix>|verifix|shop with a discount bug\n"
    )
    assert run_git(demo, "ls-files").split() == [".gitignore", "shop.py"]
    assert run_git(demo, "status", "--porcelain") == ""


def test_remotes_push_and_list_branches(tmp_path):
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    repo = _repo(tmp_path / "r")
    assert git.origin_url(repo) is None
    run_git(repo, "remote", "add", "origin", str(origin))
    run_git(repo, "branch", "verifix/issue-7")
    env = git.remote_env("", None)

    assert git.origin_url(repo) == str(origin)
    assert git.remote_heads(repo, "verifix/issue-7*", env) == set()
    git.push_branch(repo, "verifix/issue-7", env)
    assert git.remote_heads(repo, "verifix/issue-7*", env) == {"verifix/issue-7"}
    with pytest.raises(git.GitError) as failed:
        git.push_branch(repo, "no-such-branch", env)
    assert failed.value.detail and "\n" not in str(failed.value)
    run_git(repo, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    assert git.remote_heads(repo, "verifix/*", env) == set()


def test_shallow_clone_and_refresh_keep_only_the_records(tmp_path):
    upstream = _repo(tmp_path / "up", {"a.py": "A = 1\n"})
    run_git(upstream, "commit", "-q", "--allow-empty", "-m", "second")
    url, target = (tmp_path / "up").as_uri(), tmp_path / "cache" / "o" / "r"
    env = git.remote_env(url, None)
    target.parent.mkdir(parents=True)

    git.shallow_clone(url, target, "main", env)
    assert run_git(target, "rev-list", "--count", "HEAD") == "1\n"
    (upstream / "a.py").write_text("A = 2\n")
    run_git(upstream, "commit", "-qam", "third")
    (target / "a.py").write_text("local edit\n")
    (target / "junk.txt").write_text("x")
    (target / ".verifix").mkdir()
    (target / ".verifix" / "run.json").write_text("{}")

    git.shallow_refresh(target, "main", env, keep=".verifix/")

    assert (target / "a.py").read_text() == "A = 2\n" and not (target / "junk.txt").exists()
    assert (target / ".verifix" / "run.json").exists()
    with pytest.raises(git.GitError, match=r"^git fetch failed in "):
        git.shallow_refresh(target, "no-such-branch", env, keep=".verifix/")
    with pytest.raises(git.GitError, match=r"^git clone failed: "):
        git.shallow_clone(url, tmp_path / "other", "no-such-branch", env)


def test_the_token_travels_in_the_environment_scoped_to_one_host(monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.pager")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "cat")

    env = git.remote_env("https://user@github.example:8443/acme/calc.git", "t0k")

    secret = base64.b64encode(b"x-access-token:t0k").decode()
    key = "http.https://github.example:8443/.extraheader"
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_CONFIG_COUNT"] == "3"
    assert env["GIT_CONFIG_KEY_0"] == "core.pager"  # the caller's own stay
    assert (env["GIT_CONFIG_KEY_1"], env["GIT_CONFIG_VALUE_1"]) == (key, "")
    assert (env["GIT_CONFIG_KEY_2"], env["GIT_CONFIG_VALUE_2"]) == (
        key,
        f"Authorization: Basic {secret}",
    )
    assert "GIT_CONFIG_KEY_1" not in git.remote_env("git@github.com:acme/calc.git", "t0k")
    assert "GIT_CONFIG_KEY_1" not in git.remote_env("https://github.com/acme/calc.git", None)


@pytest.mark.parametrize("layout", ["mirror.git", "acme+calc/repo"])
def test_a_mirror_is_read_from_itself_wherever_verifix_runs(tmp_path, monkeypatch, layout):
    """A bare mirror (also one kept as ``NAME/repo``, which GitPython takes for the ``.git``
    of a work tree at ``NAME``) is read from its own objects, even when the current folder
    is another repository."""
    repo = _repo(tmp_path / "origin", {"mine.py": "x = 1\n"})
    mirror = tmp_path / layout
    mirror.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(mirror)], check=True)
    monkeypatch.chdir(_repo(tmp_path / "elsewhere", {"other.py": "y = 2\n"}))

    with snapshot.of_commit(mirror, "HEAD") as snap:
        assert sorted(p.name for p in snap.root.rglob("*.py")) == ["mine.py"]
    tree = git.tree_of(mirror, "HEAD")
    (entry,) = [e for e in git.tree_entries(mirror, tree) if e.path == "mine.py"]
    assert list(git.read_blobs(mirror, [entry.sha])) == [(entry.sha, b"x = 1\n")]
