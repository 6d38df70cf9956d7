"""Settings tables: each one a typed schema, read from every place a user or a repository
may set it, each value remembering where it came from.

A table (``[sandbox]``, ``[model]``, ``[hook]``) is a :class:`Schema` of :class:`Setting`
fields, each with its name, type, default and help text, defined once; the README's
configuration reference is checked against the schemas (tests/test_settings.py). It is
read from:

- the user-level file (``config.toml`` under the platform's config folder,
  ``~/.config/verifix`` on Linux, or the file ``VERIFIX_USER_CONFIG`` names): the user's
  own settings, trusted;
- ``[tool.verifix.TABLE]`` in a repository's ``pyproject.toml``, then ``[TABLE]`` in its
  ``.verifix.toml`` (which wins key by key): written by whoever committed them, so a
  setting marked ``limit`` may only be lowered there (:meth:`Schema.resolve`).

Every value read is checked against its field: a wrong type, an unknown key or an unknown
table is one line naming the file, the table and the key (with the nearest valid one).
This module knows nothing of what the tables mean: the sandbox's schema is in config.py,
the model's and the hook's in verifix.agent.settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from copy import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .tomlfile import CONFIG_FILE, nearest, read_toml

#: Every table a ``.verifix.toml``, ``[tool.verifix]`` or the user config may hold.
TABLES = ("sandbox", "model", "hook")

_KIND_NAMES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "list of strings",
    dict: "table",
}
_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list of strings",
    dict: "a table",
}


def user_config_path() -> Path:
    """The user-level file: ``VERIFIX_USER_CONFIG`` if set, else the platform's place."""
    named = os.environ.get("VERIFIX_USER_CONFIG")
    if named:
        return Path(named)
    import platformdirs

    return platformdirs.user_config_path("verifix") / "config.toml"


def user_cache_path(name: str) -> Path:
    """A folder of verifix's cache: ``$VERIFIX_CACHE_DIR/NAME`` if set, else the
    platform's cache place (the locator's index, fetched mirrors)."""
    base = os.environ.get("VERIFIX_CACHE_DIR")
    if base:
        return Path(base) / name
    import platformdirs

    return platformdirs.user_cache_path("verifix") / name


@dataclass(frozen=True)
class Setting:
    """One key of a table.

    ``type`` is one of str, int, float (an integer is accepted), bool, list (of strings; a
    single string is a list of one) or dict (a table). ``default`` None means "not set"
    (the code decides); ``shown`` is how the README writes a default that is not a
    literal (e.g. "the number of CPUs"). ``choices`` limits a string to those values;
    ``check(value, where)`` validates further and returns the value to keep. ``limit``:
    a repository may only lower it, never raise it above the user's value or the default.
    """

    name: str
    type: type
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    check: Callable[[Any, str], Any] | None = None
    limit: bool = False
    shown: str | None = None

    def parse(self, value: Any, where: str) -> Any:
        """``value`` as read from ``where``, checked against this field."""
        kind = self.type
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is list and isinstance(value, str):
            value = [value]
        wrong = not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
        if kind is list and not wrong:
            wrong = not all(isinstance(item, str) for item in value)
        if wrong:
            raise UsageError(f"'{self.name}' in {where} must be {_TYPE_NAMES[kind]}, not {value!r}")
        if self.choices and value not in self.choices:
            raise UsageError(
                f"'{self.name}' in {where} must be one of {', '.join(self.choices)}, not {value!r}"
            )
        return self.check(value, where) if self.check else value

    def default_text(self) -> str:
        """The default as the README shows it: a TOML literal in backquotes, or words."""
        if self.shown is not None:
            return self.shown
        return f"`{self._literal()}`"

    def _literal(self) -> str:
        value = self.default
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return f'"{value}"'
        if isinstance(value, float):
            return f"{value:.2f}"
        if value is None:
            return "none"
        if value == [] or value == {}:
            return "[]" if isinstance(value, list) else "{}"
        return str(value)


@dataclass(frozen=True)
class Value:
    """A resolved setting and where it came from (a file and table, "default", ...)."""

    value: Any
    source: str


@dataclass(frozen=True)
class Layer:
    """The keys one place set, already checked. ``kind``: "user" (the user-level file),
    "repo" (a repository's file: not trusted, see ``Setting.limit``), "file" (a file named
    on the command line), "env" (variables) or "command line"."""

    source: str
    values: Mapping[str, Any]
    kind: str = "command line"

    @property
    def trusted(self) -> bool:
        return self.kind != "repo"


class Table(dict):
    """A table's values (a plain dict) with the place each came from in ``sources``."""

    def __init__(self, values: Mapping[str, Any] = (), sources: Mapping[str, str] = ()):
        super().__init__(values)
        self.sources: dict[str, str] = dict(sources)


