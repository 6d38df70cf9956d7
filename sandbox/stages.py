"""Cheap checks first: which tests a patch most likely affects, and when that stage is worth
running.

A check runs in stages, each ending it early only with a true rejection (see
``verify.VerifySession.check``): the patch applies, the targets pass on their own, the
*affected* tests still pass, then the full suite. This module picks the affected tests by a
static scan of import statements, on the base tree's files on this machine (nothing is run,
nothing is imported):

- the **changed modules** are the ``.py`` files the patch touches (old and new paths), each
  known by every dotted tail of its path: ``src/pkg/mod.py`` is ``src.pkg.mod``,
  ``pkg.mod`` and ``mod`` (so ``src/`` layouts and test folders on ``sys.path`` match);
  ``pkg/__init__.py`` is ``pkg``;
- a file **imports** a module it names in ``import a.b`` (``a.b``) or ``from a.b import c``
  (``a.b`` and ``a.b.c``, since ``c`` may be a module); relative imports are resolved from the
  file's own path;
- a test file is **affected** when it imports a changed module or something inside one
  (``a.b.c`` when ``a.b`` changed), when the patch changes it, when it holds a target test,
  or when a ``conftest.py`` in its folder or above imports a changed module or is changed.

Imports made at run time (``importlib``, ``__import__``, a plugin) and modules reached only
through another module are not seen: the full suite, which always runs before a VERIFIED,
catches what this misses. The stage is skipped when it holds no test that passed at
baseline, or when its tests are a quarter of the suite or more (a patch that passes it
would pay for it on top of the full suite).
"""

from __future__ import annotations

import ast
import os
import re
import stat
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: Test files larger than this are not parsed (they count as importing nothing).
MAX_SOURCE_BYTES = 2_000_000
#: The affected stage is skipped when it holds at least this share of the suite's tests:
#: a patch that passes it pays for it on top of the full suite (and a selection costs more
#: than its share: the start-up, imports and collection are paid again).
MAX_SHARE = 0.25

_DIFF_PATH = re.compile(r"^(?:--- a/|\+\+\+ b/)(.+?)\t?$|^diff --git a/(.+?) b/(.+)$", re.M)


def changed_paths(patch: str) -> list[str]:
    """Every path a unified diff touches, old and new names alike, in order of appearance."""
    paths: list[str] = []
    for match in _DIFF_PATH.finditer(patch):
        for group in match.groups():
            if group and group != "/dev/null":
                paths.append(group.strip())
    return list(dict.fromkeys(paths))


