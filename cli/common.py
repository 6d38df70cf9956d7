"""Options shared by the commands that need an environment, and turning them into a spec.

Each option is defined once here and used by every command that takes it, so ``verify``
and ``fix`` spell, explain and group it the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from verifix.sandbox.config import EnvSpec, read_config_file, read_repo_config, resolve
from verifix.sandbox.detect import detect
from verifix.sandbox.errors import UsageError
from verifix.sandbox.snapshot import Snapshot

ENV_PANEL = "Environment (overrides .verifix.toml and detection)"

RepoArg = Annotated[
    Path, typer.Argument(help="The git repository (default: the current directory).")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="A TOML file with a [sandbox] table, applied over the repo's.",
        rich_help_panel=ENV_PANEL,
    ),
]
ImageOpt = Annotated[
    str | None, typer.Option("--image", help="Base image to build on.", rich_help_panel=ENV_PANEL)
]
PythonOpt = Annotated[
    str | None,
    typer.Option("--python", help="Python version, e.g. 3.11.", rich_help_panel=ENV_PANEL),
]
SetupOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--setup",
        help="A setup command (repeatable; replaces detected ones).",
        rich_help_panel=ENV_PANEL,
    ),
]
TestCmdOpt = Annotated[
    str | None,
    typer.Option(
        "--test-cmd",
        help="The test command ({tests} marks where test paths go).",
        rich_help_panel=ENV_PANEL,
    ),
]
EnvOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--env", help="KEY=VALUE set in the sandbox (repeatable).", rich_help_panel=ENV_PANEL
    ),
]
TestTimeoutOpt = Annotated[
    int | None,
    typer.Option(
        "--test-timeout", help="Seconds one test run may take.", rich_help_panel=ENV_PANEL
    ),
]
RebuildOpt = Annotated[
    bool,
    typer.Option(
        "--rebuild", help="Rebuild the environment image, cached or not.", rich_help_panel=ENV_PANEL
    ),
]
SetupTimeoutOpt = Annotated[
    int | None,
    typer.Option(
        "--setup-timeout", help="Seconds one setup command may take.", rich_help_panel=ENV_PANEL
    ),
]

TestOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--test",
        "-t",
        help="A target test, a pytest node id (repeatable). Default: the tests that fail "
        "on the base tree.",
    ),
]
#: ``verify`` spelled it ``--tests`` before both commands agreed on ``--test``: scripts
#: that use the old spelling keep working, and help shows only the one spelling.
TestsAliasOpt = Annotated[list[str] | None, typer.Option("--tests", hidden=True)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]


def targets(test: list[str] | None, alias: list[str] | None) -> list[str] | None:
    """The target test ids named with ``--test`` (or its old spelling), None for none."""
    named = [*(test or []), *(alias or [])]
    return named or None


def cli_overrides(
    image: str | None,
    python: str | None,
    setup: list[str] | None,
    test_cmd: str | None,
    env: list[str] | None,
    test_timeout: int | None,
    setup_timeout: int | None,
) -> dict[str, Any]:
    """Only what the user actually passed, so unset flags never mask the config file."""
    values: dict[str, Any] = {
        "image": image,
        "python": python,
        "setup": setup or None,
        "test_command": test_cmd,
        "test_timeout": test_timeout,
        "setup_timeout": setup_timeout,
    }
    if env:
        pairs = {}
        for item in env:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f"--env {item!r} is not KEY=VALUE")
            pairs[key] = value
        values["env"] = pairs
    return {k: v for k, v in values.items() if v is not None}


def build_spec(snapshot: Snapshot, config: Path | None, overrides: dict[str, Any]) -> EnvSpec:
    """Detection on the snapshot, then the repo's config, then --config, then flags."""
    layers = read_repo_config(snapshot.root)
    if config is not None:
        layers.append(read_config_file(config))
    return resolve(detect(snapshot.root, snapshot.commit_date), layers, overrides)
