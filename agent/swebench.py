"""SWE-bench task instances: ground truth for the check, and issues to fix.

An instance names a base commit, a test patch, the tests that must go from failing to
passing and those that must keep passing; running its gold patch through ``verify`` must
give VERIFIED, and running no patch must not. Its problem statement (the GitHub issue's
title, a line break, then its body) is what a model is asked to fix: ``Instance.issue()``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from verifix.sandbox import git
from verifix.sandbox.errors import UsageError
from verifix.sandbox.settings import user_cache_path
from verifix.sandbox.verify import Checks

from .issue import Issue, clean


@dataclass(frozen=True)
class Instance:
    instance_id: str
    repo: str
    base_commit: str
    patch: str
    test_patch: str
    fail_to_pass: list[str]
    pass_to_pass: list[str]
    #: The issue as SWE-bench gives it; "" when the row has none (a check needs none).
    problem_statement: str = ""
    #: Comments made on the issue before the fix (SWE-bench's optional hints).
    hints_text: str | None = None
    version: str | None = None
    environment_setup_commit: str | None = None

    def test_files(self) -> list[str]:
        """The test files the test patch touches: SWE-bench runs exactly these."""
        files = re.findall(r"^\+\+\+ b/(\S+)", self.test_patch, re.M)
        return sorted({f for f in files if f.endswith(".py")})

    def checks(self) -> Checks:
        return Checks(
            targets=self.fail_to_pass,
            must_pass=self.pass_to_pass,
            selection=self.test_files(),
            base_patches=[self.test_patch] if self.test_patch.strip() else [],
        )

    def issue(self) -> Issue:
        """The problem statement as an issue: its first line the title, the rest the body.

        The text is kept as written; as for every issue, what a reader cannot see is removed
        when the prompt is made (``Issue.as_text``).
        """
        text = self.problem_statement.strip()
        if not clean(text).strip():
            raise UsageError(
                f"instance {self.instance_id} has no problem_statement: there is no issue to fix"
            )
        title, _, body = text.partition("\n")
        return Issue(title=title.strip(), body=body.strip())


def _ids(value: object) -> list[str]:
    return json.loads(value) if isinstance(value, str) else list(value or [])


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def _instance(row: dict, where: str) -> Instance:
    try:
        return Instance(
            instance_id=row["instance_id"],
            repo=row["repo"],
            base_commit=row["base_commit"],
            patch=row["patch"],
            test_patch=row["test_patch"],
            fail_to_pass=_ids(row["FAIL_TO_PASS"]),
            pass_to_pass=_ids(row["PASS_TO_PASS"]),
            problem_statement=row.get("problem_statement") or "",
            hints_text=_optional(row.get("hints_text")),
            version=_optional(row.get("version")),
            environment_setup_commit=_optional(row.get("environment_setup_commit")),
        )
    except KeyError as exc:
        raise UsageError(f"{where} lacks the field {exc}") from exc


def _rows(path: Path) -> list[tuple[str, dict]]:
    """The dataset's rows with where each is: a JSON list, or one object per line."""
    if not path.is_file():
        raise UsageError(f"{path} does not exist: pass a SWE-bench dataset (.jsonl or .json)")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path} is not JSON ({exc.msg} at line {exc.lineno})") from exc
        return [(f"{path} item {i}", row) for i, row in enumerate(rows, 1)]
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{path}:{number} is not JSON ({exc.msg}): is it a .jsonl file?"
            ) from exc
    return out


def load_all(path: Path) -> list[Instance]:
    """Every instance of a SWE-bench dataset file (a JSON list or JSON lines)."""
    return [_instance(row, where) for where, row in _rows(path)]


def load(path: Path, instance_id: str) -> Instance:
    """Find ``instance_id`` in a SWE-bench dataset file."""
    rows = _rows(path)
    for where, row in rows:
        if row.get("instance_id") == instance_id:
            return _instance(row, where)
    known = [row.get("instance_id", "?") for _, row in rows]
    sample = ", ".join(known[:5])
    raise UsageError(f"no instance {instance_id!r} in {path} (it has {len(known)}, e.g. {sample})")