def module_names(path: str) -> set[str]:
    """The dotted names a ``.py`` path may be imported as: every tail of it."""
    pure = PurePosixPath(path)
    if pure.suffix != ".py":
        return set()
    parts = list(pure.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return {".".join(parts[i:]) for i in range(len(parts))}


def _package(path: str) -> list[str]:
    """The package a file's relative imports start from: its folder, as dotted parts."""
    return list(PurePosixPath(path).parent.parts)


def imports_of(source: str | bytes, path: str) -> frozenset[str]:
    """The modules ``source`` (the file at ``path``) names in its import statements, at any
    depth (inside functions and ``try`` blocks too). Unparseable source names none."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError):
        return frozenset()
    names: set[str] = set()
    try:
        nodes = list(ast.walk(tree))
    except RecursionError:
        return frozenset()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package(path)
                if node.level - 1 > len(package):
                    continue
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module:
                names.add(module)
            names.update(
                f"{module}.{alias.name}" if module else alias.name
                for alias in node.names
                if alias.name != "*"
            )
    return frozenset(names)


def imports_changed(imported: Iterable[str], changed: set[str]) -> bool:
    """Whether an imported name is a changed module or lies inside one."""
    for name in imported:
        parts = name.split(".")
        if any(".".join(parts[: i + 1]) in changed for i in range(len(parts))):
            return True
    return False


class ImportIndex:
    """The imports of the base tree's files, each parsed at most once per session.

    Only regular files are read (no symbolic link is followed, no device or pipe opened),
    up to ``MAX_SOURCE_BYTES``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._imports: dict[str, frozenset[str] | None] = {}

    def read(self, rel: str) -> bytes | None:
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts:
            return None
        path = self.root / rel
        try:
            for parent in [*reversed(PurePosixPath(rel).parents), PurePosixPath(rel)]:
                if str(parent) == ".":
                    continue
                if stat.S_ISLNK(os.lstat(self.root / parent).st_mode):
                    return None
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SOURCE_BYTES:
                return None
            return path.read_bytes()
        except OSError:
            return None

    def imports(self, rel: str) -> frozenset[str] | None:
        """The file's imports; None when there is no such regular file."""
        if rel not in self._imports:
            data = self.read(rel)
            self._imports[rel] = None if data is None else imports_of(data, rel)
        return self._imports[rel]


def files_of(test_ids: Iterable[str]) -> list[str]:
    """The ``.py`` files the test ids live in (the part before ``::``), sorted."""
    return sorted({t.split("::", 1)[0] for t in test_ids if t.split("::", 1)[0].endswith(".py")})


def affected_files(
    patch: str,
    files: Iterable[str],
    targets: Iterable[str],
    imports: ImportIndex,
) -> list[str]:
    """The test ``files`` a patch most likely affects (the rule in this module's doc)."""
    touched = set(changed_paths(patch))
    changed: set[str] = set()
    for path in touched:
        changed |= module_names(path)
    target_files = set(files_of(targets))
    folder_hits: dict[str, bool] = {}

    def hit(rel: str) -> bool:
        if rel in touched:
            return True
        found = imports.imports(rel)
        return bool(found and imports_changed(found, changed))

    def conftest_hit(folder: PurePosixPath) -> bool:
        key = str(folder)
        if key not in folder_hits:
            conftest = str(folder / "conftest.py") if key != "." else "conftest.py"
            here = hit(conftest)
            folder_hits[key] = here or (key != "." and conftest_hit(folder.parent))
        return folder_hits[key]

    chosen = []
    for rel in files:
        if rel in target_files or hit(rel) or conftest_hit(PurePosixPath(rel).parent):
            chosen.append(rel)
    return sorted(chosen)


@dataclass(frozen=True)
class AffectedPlan:
    """The affected stage of one check: the files to run and the tests guarded there, or
    why the stage is skipped (``skip`` set, ``files`` empty)."""

    files: list[str]
    guard: list[str]
    tests: int
    skip: str = ""


def plan_affected(
    patch: str,
    baseline_outcomes: Mapping[str, bool],
    targets: list[str],
    guarded: Iterable[str] | None,
    imports: ImportIndex,
    max_share: float = MAX_SHARE,
) -> AffectedPlan:
    """Whether to run the affected stage, and on what.

    ``baseline_outcomes`` maps each test id run at baseline to whether it passed; ``guarded``
    are the tests that must keep passing (None: every test). The stage guards the tests of
    the affected files that passed at baseline and are not targets; it is skipped when there
    are none, or when the affected files hold ``max_share`` of the suite or more."""
    files = affected_files(patch, files_of(baseline_outcomes), targets, imports)
    if not files:
        return AffectedPlan([], [], 0, "no test file imports the changed modules")
    chosen = set(files)
    in_files = [t for t in baseline_outcomes if t.split("::", 1)[0] in chosen]
    allowed = None if guarded is None else set(guarded)
    target_set = set(targets)
    guard = sorted(
        t
        for t in in_files
        if baseline_outcomes[t] and t not in target_set and (allowed is None or t in allowed)
    )
    if not guard:
        return AffectedPlan([], [], len(in_files), "no affected test passed at baseline")
    if len(in_files) >= max_share * len(baseline_outcomes):
        return AffectedPlan(
            [],
            [],
            len(in_files),
            f"the affected tests are {len(in_files)} of {len(baseline_outcomes)}: "
            "the full suite runs instead",
        )
    return AffectedPlan(files, guard, len(in_files))
