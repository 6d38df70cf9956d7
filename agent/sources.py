"""The repository's source files as verifix reads them: Python files outside hidden and
vendored folders, read only when they are regular files reached through no symbolic link.

Everything that shows a model the code (the context, the locator, the benchmarks) reads
through here: a repository may commit ``hostenv.py -> /proc/self/environ``, and nothing
it points at may reach a prompt.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_SKIP = {".git", ".tox", ".nox", ".venv", "venv", "node_modules", "build", "dist"}
#: A file bigger than this is data, not code worth a prompt.
_MAX_FILE_BYTES = 1_000_000


def source_files(root: Path) -> list[str]:
    """Repo-relative paths of Python files, skipping hidden and vendored folders. Symbolic
    links are never followed, to folders or to files: a repo may commit one that points
    out of the snapshot (``hostenv.py -> /proc/self/environ``)."""
    out = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith("."))
        for name in sorted(names):
            path = Path(folder, name)
            if name.endswith(".py") and not path.is_symlink():
                out.append(path.relative_to(root).as_posix())
    return sorted(out)


def read_source(root: Path, rel: str) -> str:
    """A file's text, only if it is a regular file inside ``root`` reached through no
    symbolic link (opened with O_NOFOLLOW, checked after opening); else ""."""
    path = root / rel
    real_root = root.resolve()
    if path.resolve().parent != (real_root / rel).parent or real_root not in path.resolve().parents:
        return ""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_FILE_BYTES:
            return ""
        return handle.read(_MAX_FILE_BYTES).decode("utf-8", errors="replace")
