"""Read-only snapshots of a user's repository, as tar archives for the sandbox.

The user's working tree, index, branches and stash are never touched: the working-tree
snapshot is written through a throwaway index file (like ``git stash create`` does), so the
only trace left is unreferenced objects that ``git gc`` collects.
"""

from __future__ import annotations

import atexit
import io
import re
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from packaging.version import InvalidVersion, Version

from . import git
from .errors import UsageError


@dataclass
class Snapshot:
    """One state of a repo: a git tree, its tar, its file list, and an extracted copy on disk.

    The extracted copy is what detection reads, so detection sees exactly what the sandbox
    will see (a base commit in SWE-bench mode, not whatever is checked out).
    """

    repo: Path
    tree: str
    description: str
    workdir: Path
    scm_version: str | None
    #: When the snapshot's commit was made (HEAD's for a working tree): the project's era.
    commit_date: date | None = None
    #: Files whose content the repo does not have (partial clones, mirrors without large
    #: blobs); left out of the snapshot, and said so in every verdict.
    missing: list[str] = field(default_factory=list)
    #: What else a user must know about the snapshot (submodules left out, and why).
    notes: list[str] = field(default_factory=list)

    @property
    def tar_path(self) -> Path:
        return self.workdir / "snapshot.tar"

    @property
    def file_list_path(self) -> Path:
        """NUL-separated paths in the snapshot, so the sandbox can add force-tracked files."""
        return self.workdir / "files.nul"

    @property
    def root(self) -> Path:
        return self.workdir / "tree"

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        _open_workdirs.discard(self.workdir)

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Snapshot folders not yet closed. They are 20-25 MB each, so one an interrupt kept from
#: its ``close`` (in the instant before the caller's ``with``) is removed at exit.
_open_workdirs: set[Path] = set()


@atexit.register
def _remove_open_workdirs() -> None:
    for workdir in list(_open_workdirs):
        shutil.rmtree(workdir, ignore_errors=True)


def repo_root(path: Path) -> Path:
    """The top of the git work tree containing ``path``, or a UsageError saying what to do."""
    if not path.exists():
        raise UsageError(f"{path} does not exist: pass the path of a git repository")
    top = git.toplevel(path)
    if top is not None:
        return top
    if git.is_bare(path):
        return path.resolve()  # a mirror: enough for commit snapshots
    raise UsageError(
        f"{path} is not a git repository: verifix snapshots repos with git "
        "(run 'git init' and commit, or pass the repo's path)"
    )


def _scm_version(repo: Path, rev: str) -> str | None:
    """A PEP 440 version from the nearest tag, for projects whose version comes from git.

    The sandbox copy has no history, so setuptools-scm there is told this version through
    SETUPTOOLS_SCM_PRETEND_VERSION instead of reading tags. When no tag is reachable from
    the commit (releases tagged on branches that were never merged back), the newest
    version tag made before the commit stands in: a project that checks its own installed
    version (pytest's ``minversion`` when the project is a pytest plugin or pytest itself)
    needs a real one, not ``0.1.dev0``.
    """
    match = re.match(r"^v?(.+)-(\d+)-g[0-9a-f]+$", git.describe_tag(repo, rev) or "")
    if match:
        tag, distance = match.group(1), int(match.group(2))
        candidate = tag if distance == 0 else f"{tag}.post{distance}"
        try:
            return str(Version(candidate))
        except InvalidVersion:
            pass
    return _tag_before(repo, rev) or "0.1.dev0"


def _tag_before(repo: Path, rev: str) -> str | None:
    """The highest version among tags whose commit is no newer than ``rev``'s, plus .post1."""
    when = git.commit_time(repo, rev)
    best: Version | None = None
    for name, stamp in git.tag_times(repo):
        try:
            version = Version(name.lstrip("v"))
        except InvalidVersion:
            continue
        if when is not None and stamp > when:
            continue
        if not version.is_prerelease and (best is None or version > best):
            best = version
    return f"{best}.post1" if best else None


def _archive_present_blobs(repo: Path, tree: str, tar_path: Path) -> list[str]:
    """Write the tree as a tar from the blobs the object store has; return what is missing.

    ``git archive`` refuses a tree with any missing blob, as found in partial clones and in
    mirrors that leave out large files.
    """
    blobs = [entry for entry in git.tree_entries(repo, tree) if entry.kind == "blob"]
    missing = []
    with tarfile.open(tar_path, "w") as tar:
        contents = git.read_blobs(repo, (entry.sha for entry in blobs))
        for entry, (_, data) in zip(blobs, contents, strict=True):
            if data is None:
                missing.append(entry.path)
                continue
            info = tarfile.TarInfo(entry.path)
            if entry.mode == "120000":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode(errors="surrogateescape")
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o755 if entry.mode == "100755" else 0o644
                tar.addfile(info, io.BytesIO(data))
    return missing


