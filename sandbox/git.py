"""Every git operation verifix needs, in one place, on GitPython.

Nothing else in verifix runs git: this module does, through GitPython's command wrapper
(``git.Git`` and ``Repo.git``: plumbing such as ``ls-tree``, ``archive`` and
``cat-file --batch`` has no object API there, and the porcelain's exact semantics, such as
``add -A`` honouring every ignore rule, are what the callers rely on). Every failure
becomes a ``GitError``, a one-line ``UsageError`` that names the command, the folder and
git's last line of complaint.

Three promises hold for everything here:

- The user's working tree, index, branches and stash are never changed. Snapshots and
  commits go through a throwaway index file (``GIT_INDEX_FILE``), as ``git stash create``
  does; the only trace is unreferenced objects that ``git gc`` collects. The exceptions
  are explicit: ``apply_patch`` (``--apply``), ``create_branch`` (a new ref, never the
  current one), ``add_exclude`` (one line in ``.git/info/exclude``) and the operations on
  verifix's own clones (``shallow_clone``, ``shallow_refresh``, ``init_commit``).
- A token never appears on a command line (``ps`` shows those to every user) or in a
  stored URL or config: ``remote_env`` hands it to git in ``GIT_CONFIG_*`` variables.
- GitPython is imported only when a git operation runs: importing it costs about 50 ms
  and spawns ``git version``, which ``verifix --help`` must not pay for. Code that runs
  inside containers (``sandbox/incontainer``) never imports this module.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, NamedTuple

from .errors import UsageError

if TYPE_CHECKING:
    import git as gitpython

#: The identity of commits verifix makes in repositories of its own (the demo's).
IDENTITY = {
    "GIT_AUTHOR_NAME": "verifix",
    "GIT_AUTHOR_EMAIL": "demo@verifix",
    "GIT_COMMITTER_NAME": "verifix",
    "GIT_COMMITTER_EMAIL": "demo@verifix",
}


class GitError(UsageError):
    """A git command failed; ``detail`` is git's last line on stderr (``"?"`` if none)."""

    def __init__(self, message: str, detail: str = "?") -> None:
        super().__init__(message)
        self.detail = detail


class TreeEntry(NamedTuple):
    """One line of ``git ls-tree``: mode (``100644``), kind (``blob``, ``commit`` for a
    submodule), object id, and path (undecodable bytes kept as surrogate escapes)."""

    mode: str
    kind: str
    sha: str
    path: str


# -- running git ---------------------------------------------------------------------


def _gitpython() -> ModuleType:
    """GitPython, imported on first use (see the module's docstring)."""
    import git

    return git


def _run(
    cwd: Path | None,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    binary: bool = False,
    check: bool = True,
) -> tuple[int, str | bytes]:
    """Run ``git ARGS`` in ``cwd`` (the process's folder when None), as ``git -C cwd``
    would; return (status, stdout without its last newline).

    ``env`` is added to this process's environment. With ``check`` a failure raises a
    ``GitError``. ``cwd`` must exist: GitPython would otherwise quietly run git in the
    current folder, which may be another repository.
    """
    git = _gitpython()
    if cwd is not None and not Path(cwd).is_dir():
        raise GitError(f"{cwd} does not exist: pass the path of a git repository")
    command = git.Git(str(cwd) if cwd is not None else None)
    with tempfile.TemporaryFile() if stdin is not None else nullcontext() as istream:
        if istream is not None:
            istream.write(stdin)
            istream.seek(0)
        try:
            status, out, err = getattr(command, args[0].replace("-", "_"))(
                *args[1:],
                env=dict(env) if env else None,
                istream=istream,
                stdout_as_string=not binary,
                with_extended_output=True,
                with_exceptions=False,
            )
        except git.GitCommandNotFound as exc:
            raise GitError(f"could not run git {args[0]}: is git installed? ({exc})") from None
    if check and status != 0:
        detail = (err.strip().splitlines() or ["?"])[-1]
        where = f" in {cwd}" if cwd is not None else ""
        raise GitError(f"git {args[0]} failed{where}: {detail}", detail)
    return status, out