def select(
    instances: list[Instance],
    ids: list[str] | None = None,
    span: str | None = None,
    pattern: str | None = None,
) -> list[Instance]:
    """The instances named by ``ids`` (``--instance``), then the ``A:B`` slice of them
    (``--slice``, Python's rules), then those whose id matches ``pattern`` (``--filter``)."""
    chosen = instances
    if ids:
        known = {i.instance_id for i in instances}
        missing = [i for i in ids if i not in known]
        if missing:
            raise UsageError(f"no instance {missing[0]!r} in the dataset")
        chosen = [i for i in chosen if i.instance_id in ids]
    if span:
        try:
            start, _, stop = span.partition(":")
            chosen = chosen[int(start) if start else None : int(stop) if stop else None]
        except ValueError:
            raise UsageError(f"--slice {span}: write A:B, e.g. 0:10 or 5:") from None
    if pattern:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"--filter {pattern}: not a regular expression ({exc})") from None
        chosen = [i for i in chosen if rx.search(i.instance_id)]
    return chosen


#: Where a repository no --repos folder holds is fetched from: ``BASE/OWNER/NAME.git``.
#: ``VERIFIX_GIT_BASE`` moves it (a GitHub Enterprise host, a mirror server, a folder).
GIT_BASE = "https://github.com"

#: One lock per repository: two workers needing the same one clone it once.
_fetching: dict[str, threading.Lock] = {}
_fetching_lock = threading.Lock()


def mirrors_dir() -> Path:
    """Where fetched repositories are kept: ``$VERIFIX_CACHE_DIR/mirrors``, else the user's
    cache folder."""
    return user_cache_path("mirrors")


def clone_of(instance: Instance, repos: Path | None) -> Path:
    """The local clone or mirror of the instance's repository under ``repos``: the folder
    ``OWNER+NAME`` (with a ``repo`` inside, or itself), ``OWNER__NAME`` or ``NAME``. With
    no ``repos``, a mirror in verifix's cache, fetched on first need and brought up to date
    when it lacks the instance's base commit."""
    if repos is not None:
        found = _found(instance, repos)
        if found is None:
            owner, _, name = instance.repo.partition("/")
            raise UsageError(
                f"no clone of {instance.repo} under {repos}: clone it there as "
                f"{owner}__{name} (or point --repos at the folder holding it)"
            )
        return found
    with _fetching_lock:
        lock = _fetching.setdefault(instance.repo, threading.Lock())
    with lock:
        return _fetched(instance)


def _found(instance: Instance, repos: Path) -> Path | None:
    owner, _, name = instance.repo.partition("/")
    for candidate in (
        repos / f"{owner}+{name}" / "repo",
        repos / f"{owner}+{name}",
        repos / f"{owner}__{name}",
        repos / name,
    ):
        if (candidate / ".git").exists() or (candidate / "HEAD").is_file():
            return candidate
    return None


def _fetched(instance: Instance) -> Path:
    """The cache's mirror of the instance's repository, cloned into a temporary folder and
    moved into place whole (an interrupted clone leaves no half a mirror to find)."""
    base = os.environ.get("VERIFIX_GIT_BASE", GIT_BASE).rstrip("/")
    url = f"{base}/{instance.repo}.git"
    env = git.remote_env(url, None)
    cache = mirrors_dir()
    mirror = cache / instance.repo.replace("/", "+")
    try:
        if not mirror.is_dir():
            cache.mkdir(parents=True, exist_ok=True)
            partial = cache / f".{mirror.name}.{uuid.uuid4().hex[:8]}"
            try:
                git.mirror_clone(url, partial, env)
                try:
                    partial.rename(mirror)
                except OSError:
                    if not mirror.is_dir():  # not another process's mirror, arrived first
                        raise
            finally:
                shutil.rmtree(partial, ignore_errors=True)
        else:
            try:
                git.resolve_commit(mirror, f"{instance.base_commit}^{{commit}}")
            except git.GitError:
                git.mirror_update(mirror, env)
    except git.GitError as exc:
        raise UsageError(
            f"could not fetch {instance.repo} from {url} ({exc.args[0]}): clone it into a "
            "folder and pass --repos, or set VERIFIX_GIT_BASE"
        ) from None
    return mirror
