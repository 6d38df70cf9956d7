"""Options shared by the commands that need an environment, and turning them into a spec.

Each option is defined once here and used by every command that takes it, so ``verify``,
``fix`` and ``env show|build|check`` spell, explain and group it the same way: a command
takes them all as one :class:`EnvOptions` value through the :func:`env_options` decorator.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from verifix.sandbox.config import EnvSpec
from verifix.sandbox.errors import UsageError
from verifix.sandbox.snapshot import Snapshot

if TYPE_CHECKING:
    from verifix.agent.issue import Issue

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


def local_issue(target: str, issue_file: Path | None, issue_text: str | None) -> Issue | None:
    """The issue named by ``--issue-file`` or ``--issue-text``, or None when ``target`` is a
    GitHub issue reference (URL, OWNER/REPO#N, '#N'); one-line errors when both or neither
    name it. Anything with a '#' that is not a folder is meant as a reference."""
    from verifix.agent import github
    from verifix.agent import issue as issues

    from_github = github.looks_like_reference(target) or (
        "#" in target and not Path(target).exists()
    )
    if from_github and (issue_file or issue_text):
        raise UsageError(f"{target} names the issue already: drop --issue-file/--issue-text")
    if not from_github and (issue_file is None) == (issue_text is None):
        raise UsageError(
            "name the issue: a GitHub reference (URL, OWNER/REPO#N, '#N'), "
            "--issue-file PATH or --issue-text TEXT"
        )
    if from_github:
        return None
    return issues.from_file(issue_file) if issue_file else issues.from_text(issue_text or "")


def targets(test: list[str] | None, alias: list[str] | None) -> list[str] | None:
    """The target test ids named with ``--test`` (or its old spelling), None for none."""
    named = [*(test or []), *(alias or [])]
    return named or None


@dataclass(frozen=True)
class EnvOptions:
    """The environment options one command run was given (None: not given)."""

    config: Path | None = None
    image: str | None = None
    python: str | None = None
    setup: list[str] | None = None
    test_cmd: str | None = None
    env: list[str] | None = None
    test_timeout: int | None = None
    setup_timeout: int | None = None
    #: ``--rebuild``, for a command decorated with ``env_options(rebuild=True)``.
    rebuild: bool = False

    def overrides(self) -> dict[str, Any]:
        """Only what the user actually passed, so unset flags never mask the config file."""
        values: dict[str, Any] = {
            "image": self.image,
            "python": self.python,
            "setup": self.setup or None,
            "test_command": self.test_cmd,
            "test_timeout": self.test_timeout,
            "setup_timeout": self.setup_timeout,
        }
        if self.env:
            pairs = {}
            for item in self.env:
                key, sep, value = item.partition("=")
                if not sep or not key:
                    raise UsageError(f"--env {item!r} is not KEY=VALUE")
                pairs[key] = value
            values["env"] = pairs
        return {k: v for k, v in values.items() if v is not None}

    def spec(self, snapshot: Snapshot) -> EnvSpec:
        """The snapshot's environment: detection, the repo's config, --config, the flags."""
        from verifix.sandbox import environment  # docker-py: only when a command runs

        return environment.spec_for(snapshot, self.config, self.overrides())


#: The default of a command's EnvOptions parameter (the decorator fills in the real one).
NO_ENV_OPTIONS = EnvOptions()

#: Each option: the EnvOptions field (also the parameter's name), its typer annotation.
_OPTIONS: dict[str, Any] = {
    "config": ConfigOpt,
    "image": ImageOpt,
    "python": PythonOpt,
    "setup": SetupOpt,
    "test_cmd": TestCmdOpt,
    "env": EnvOpt,
    "test_timeout": TestTimeoutOpt,
    "setup_timeout": SetupTimeoutOpt,
    "rebuild": RebuildOpt,
}

F = TypeVar("F", bound=Callable[..., Any])


def env_options(command: F | None = None, *, rebuild: bool = False) -> Any:
    """Give a typer command the environment options (--config, --image, --python, --setup,
    --test-cmd, --env, --test-timeout, --setup-timeout, and --rebuild with
    ``rebuild=True``) as one :class:`EnvOptions` argument.

    The command declares one parameter annotated ``EnvOptions``, anywhere among its other
    parameters (typer lists the options where it stands, in the Environment panel)::

        @env_options(rebuild=True)                      # or @env_options: no --rebuild
        def fix(target: ... = ".", ..., envopts: EnvOptions = NO_ENV_OPTIONS, pr: ... = False):
            spec = envopts.spec(snap)                   # or envopts.overrides(), .rebuild

    The decorator replaces that parameter, in the signature typer reads, with the options
    themselves (named as the EnvOptions fields, so the command may not have parameters of
    those names), and calls the command with the one EnvOptions built from them; called
    from Python, the command takes either the options or the EnvOptions by name. Put the
    decorator under ``@app.command(...)`` (typer must see the rewritten signature).
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)  # annotations as objects
        slots = [p.name for p in signature.parameters.values() if p.annotation is EnvOptions]
        if len(slots) != 1:
            raise TypeError(f"{func.__name__}: @env_options needs one parameter of type EnvOptions")
        slot = slots[0]
        names = [name for name in _OPTIONS if rebuild or name != "rebuild"]
        clash = set(names) & set(signature.parameters)
        if clash:
            raise TypeError(f"{func.__name__}: parameters {sorted(clash)} clash with @env_options")
        kind = signature.parameters[slot].kind
        defaults = {f.name: f.default for f in fields(EnvOptions)}
        params: list[inspect.Parameter] = []
        for param in signature.parameters.values():
            if param.name != slot:
                params.append(param)
                continue
            params.extend(
                inspect.Parameter(name, kind, default=defaults[name], annotation=_OPTIONS[name])
                for name in names
            )
        expanded = signature.replace(parameters=params)

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            if slot in kwargs:  # a Python caller passing the EnvOptions itself
                return func(*args, **kwargs)
            bound = expanded.bind(*args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
            options = EnvOptions(**{name: values.pop(name) for name in names})
            return func(**values, **{slot: options})

        command.__signature__ = expanded  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        if expanded.return_annotation is not inspect.Signature.empty:
            command.__annotations__["return"] = expanded.return_annotation
        return command  # type: ignore[return-value]

    return decorate(command) if command is not None else decorate
