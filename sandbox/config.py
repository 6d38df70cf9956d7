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
from .settings import Layer, Schema, Setting

SECTION = "sandbox"

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
    staged_checks: bool = True
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


def _env(value: dict[str, Any], where: str) -> dict[str, str]:
    for key in value:
        if any(hint in key.upper() for hint in _SECRET_HINTS):
            raise UsageError(
                f"'env' in {where} names {key}, which looks like a secret: "
                "verifix never passes secrets into the sandbox"
            )
    return {str(k): str(v) for k, v in value.items()}


def _packages_as_of(value: str, where: str) -> str:
    if value not in ("commit", "latest"):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise UsageError(
                f"'packages_as_of' in {where} must be commit, latest or a date (YYYY-MM-DD)"
            ) from None
    return value


def _proxy(value: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = set(value) - set(_PROXY_KEYS)
    if unknown:
        raise UsageError(
            f"unknown 'proxy' setting {sorted(unknown)} in {where}; known: {', '.join(_PROXY_KEYS)}"
        )
    return value


#: ``[sandbox]``: every key a user or a repository may set, its type, default and meaning.
SCHEMA = Schema(
    SECTION,
    (
        Setting("python", str, help="Python version, e.g. 3.11", shown="detected"),
        Setting(
            "image",
            str,
            help="Base image to build on (e.g. python:3.11-slim) instead of one for `python`",
            shown="chosen from `python`",
        ),
        Setting(
            "setup",
            list,
            help="Setup commands, run in order; they replace the detected ones",
            shown="detected",
        ),
        Setting(
            "test_command",
            str,
            help="The test command; `{tests}` marks where selected test paths go",
            shown="detected",
        ),
        Setting(
            "env",
            dict,
            {},
            "Variables set in the sandbox; names that look like secrets are refused",
            check=_env,
        ),
        Setting("setup_timeout", int, 1800, "Seconds one setup command may take"),
        Setting("test_timeout", int, 900, "Seconds one test run may take"),
        # Setup reaches the network only through verifix's gateway (see sandbox/gateway.py),
        # which holds any credentials and refuses the host's local services; tests always
        # run with no network.
        Setting(
            "setup_network",
            str,
            "gateway",
            "How setup reaches the network; tests get none",
            choices=_NETWORK_MODES,
        ),
        Setting("memory", str, "4g", "Memory limit of a container"),
        Setting(
            "cpus",
            float,
            float(os.cpu_count() or 2),
            "CPUs a container may use",
            shown="the number of CPUs",
        ),
        Setting("pids", int, 4096, "Processes a container may run"),
        Setting(
            "proxy",
            dict,
            {},
            "Overrides of the host's proxy and index settings for setup: "
            + ", ".join(f"`{k}`" for k in _PROXY_KEYS),
            check=_proxy,
        ),
        # Old commits install the packages of their day (see environment.packages_cutoff).
        Setting(
            "packages_as_of",
            str,
            "commit",
            "Install packages as of the commit's date (`commit`), today (`latest`) or a date "
            "(YYYY-MM-DD)",
            check=_packages_as_of,
        ),
        # Checks run cheap stages first (sandbox/stages.py); the verdict is the same.
        Setting(
            "staged_checks",
            bool,
            True,
            "Check a patch in stages, cheapest first (the targets alone, the tests importing "
            "the changed modules, then the full suite); `false`: the full suite at once",
        ),
    ),
)
DEFAULTS: dict[str, Any] = SCHEMA.defaults()


def read_repo_config(root: Path) -> list[Layer]:
    """The ``[sandbox]`` tables that apply to ``root``: the user-level file's (which only
    replaces the defaults: detection beats it), then ``[tool.verifix.sandbox]`` in
    pyproject.toml, then ``[sandbox]`` in .verifix.toml (later wins)."""
    user = SCHEMA.user_layer()
    return [*([user] if user else []), *SCHEMA.repo_layers(root)]


def read_config_file(path: Path) -> Layer:
    """A ``[sandbox]`` table from a file named on the command line (``--config``)."""
    return SCHEMA.file_layer(path)


def resolve(
    detected: Detected,
    repo_layers: list[Layer],
    cli: Mapping[str, Any] | None = None,
) -> EnvSpec:
    """Merge defaults < the user's file < detected < repo config < --config < command line
    into one EnvSpec."""
    values: dict[str, Any] = dict(DEFAULTS, image=None)
    sources: dict[str, str] = dict.fromkeys(values, "default")
    user = [layer for layer in repo_layers if layer.kind == "user"]
    layers = [layer for layer in repo_layers if layer.kind != "user"]
    _apply(user, values, sources)
    values.update(
        python=detected.python.preferred,
        setup=detected.setup,
        test_command=detected.test_command,
    )
    sources.update(
        python=f"detected: {detected.python.reason}",
        setup=detected.setup_reason,
        test_command=f"detected: {detected.test_reason}",
    )
    if cli:
        layers.append(Layer("command line", SCHEMA.check(cli, "command line")))
    _apply(layers, values, sources)
    return EnvSpec(
        **values,
        uses_setuptools_scm=detected.uses_setuptools_scm,
        sources=sources,
    )


def _apply(layers: list[Layer], values: dict[str, Any], sources: dict[str, str]) -> None:
    for layer in layers:
        where = layer.source
        for key, value in layer.values.items():
            if key == "proxy" and "ca_bundle" in value and not layer.trusted:
                # A path here is read on this machine and copied into setup, where the
                # repository's own build code runs: a repository may not choose the file.
                raise UsageError(
                    f"'proxy' in {where} names a ca_bundle, a file of this machine that "
                    "would be copied into setup: only your user config or --config may"
                )
            if key == "env":
                value = {**values["env"], **value}
            if key == "python":
                value = (value,)
            values[key] = tuple(value) if key == "setup" else value
            sources[key] = where
