"""Read-only snapshots of a user's repository, as tar archives for the sandbox.

The user's working tree, index, branches and stash are never touched: the working-tree
snapshot is written through a throwaway index file (like ``git stash create`` does), so the
only trace left is unreferenced objects that ``git gc`` collects.
"""

from __future__ import annotations

import atexit
import io
import os
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


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise UsageError(f"git {args[0]} failed in {repo}: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout


def repo_root(path: Path) -> Path:
    """The top of the git work tree containing ``path``, or a UsageError saying what to do."""
    if not path.exists():
        raise UsageError(f"{path} does not exist: pass the path of a git repository")
    proc = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        bare = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--is-bare-repository"],
            capture_output=True,
            text=True,
        )
        if bare.stdout.strip() == "true":
            return path.resolve()  # a mirror: enough for commit snapshots
        raise UsageError(
            f"{path} is not a git repository: verifix snapshots repos with git "
            "(run 'git init' and commit, or pass the repo's path)"
        )
    return Path(proc.stdout.strip())


def _scm_version(repo: Path, rev: str) -> str | None:
    """A PEP 440 version from the nearest tag, for projects whose version comes from git.

    The sandbox copy has no history, so setuptools-scm there is told this version through
    SETUPTOOLS_SCM_PRETEND_VERSION instead of reading tags. When no tag is reachable from
    the commit (releases tagged on branches that were never merged back), the newest
    version tag made before the commit stands in: a project that checks its own installed
    version (pytest's ``minversion`` when the project is a pytest plugin or pytest itself)
    needs a real one, not ``0.1.dev0``.
    """
    proc = subprocess.run(
        ["git", "-C", str(repo), "describe", "--tags", "--long", rev],
        capture_output=True,
        text=True,
    )
    match = re.match(r"^v?(.+)-(\d+)-g[0-9a-f]+$", proc.stdout.strip())
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
    when = subprocess.run(
        ["git", "-C", str(repo), "show", "-s", "--format=%ct", rev], capture_output=True, text=True
    ).stdout.strip()
    tags = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "for-each-ref",
            "--format=%(refname:short) %(*committerdate:unix)%(committerdate:unix)",
            "refs/tags",
        ],
        capture_output=True,
        text=True,
    ).stdout
    best: Version | None = None
    for line in tags.splitlines():
        name, _, stamp = line.partition(" ")
        try:
            version = Version(name.lstrip("v"))
            if when and int(stamp or 0) > int(when):
                continue
        except (InvalidVersion, ValueError):
            continue
        if not version.is_prerelease and (best is None or version > best):
            best = version
    return f"{best}.post1" if best else None