def check_tables(names: Iterable[str], where: str) -> None:
    """Every table named in a file is one verifix reads."""
    for name in names:
        if name not in TABLES:
            raise UsageError(
                f"unknown table [{name}] in {where}{nearest(name, TABLES)} "
                f"(known: {', '.join(TABLES)})"
            )


@dataclass(frozen=True)
class Schema:
    """One table's settings, in the order the README lists them."""

    table: str
    settings: tuple[Setting, ...]
    by_name: Mapping[str, Setting] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {s.name: s for s in self.settings})

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.settings)

    def __getitem__(self, name: str) -> Setting:
        return self.by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def defaults(self) -> dict[str, Any]:
        """Every setting that has a default, by name."""
        return {s.name: copy(s.default) for s in self.settings if s.default is not None}

    def check(self, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Every key of ``data`` known and valid; the values as they are kept."""
        checked = {}
        for key, value in data.items():
            if key not in self.by_name:
                raise UsageError(
                    f"unknown setting '{key}' in {where}{nearest(key, self.by_name)} "
                    f"(known: {', '.join(self.by_name)})"
                )
            checked[key] = self.by_name[key].parse(value, where)
        return checked

    def layer(self, data: Any, where: str, kind: str) -> Layer | None:
        """``data`` (a table read from ``where``) checked; None for no table."""
        if data is None:
            return None
        if not isinstance(data, dict):
            raise UsageError(f"{where} must be a table, not {data!r}")
        return Layer(where, self.check(data, where), kind)

    def user_layer(self) -> Layer | None:
        """The user-level file's table (None when the file or the table is absent)."""
        path = user_config_path()
        if not path.is_file():
            return None
        data = read_toml(path)
        check_tables(data, str(path))
        return self.layer(data.get(self.table), f"{path} [{self.table}]", "user")

    def repo_layers(self, root: Path) -> list[Layer]:
        """A repository's tables: pyproject.toml's ``[tool.verifix.TABLE]``, then
        ``.verifix.toml``'s ``[TABLE]`` (later wins)."""
        layers = []
        pyproject = root / "pyproject.toml"
        if pyproject.is_file():
            tables = read_toml(pyproject).get("tool", {}).get("verifix", {})
            check_tables(tables, "pyproject.toml [tool.verifix]")
            where = f"pyproject.toml [tool.verifix.{self.table}]"
            layers.append(self.layer(tables.get(self.table), where, "repo"))
        config = root / CONFIG_FILE
        if config.is_file():
            data = read_toml(config)
            check_tables(data, CONFIG_FILE)
            where = f"{CONFIG_FILE} [{self.table}]"
            layers.append(self.layer(data.get(self.table), where, "repo"))
        return [layer for layer in layers if layer is not None]

    def file_layer(self, path: Path) -> Layer:
        """The table from a file named on the command line, which must hold it."""
        if not path.is_file():
            raise UsageError(f"config file {path} does not exist")
        layer = self.layer(read_toml(path).get(self.table), f"{path} [{self.table}]", "file")
        if layer is None:
            raise UsageError(f"{path} has no [{self.table}] table")
        return layer

    def repo_table(self, root: Path) -> Table:
        """A repository's values alone (pyproject.toml, then .verifix.toml)."""
        return _merged(self.repo_layers(root))

    def user_table(self) -> Table:
        """The user-level file's values alone."""
        return _merged([layer for layer in [self.user_layer()] if layer])

    def resolve(self, layers: Iterable[Layer]) -> dict[str, Value]:
        """Every setting over its default, layers in rising precedence; a ``limit`` is
        the trusted layers' value (or the default), lowered by any untrusted layer."""
        resolved = {name: Value(value, "default") for name, value in self.defaults().items()}
        layers = list(layers)
        for layer in layers:
            for key, value in layer.values.items():
                if layer.trusted or not self[key].limit:
                    resolved[key] = Value(value, layer.source)
        for setting in self.settings:
            for layer in layers:
                value = layer.values.get(setting.name)
                if not setting.limit or layer.trusted or value is None:
                    continue
                current = resolved.get(setting.name)
                if current is None or value < current.value:
                    resolved[setting.name] = Value(value, layer.source)
        return resolved

    def reference(self) -> str:
        """The README's reference table for this schema (markdown)."""
        rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for s in self.settings:
            kind = " or ".join(f'`"{c}"`' for c in s.choices) if s.choices else _KIND_NAMES[s.type]
            rows.append(f"| `{s.name}` | {kind} | {s.default_text()} | {s.help} |")
        return "\n".join(rows)


def _merged(layers: list[Layer]) -> Table:
    table = Table()
    for layer in layers:
        table.update(layer.values)
        table.sources.update(dict.fromkeys(layer.values, layer.source))
    return table