def _add_submodules(snap: Snapshot, repo: Path, tree: str, worktree: bool, depth: int = 0) -> None:
    """Append each initialized submodule's files to the snapshot's tar, under its path.

    ``git archive`` leaves submodules out, but a checkout with them initialized tests with
    their files, so the sandbox must have them: the submodule's working tree as the user
    sees it for working-tree snapshots, the recorded commit otherwise. One that is not
    initialized (or whose commit is not there) is left out and named.
    """
    for path, commit in (
        (entry.path, entry.sha) for entry in git.tree_entries(repo, tree) if entry.kind == "commit"
    ):
        sub = repo / path
        prefix = "/".join(p for p in (_prefix_in(snap, repo), path) if p)
        if not (sub / ".git").exists():
            snap.notes.append(
                f"submodule {prefix} is not initialized, left out "
                f"(git -C {snap.repo} submodule update --init {prefix})"
            )
            continue
        found = git.index_tree(sub, with_worktree=True) if worktree else git.tree_of(sub, commit)
        if found is None:
            snap.notes.append(f"submodule {prefix} lacks commit {commit[:12]}, left out")
            continue
        sub_tree, archived = found, io.BytesIO()
        if not git.archive(sub, sub_tree, archived, prefix=prefix):
            snap.notes.append(f"submodule {prefix} could not be archived, left out")
            continue
        archived.seek(0)
        with tarfile.open(snap.tar_path, "a") as tar, tarfile.open(fileobj=archived) as part:
            for member in part:
                if member.name == "pax_global_header":
                    continue
                tar.addfile(member, part.extractfile(member) if member.isfile() else None)
        if depth < 3:
            _add_submodules(snap, sub, sub_tree, worktree, depth + 1)


def _prefix_in(snap: Snapshot, repo: Path) -> str:
    """Where ``repo`` (the snapshot's repo or one of its submodules) sits in the snapshot."""
    return repo.relative_to(snap.repo).as_posix() if repo != snap.repo else ""


def _materialize(
    repo: Path, tree: str, description: str, rev_for_version: str, worktree: bool = False
) -> Snapshot:
    # The name is known and registered before the folder exists, so an interrupt at any
    # point from here on (Ctrl-C, SIGTERM as KeyboardInterrupt) leaves nothing behind.
    workdir = Path(tempfile.gettempdir(), f"verifix-snap-{uuid.uuid4().hex}")
    _open_workdirs.add(workdir)
    snap = Snapshot(repo, tree, description, workdir, None)
    try:
        workdir.mkdir(mode=0o700)
        with open(snap.tar_path, "wb") as out:
            archived = git.archive(repo, tree, out)
        if not archived:
            snap.missing = _archive_present_blobs(repo, tree, snap.tar_path)
        _add_submodules(snap, repo, tree, worktree)
        with tarfile.open(snap.tar_path) as tar:  # exactly what the sandbox will receive
            names = [m.name for m in tar if not m.isdir() and m.name != "pax_global_header"]
        snap.file_list_path.write_bytes(
            b"".join(n.encode(errors="surrogateescape") + b"\0" for n in names)
        )
        snap.root.mkdir()
        subprocess.run(["tar", "-x", "-f", str(snap.tar_path), "-C", str(snap.root)], check=True)
        snap.scm_version = _scm_version(repo, rev_for_version)
        snap.commit_date = git.commit_day(repo, rev_for_version)
    except BaseException as exc:
        snap.close()
        if isinstance(exc, (subprocess.CalledProcessError, OSError)):
            raise UsageError(f"could not snapshot {repo}: {exc}") from exc
        raise
    return snap


def of_worktree(path: Path) -> Snapshot:
    """What the user sees: HEAD plus uncommitted changes plus untracked, non-ignored files."""
    repo = repo_root(path)
    tree = git.index_tree(repo, with_worktree=True)
    head = git.short_head(repo)
    return _materialize(
        repo, tree, f"working tree of {repo} (HEAD {head or 'none'})", "HEAD", worktree=True
    )


def of_commit(path: Path, rev: str) -> Snapshot:
    """A committed state, e.g. a SWE-bench base_commit; it must exist in the repo."""
    repo = repo_root(path)
    tree = git.tree_of(repo, rev)
    if tree is None:
        raise UsageError(
            f"commit {rev} is not in {repo}: fetch it first (git -C {repo} fetch origin {rev})"
        )
    return _materialize(repo, tree, f"commit {rev[:12]} of {repo}", rev)


def of_staged(path: Path) -> Snapshot:
    """What ``git commit`` would record: the index as it is."""
    repo = repo_root(path)
    return _materialize(
        repo, git.index_tree(repo, with_worktree=False), f"staged changes in {repo}", "HEAD"
    )