def _archive_present_blobs(repo: Path, tree: str, tar_path: Path) -> list[str]:
    """Write the tree as a tar from the blobs the object store has; return what is missing.

    ``git archive`` refuses a tree with any missing blob, as found in partial clones and in
    mirrors that leave out large files.
    """
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "-z", "--full-tree", tree],
        capture_output=True,
        check=True,
    ).stdout
    entries = []
    for record in listing.split(b"\0"):
        if record:
            meta, _, path = record.partition(b"\t")
            mode, kind, sha = meta.split()
            if kind == b"blob":
                entries.append((mode.decode(), sha.decode(), path.decode(errors="surrogateescape")))
    batch = subprocess.Popen(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert batch.stdin is not None and batch.stdout is not None
    missing = []
    with tarfile.open(tar_path, "w") as tar:
        for mode, sha, path in entries:
            batch.stdin.write(sha.encode() + b"\n")
            batch.stdin.flush()
            header = batch.stdout.readline().split()
            if header[-1] == b"missing":
                missing.append(path)
                continue
            data = batch.stdout.read(int(header[2]))
            batch.stdout.read(1)  # the newline after the content
            info = tarfile.TarInfo(path)
            if mode == "120000":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode(errors="surrogateescape")
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o755 if mode == "100755" else 0o644
                tar.addfile(info, io.BytesIO(data))
    batch.stdin.close()
    batch.wait()
    return missing


def _commit_date(repo: Path, rev: str) -> date | None:
    proc = subprocess.run(
        ["git", "-C", str(repo), "show", "-s", "--format=%cs", rev], capture_output=True, text=True
    )
    try:
        return date.fromisoformat(proc.stdout.strip())
    except ValueError:
        return None  # no commit yet


def _gitlinks(repo: Path, tree: str) -> list[tuple[str, str]]:
    """(path, commit) of every submodule entry in ``tree``."""
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "-z", "--full-tree", tree],
        capture_output=True,
    ).stdout
    links = []
    for record in listing.split(b"\0"):
        meta, _, path = record.partition(b"\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == b"commit":
            links.append((path.decode(errors="surrogateescape"), parts[2].decode()))
    return links


def _add_submodules(snap: Snapshot, repo: Path, tree: str, worktree: bool, depth: int = 0) -> None:
    """Append each initialized submodule's files to the snapshot's tar, under its path.

    ``git archive`` leaves submodules out, but a checkout with them initialized tests with
    their files, so the sandbox must have them: the submodule's working tree as the user
    sees it for working-tree snapshots, the recorded commit otherwise. One that is not
    initialized (or whose commit is not there) is left out and named.
    """
    for path, commit in _gitlinks(repo, tree):
        sub = repo / path
        prefix = "/".join(p for p in (_prefix_in(snap, repo), path) if p)
        if not (sub / ".git").exists():
            snap.notes.append(
                f"submodule {prefix} is not initialized, left out "
                f"(git -C {snap.repo} submodule update --init {prefix})"
            )
            continue
        if worktree:
            sub_tree = _tree_from_index(sub, add_all=True)
        else:
            found = subprocess.run(
                ["git", "-C", str(sub), "rev-parse", "--verify", "--quiet", f"{commit}^{{tree}}"],
                capture_output=True,
                text=True,
            )
            if found.returncode != 0:
                snap.notes.append(f"submodule {prefix} lacks commit {commit[:12]}, left out")
                continue
            sub_tree = found.stdout.strip()
        archived = subprocess.run(
            ["git", "-C", str(sub), "archive", "--format=tar", f"--prefix={prefix}/", sub_tree],
            capture_output=True,
        )
        if archived.returncode != 0:
            snap.notes.append(f"submodule {prefix} could not be archived, left out")
            continue
        with (
            tarfile.open(snap.tar_path, "a") as tar,
            tarfile.open(fileobj=io.BytesIO(archived.stdout)) as part,
        ):
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
            archived = subprocess.run(
                ["git", "-C", str(repo), "archive", "--format=tar", tree],
                stdout=out,
                stderr=subprocess.PIPE,
            )
        if archived.returncode != 0:
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
        snap.commit_date = _commit_date(repo, rev_for_version)
    except BaseException as exc:
        snap.close()
        if isinstance(exc, (subprocess.CalledProcessError, OSError)):
            raise UsageError(f"could not snapshot {repo}: {exc}") from exc
        raise
    return snap


def _tree_from_index(repo: Path, add_all: bool) -> str:
    """A tree object from a copy of the user's index (plus every change, with ``add_all``).

    The copy keeps the index's mtime, which git needs to spot "racily clean" entries
    (edited in the same second the index was written), and its stat data, so ``add -A``
    only hashes what changed; the user's own index file is never written, not even
    refreshed.
    """
    with tempfile.TemporaryDirectory(prefix="verifix-index-") as tmp:
        index = Path(tmp) / "index"
        git_index = Path(_git(repo, "rev-parse", "--git-path", "index").strip())
        git_index = git_index if git_index.is_absolute() else repo / git_index
        if git_index.is_file():
            shutil.copy2(git_index, index)
        env = {"GIT_INDEX_FILE": str(index)}
        if add_all:
            _git(repo, "add", "-A", env=env)
        return _git(repo, "write-tree", env=env).strip()


def of_worktree(path: Path) -> Snapshot:
    """What the user sees: HEAD plus uncommitted changes plus untracked, non-ignored files."""
    repo = repo_root(path)
    tree = _tree_from_index(repo, add_all=True)
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return _materialize(
        repo, tree, f"working tree of {repo} (HEAD {head or 'none'})", "HEAD", worktree=True
    )


def of_commit(path: Path, rev: str) -> Snapshot:
    """A committed state, e.g. a SWE-bench base_commit; it must exist in the repo."""
    repo = repo_root(path)
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{tree}}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise UsageError(
            f"commit {rev} is not in {repo}: fetch it first (git -C {repo} fetch origin {rev})"
        )
    return _materialize(repo, proc.stdout.strip(), f"commit {rev[:12]} of {repo}", rev)


def of_staged(path: Path) -> Snapshot:
    """What ``git commit`` would record: the index as it is."""
    repo = repo_root(path)
    return _materialize(
        repo, _tree_from_index(repo, add_all=False), f"staged changes in {repo}", "HEAD"
    )
