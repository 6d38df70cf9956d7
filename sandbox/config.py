"""The environment spec: what was detected, what the repo configured, what the user passed.

Explicit beats detected, and every value remembers its source, so ``verifix env show`` can
answer "why is it running Python 3.9?" without guessing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from .detect import Detected
from .errors import UsageError
from .tomlfile import CONFIG_FILE, nearest, read_toml

#: The tables a repository's .verifix.toml (or [tool.verifix]) may hold.
TABLES = ("sandbox", "hook", "model", "agent")
SECTION = "sandbox"

#: Every key a user may set, with its type; ``python`` and ``image`` may be empty (detect).
KEYS: dict[str, type] = {
    "image": str,
    "python": str,
    "setup": list,
    "test_command": str,
    "env": dict,
    "setup_timeout": int,
    "test_timeout": int,
    "setup_network": str,
    "memory": str,
    "cpus": float,
    "pids": int,
    "proxy": dict,
    "packages_as_of": str,
}

_TYPE_NAMES = {
    str: "a string",
    list: "a list of strings",
    dict: "a table",
    int: "an integer",
    float: "a number",
}

DEFAULTS: dict[str, Any] = {
    "env": {},
    "setup_timeout": 1800,
    "test_timeout": 900,
    # Setup reaches the network only through verifix's gateway (see sandbox/gateway.py),
    # which holds any credentials and refuses the host's local services; tests always run
    # with no network.
    "setup_network": "gateway",
    "memory": "4g",
    "cpus": float(os.cpu_count() or 2),
    "pids": 4096,
    "proxy": {},
    # Old commits install the packages of their day (see environment.packages_cutoff).
    "packages_as_of": "commit",
}

_NETWORK_MODES = ("gateway", "host", "bridge", "none")
_PROXY_KEYS = (
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "index_url",
    "extra_index_url",
    "trusted_host",
    "ca_bundle",
)
#: Never copied into a sandbox, even if a config file names them: secrets stay on the host.
_SECRET_HINTS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


@dataclass(frozen=True)
class EnvSpec:
    """A fully resolved environment description; ``sources`` names where each value came from."""

    image: str | None
    python: tuple[str, ...]
    setup: tuple[str, ...]
    test_command: str | None
    env: Mapping[str, str]
    setup_timeout: int
    test_timeout: int
    setup_network: str
    memory: str
    cpus: float
    pids: int
    proxy: Mapping[str, str]
    packages_as_of: str
    uses_setuptools_scm: bool = False
    sources: Mapping[str, str] = field(default_factory=dict)

    def cache_key(
        self,
        base_image_id: str,
        dependency_digest: str,
        index_env: Mapping[str, str],
        helpers_digest: str,
    ) -> str:
        """Hash of everything that changes what the environment image holds."""
        blob = json.dumps(
            {
                "v": 1,
                "helpers": helpers_digest,
                "base": base_image_id,
                "deps": dependency_digest,
                "setup": list(self.setup),
                "env": dict(sorted(self.env.items())),
                "index": dict(sorted(index_env.items())),
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def _check(name: str, value: Any, where: str) -> Any:
    if name not in KEYS:
        known = ", ".join(KEYS)
        raise UsageError(
            f"unknown setting '{name}' in {where}{nearest(name, KEYS)} (known: {known})"
        )
    expected = KEYS[name]
    if expected is float and isinstance(value, int):
        value = float(value)
    if expected is list and isinstance(value, str):
        value = [value]
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise UsageError(f"'{name}' in {where} must be {_TYPE_NAMES[expected]}, not {value!r}")
    if name == "setup" and not all(isinstance(c, str) for c in value):
        raise UsageError(f"'setup' in {where} must be a list of shell commands (strings)")
    if name == "setup_network" and value not in _NETWORK_MODES:
        raise UsageError(f"'setup_network' in {where} must be one of {', '.join(_NETWORK_MODES)}")
    if name == "env":
        for key in value:
            if any(hint in key.upper() for hint in _SECRET_HINTS):
                raise UsageError(
                    f"'env' in {where} names {key}, which looks like a secret: "
                    "verifix never passes secrets into the sandbox"
                )
        value = {str(k): str(v) for k, v in value.items()}
    if name == "packages_as_of" and value not in ("commit", "latest"):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise UsageError(
                f"'packages_as_of' in {where} must be commit, latest or a date (YYYY-MM-DD)"
            ) from None
    if name == "proxy":
        unknown = set(value) - set(_PROXY_KEYS)
        if unknown:
            raise UsageError(
                f"unknown 'proxy' setting {sorted(unknown)} in {where}; "
                f"known: {', '.join(_PROXY_KEYS)}"
            )
    return value


def _known_tables(data: dict[str, Any], where: str) -> None:
    for name in data:
        if name not in TABLES:
            raise UsageError(
                f"unknown table [{name}] in {where}{nearest(name, TABLES)} "
                f"(known: {', '.join(TABLES)})"
            )


def read_repo_config(root: Path) -> list[tuple[str, dict[str, Any]]]:
    """The repo's own settings: ``[tool.verifix.sandbox]`` in pyproject.toml, then
    ``[sandbox]`` in .verifix.toml (later wins)."""
    layers: list[tuple[str, dict[str, Any]]] = []
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        tables = read_toml(pyproject).get("tool", {}).get("verifix", {})
        _known_tables(tables, "pyproject.toml [tool.verifix]")
        section = tables.get(SECTION)
        if section:
            where = "pyproject.toml [tool.verifix.sandbox]"
            layers.append((where, {k: _check(k, v, where) for k, v in section.items()}))
    config = root / CONFIG_FILE
    if config.is_file():
        data = read_toml(config)
        _known_tables(data, CONFIG_FILE)
        where = f"{CONFIG_FILE} [{SECTION}]"
        layers.append((where, {k: _check(k, v, where) for k, v in data.get(SECTION, {}).items()}))
    return layers


def read_config_file(path: Path) -> tuple[str, dict[str, Any]]:
    """A ``[sandbox]`` table from a file named on the command line (``--config``)."""
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist")
    section = read_toml(path).get(SECTION)
    if section is None:
        raise UsageError(f"{path} has no [{SECTION}] table")
    where = f"{path} [{SECTION}]"
    return where, {k: _check(k, v, where) for k, v in section.items()}


def resolve(
    detected: Detected,
    repo_layers: list[tuple[str, dict[str, Any]]],
    cli: Mapping[str, Any] | None = None,
) -> EnvSpec:
    """Merge defaults < detected < repo config < command line into one EnvSpec."""
    values: dict[str, Any] = dict(DEFAULTS)
    sources: dict[str, str] = dict.fromkeys(DEFAULTS, "default")
    values.update(
        image=None,
        python=detected.python.preferred,
        setup=detected.setup,
        test_command=detected.test_command,
    )
    sources.update(
        image="default",
        python=f"detected: {detected.python.reason}",
        setup=detected.setup_reason,
        test_command=f"detected: {detected.test_reason}",
    )
    layers = [*repo_layers]
    if cli:
        layers.append(("command line", {k: _check(k, v, "command line") for k, v in cli.items()}))
    for where, layer in layers:
        for key, value in layer.items():
            if key == "env":
                value = {**values["env"], **value}
            if key == "python":
                value = (value,)
            values[key] = tuple(value) if key == "setup" else value
            sources[key] = where
    return EnvSpec(
        **values,
        uses_setuptools_scm=detected.uses_setuptools_scm,
        sources=sources,
    )