def _out(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> str:
    """The text ``git ARGS`` prints (given ``stdin`` as its input), or a ``GitError``."""
    return str(_run(cwd, *args, env=env, stdin=None if stdin is None else stdin.encode())[1])


def _maybe(cwd: Path, *args: str) -> str | None:
    """The text ``git ARGS`` prints, stripped, or None when it fails (a question whose
    answer may be "no")."""
    status, out = _run(cwd, *args, check=False)
    return str(out).strip() if status == 0 else None


@contextmanager
def _repo(path: Path) -> Iterator[gitpython.Repo]:
    """The repository containing ``path`` as a GitPython ``Repo``, closed afterwards (its
    persistent ``cat-file`` processes end with it)."""
    git = _gitpython()
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(f"{path} is not a git repository") from None
    try:
        yield repo
    finally:
        repo.close()


def _in(found: gitpython.Repo) -> gitpython.Git:
    """A command runner inside ``found``'s git folder, where object commands (cat-file,
    archive) work for every kind of repository. ``Repo.git`` of a bare repository runs in
    the process's current folder (another repository, or none), and GitPython takes a
    mirror kept as ``NAME/repo`` for the ``.git`` of a work tree at ``NAME``."""
    return _gitpython().Git(found.git_dir)


# -- where things are ----------------------------------------------------------------


def toplevel(path: Path) -> Path | None:
    """The top of the work tree containing ``path`` (symbolic links resolved, as git
    does), or None when ``path`` is in no work tree (not a repository, or a bare one)."""
    found = _maybe(path, "rev-parse", "--show-toplevel")
    return Path(found) if found else None


def is_bare(path: Path) -> bool:
    """Whether ``path`` is a bare repository (a mirror): enough for commit snapshots."""
    return _maybe(path, "rev-parse", "--is-bare-repository") == "true"


def git_path(repo: Path, name: str) -> Path:
    """Where git keeps ``name`` (``index``, ``hooks``, ``info/exclude``) for ``repo``, as
    an absolute path. Asked of git, because worktrees, submodules (``.git`` is a file
    there) and ``GIT_INDEX_FILE`` (set when a pre-commit hook runs) move these files."""
    found = Path(_out(repo, "rev-parse", "--git-path", name).strip())
    return found if found.is_absolute() else repo / found


def config_value(repo: Path, key: str) -> str | None:
    """``key``'s value as git sees it (every config file, includes, ``GIT_CONFIG_*``), or
    None when unset. GitPython's config reader would miss some of those, so git is asked."""
    return _maybe(repo, "config", "--get", key) or None


def add_exclude(repo: Path, pattern: str) -> None:
    """Keep ``pattern`` out of git through ``.git/info/exclude``, once.

    That file is local (never committed nor pushed), so verifix's own files stay out of
    the user's ``git status`` without an edit to their ``.gitignore``. Nothing happens
    outside a repository.
    """
    try:
        exclude = git_path(repo, "info/exclude")
    except GitError:
        return
    lines = exclude.read_text().splitlines() if exclude.is_file() else []
    if pattern not in lines:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as out:
            out.write(("\n" if lines and lines[-1] else "") + pattern + "\n")


# -- commits, tags, trees ------------------------------------------------------------


def resolve_commit(repo: Path, rev: str) -> str:
    """The full id of the commit ``rev`` names, or a ``GitError``."""
    return _out(repo, "rev-parse", "--verify", rev).strip()


def tree_of(repo: Path, rev: str) -> str | None:
    """The id of the tree of ``rev`` (a commit or a tree), or None when the repository does
    not have it (a commit never fetched, a submodule commit not checked out)."""
    return _maybe(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{tree}}")


def short_head(repo: Path) -> str | None:
    """HEAD's abbreviated id, or None before the first commit."""
    return _maybe(repo, "rev-parse", "--short", "HEAD") or None


def current_branch(repo: Path) -> str:
    """The branch HEAD is on (even before its first commit), or "" when HEAD is detached
    or ``repo`` is no repository: the caller picks a default (a pull request's base)."""
    try:
        with _repo(repo) as found:
            return "" if found.head.is_detached else found.head.reference.name
    except (GitError, TypeError, ValueError):
        return ""


def branch_exists(repo: Path, name: str) -> bool:
    """Whether the local branch ``name`` exists (so a new one must take another name)."""
    return _maybe(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}") is not None


def describe_tag(repo: Path, rev: str) -> str | None:
    """``git describe --tags --long`` of ``rev`` (``v1.2-3-gabc1234``), or None when no tag
    is reachable from it: the version setuptools-scm would derive from history."""
    return _maybe(repo, "describe", "--tags", "--long", rev) or None


def commit_time(repo: Path, rev: str) -> int | None:
    """When ``rev`` was committed, in Unix seconds, or None (no such commit yet)."""
    found = _maybe(repo, "show", "-s", "--format=%ct", rev)
    return int(found) if found and found.isdigit() else None


def commit_day(repo: Path, rev: str) -> date | None:
    """The day ``rev`` was committed (the project's era), or None (no such commit yet)."""
    try:
        return date.fromisoformat(_maybe(repo, "show", "-s", "--format=%cs", rev) or "")
    except ValueError:
        return None


def tag_times(repo: Path) -> list[tuple[str, int]]:
    """Every tag's short name and when its commit was made (Unix seconds; 0 for a tag of
    something other than a commit). Annotated tags count by their commit's date."""
    listing = _maybe(
        repo,
        "for-each-ref",
        "--format=%(refname:short) %(*committerdate:unix)%(committerdate:unix)",
        "refs/tags",
    )
    tags = []
    for line in (listing or "").splitlines():
        name, _, stamp = line.partition(" ")
        tags.append((name, int(stamp) if stamp.isdigit() else 0))
    return tags


def tree_entries(repo: Path, tree: str) -> list[TreeEntry]:
    """Every file, symbolic link and submodule entry in ``tree``, recursively."""
    listing = _run(repo, "ls-tree", "-r", "-z", "--full-tree", tree, binary=True)[1]
    assert isinstance(listing, bytes)
    entries = []
    for record in listing.split(b"\0"):
        meta, _, path = record.partition(b"\t")
        parts = meta.split()
        if len(parts) == 3:
            mode, kind, sha = (part.decode() for part in parts)
            entries.append(TreeEntry(mode, kind, sha, path.decode(errors="surrogateescape")))
    return entries


def read_blobs(repo: Path, shas: Iterable[str]) -> Iterator[tuple[str, bytes | None]]:
    """(id, content) of each blob, in order, through one ``git cat-file --batch``; content
    is None for a blob the object store does not have (partial clones, mirrors that leave
    out large files). The consumer must take every item (or close the iterator)."""
    with _repo(repo) as found:
        batch = _in(found).cat_file("--batch", as_process=True, istream=subprocess.PIPE)
        stdin, stdout = batch.proc.stdin, batch.proc.stdout
        try:
            for sha in shas:
                stdin.write(sha.encode() + b"\n")
                stdin.flush()
                header = stdout.readline().split()
                if not header:
                    raise GitError(f"git cat-file stopped answering in {repo}")
                if header[-1] == b"missing":
                    yield sha, None
                    continue
                data = stdout.read(int(header[2]))
                stdout.read(1)  # the newline after the content
                yield sha, data
        finally:
            stdin.close()
            batch.proc.wait()


def archive(repo: Path, tree: str, out: IO[bytes], prefix: str = "") -> bool:
    """Write ``tree`` to ``out`` as a tar (paths under ``prefix/`` when given); False when
    git refuses, as it does for a tree with any blob missing."""
    options = ["--format=tar", *([f"--prefix={prefix}/"] if prefix else [])]
    with _repo(repo) as found:
        status, *_ = _in(found).archive(
            *options,
            tree,
            output_stream=out,
            with_extended_output=True,
            with_exceptions=False,
        )
    return status == 0


def index_tree(repo: Path, with_worktree: bool) -> str:
    """A tree object of the index (``with_worktree``: plus every change and untracked file
    that is not ignored, what the user sees), made without touching the user's index.

    The work happens in a copy of the index, which keeps the original's mtime (git needs
    it to spot "racily clean" entries, edited in the same second the index was written)
    and its stat data, so ``add -A`` only hashes what changed; the user's own index file is
    never written, not even refreshed.
    """
    with tempfile.TemporaryDirectory(prefix="verifix-index-") as tmp:
        index = Path(tmp) / "index"
        user_index = git_path(repo, "index")
        if user_index.is_file():
            shutil.copy2(user_index, index)
        env = {"GIT_INDEX_FILE": str(index)}
        if with_worktree:
            _out(repo, "add", "-A", env=env)
        return _out(repo, "write-tree", env=env).strip()


# -- changing the user's repository, when asked --------------------------------------


def changed_paths(repo: Path, paths: Iterable[str]) -> list[str]:
    """Which of ``paths`` have uncommitted changes (staged, unstaged or untracked): work
    of the user's that a patch must not overwrite."""
    listing = _out(repo, "status", "--porcelain", "--", *paths)
    return [line[3:] for line in listing.splitlines() if line]


def apply_patch(repo: Path, patch: str) -> None:
    """Apply a unified diff to the working tree (``--apply``): the one operation here that
    edits the user's files, and only after ``changed_paths`` found none of them dirty."""
    _out(repo, "apply", "-", stdin=patch)


def commit_patch(repo: Path, parent: str, patch: str, message: str) -> str:
    """A commit of ``patch`` on top of the commit ``parent``; return its id.

    Made with plumbing in a throwaway index (``read-tree``, ``apply --cached``,
    ``write-tree``, ``commit-tree``), so no branch moves and the index and working tree
    stay exactly as they were; ``create_branch`` names the commit afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="verifix-commit-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _out(repo, "read-tree", parent, env=env)
        _out(repo, "apply", "--cached", "-", env=env, stdin=patch)
        tree = _out(repo, "write-tree", env=env).strip()
    return _out(repo, "commit-tree", tree, "-p", parent, "-m", message).strip()


def create_branch(repo: Path, name: str, commit: str) -> None:
    """A new branch ``name`` at ``commit``; fails rather than move an existing one, and
    checks nothing out."""
    _out(repo, "branch", name, commit)


def init_commit(path: Path, message: str) -> str:
    """Make ``path`` a new repository whose one commit holds every file in it (ignore rules
    applied), with verifix's fixed identity; return the commit's id.

    For repositories verifix builds itself (the demo's), so the user's git identity is
    neither needed nor used, and their commit checks and signing settings play no part.
    """
    path.mkdir(parents=True, exist_ok=True)
    _out(path, "init", "-q")
    _out(path, "add", "-A")
    _out(path, "commit", "-q", "--no-verify", "--no-gpg-sign", "-m", message, env=IDENTITY)
    return resolve_commit(path, "HEAD")


# -- remotes -------------------------------------------------------------------------


def origin_url(repo: Path) -> str | None:
    """The URL git uses for the ``origin`` remote (``insteadOf`` rewrites applied), or
    None when there is none."""
    return _maybe(repo, "remote", "get-url", "origin") or None


def remote_env(clone_url: str, token: str | None) -> dict[str, str]:
    """The environment for a git command that talks to ``clone_url``'s host: with
    ``token``, an HTTP header that sends it to that host and no other; it is never stored.

    The header travels in ``GIT_CONFIG_*`` variables, not ``-c`` on the command line, where
    ``ps`` shows it to every user of the machine. It is scoped to that host's URL, so a
    remote elsewhere never receives it. An empty value first drops any header a checkout
    left in the repository's config for the same URL (two Authorization headers make
    GitHub refuse the request). No prompt: a run has nobody to answer it.
    """
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    url = urllib.parse.urlsplit(clone_url)
    if not token or url.scheme not in ("http", "https"):
        return env
    key = f"http.{url.scheme}://{url.netloc.rsplit('@', 1)[-1]}/.extraheader"
    secret = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    count = int(env.get("GIT_CONFIG_COUNT", "0") or "0")
    env.update(
        {
            "GIT_CONFIG_COUNT": str(count + 2),
            f"GIT_CONFIG_KEY_{count}": key,
            f"GIT_CONFIG_VALUE_{count}": "",
            f"GIT_CONFIG_KEY_{count + 1}": key,
            f"GIT_CONFIG_VALUE_{count + 1}": f"Authorization: Basic {secret}",
        }
    )
    return env


def shallow_clone(url: str, target: Path, branch: str, env: Mapping[str, str]) -> None:
    """Clone ``branch`` of ``url`` into ``target`` with one commit of history (a run needs
    the files, not the past). ``env`` comes from ``remote_env``."""
    _run(None, "clone", "-q", "--depth", "1", "--branch", branch, url, str(target), env=env)


def mirror_clone(url: str, target: Path, env: Mapping[str, str]) -> None:
    """A bare mirror of ``url`` at ``target``: every commit and no work tree, what a batch
    needs to snapshot any instance's base commit."""
    _run(None, "clone", "-q", "--mirror", url, str(target), env=env)


def mirror_update(mirror: Path, env: Mapping[str, str]) -> None:
    """Bring a mirror made by ``mirror_clone`` up to its origin (a base commit newer than
    the mirror)."""
    _run(mirror, "remote", "update", "--prune", env=env)


def shallow_refresh(repo: Path, branch: str, env: Mapping[str, str], keep: str) -> None:
    """Bring verifix's own clone to the tip of ``branch`` on origin: fetch one commit,
    check it out over whatever is there and remove every other file but ``keep`` (its
    run records). Never call this on a user's repository."""
    _run(repo, "fetch", "-q", "--depth", "1", "origin", branch, env=env)
    _run(repo, "checkout", "-q", "-f", "FETCH_HEAD", env=env)
    _run(repo, "clean", "-qfdx", "-e", keep, env=env)


def remote_heads(repo: Path, pattern: str, env: Mapping[str, str]) -> set[str]:
    """Names of origin's branches matching ``pattern`` (a glob); empty when origin cannot
    be asked, as a name taken there is then found out at push time."""
    _, out = _run(repo, "ls-remote", "--heads", "origin", pattern, env=env, check=False)
    return {
        line.split("refs/heads/", 1)[1] for line in str(out).splitlines() if "refs/heads/" in line
    }


def push_branch(repo: Path, branch: str, env: Mapping[str, str]) -> None:
    """Push the local ``branch`` to the same name on origin (never forced)."""
    _run(repo, "push", "-q", "origin", f"{branch}:{branch}", env=env)
