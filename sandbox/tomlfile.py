"""TOML reading for Python 3.10 (tomli) and 3.11+ (tomllib) alike."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def read_toml(path: Path) -> dict[str, Any]:
    """Parse ``path``; a syntax error is the user's to fix, so it is a UsageError."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML ({exc}): fix the file") from exc


def read_table(
    path: Path, section: str, keys: dict[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """``[section]`` of a TOML file, each key checked against ``keys`` (name -> type);
    an absent file or section is an empty table."""
    table = read_toml(path).get(section, {}) if path.is_file() else {}
    for key, value in table.items():
        if key not in keys:
            known = ", ".join(keys)
            raise UsageError(f"unknown setting '{key}' in {path.name} [{section}]; known: {known}")
        if not isinstance(value, keys[key]) or (isinstance(value, bool) and keys[key] is not bool):
            raise UsageError(f"'{key}' in {path.name} [{section}] has the wrong type: {value!r}")
    return table
