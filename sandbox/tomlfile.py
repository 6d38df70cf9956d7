"""TOML reading for Python 3.10 (tomli) and 3.11+ (tomllib) alike."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
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


CONFIG_FILE = ".verifix.toml"


def nearest(name: str, known: Iterable[str]) -> str:
    """ "; did you mean 'x'?" for a misspelt name, or "" when nothing is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_table(
    table: dict[str, Any], where: str, keys: dict[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """Every key of ``table`` known and of its type; errors name the nearest valid key."""
    for key, value in table.items():
        if key not in keys:
            raise UsageError(
                f"unknown setting '{key}' in {where}{nearest(key, keys)} (known: {', '.join(keys)})"
            )
        if not isinstance(value, keys[key]) or (isinstance(value, bool) and keys[key] is not bool):
            raise UsageError(f"'{key}' in {where} has the wrong type: {value!r}")
    return table


def read_table(
    path: Path, section: str, keys: dict[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """``[section]`` of a TOML file, each key checked against ``keys`` (name -> type);
    an absent file or section is an empty table."""
    table = read_toml(path).get(section, {}) if path.is_file() else {}
    return check_table(table, f"{path.name} [{section}]", keys)


def read_repo_table(
    root: Path, section: str, keys: dict[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """A repository's settings for ``section``: ``[tool.verifix.SECTION]`` in
    pyproject.toml, then ``[SECTION]`` in .verifix.toml (which wins key by key)."""
    merged: dict[str, Any] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        table = read_toml(pyproject).get("tool", {}).get("verifix", {}).get(section, {})
        merged.update(check_table(table, f"pyproject.toml [tool.verifix.{section}]", keys))
    merged.update(read_table(root / CONFIG_FILE, section, keys))
    return merged
