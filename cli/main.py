"""The ``verifix`` entry point: global options, error handling and exit codes.

A command's module (and through it the repair loop, the sandbox, docker and litellm) is
imported only when that command runs or its own ``--help`` is asked for: ``verifix --help``
and a mistyped command need nothing but the names and one-line help in ``_COMMANDS``.

typer is pinned to 0.29.x (pyproject.toml): from 0.29 on it carries its own copy of click
as ``typer._click``, so its exceptions and the group class below come from there, and a
``click`` imported on its own would never match them.
"""

from __future__ import annotations

import importlib
import inspect
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Mapping
from typing import Annotated

import typer
from typer._click import ClickException, Command, Context, HelpFormatter
from typer.core import TyperGroup
from typer.main import get_group
from verifix.sandbox.errors import UsageError, VerifixError

from . import exit_codes

#: Every command: the module that defines it, the function or sub-app in that module, and
#: the one-line help ``verifix --help`` lists (the first sentence of the command's own help;
#: tests/test_startup.py holds the two together).
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "verify": (
        "verify_cmd",
        "verify",
        "Verify a patch against the repo's own tests in a Docker sandbox.",
    ),
    "fix": (
        "fix_cmd",
        "fix",
        "Fix an issue: the model proposes patches, each is verified in the sandbox.",
    ),
    "locate": (
        "locate_cmd",
        "locate_cmd",
        "Rank the files, and the functions and classes in them, that an issue is about.",
    ),
    "show": (
        "show_cmd",
        "show",
        "Show what a fix run did: attempts, verdicts, costs and the patch.",
    ),
    "view": (
        "view_cmd",
        "view",
        "Write a run as an HTML page: the issue, candidates or tree, diffs, verdicts, spend.",
    ),
    "demo": (
        "demo_cmd",
        "demo",
        "Fix the bundled example's bug with a scripted model: two attempts, one verified.",
    ),
    "bench": (
        "bench_cmd",
        "bench_app",
        "Run and check many SWE-bench-style instances at once.",
    ),
    "env": ("env_cmd", "env_app", "Inspect, build and prune environment images."),
    "sandbox": ("env_cmd", "sandbox_app", "Base images for the sandbox."),
    "github": ("github_cmd", "github_app", "Helpers for GitHub Actions."),
    "hook": ("hook_cmd", "hook_app", "Run verifix as a git hook (pre-push or pre-commit)."),
}


def _load(name: str) -> Command:
    """Import one command's module and build its click command as ``app`` would have."""
    module, attribute, _ = _COMMANDS[name]
    target = getattr(importlib.import_module(f".{module}", __package__), attribute)
    holder = typer.Typer(rich_markup_mode="rich", add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    command = get_group(holder).commands[name]
    _literal_help(command)
    return command


def _plain(text: str) -> str:
    """A help text as rich should print it: each paragraph on one line for rich to wrap
    (it keeps a docstring's line breaks), nothing in it read as markup."""
    from rich.markup import escape  # loaded with the command, never for the listing

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(escape(" ".join(p.split())) for p in paragraphs)


def _literal_help(command: Command) -> None:
    """Let rich draw a command's help in panels (Model, Limits, Environment, ...) while its
    texts stay plain (``_plain``), so help strings are written as they should read, with no
    markup. The listing (``verifix --help``) stays click's plain text: it must not load rich.
    A flag takes no value, so no ``<bool>`` is shown beside it."""
    if command.help:
        command.help = _plain(command.help)
    help_option = command.get_help_option(Context(command))  # made once, then kept
    for param in [*command.params, *([help_option] if help_option else [])]:
        text = getattr(param, "help", None)  # typer's arguments carry a help text too
        if text:
            param.help = _plain(text)
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _literal_help(sub)


class _LazyCommands(Mapping[str, Command]):
    """The group's commands by name; a command is built on first lookup, never by listing."""

    def __init__(self) -> None:
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in _COMMANDS:
            raise KeyError(name)
        if name not in self._built:
            self._built[name] = _load(name)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_COMMANDS)

    def __len__(self) -> int:
        return len(_COMMANDS)


class _LazyGroup(TyperGroup):
    """typer's group with commands that load on demand (typer's own lists load them all)."""

    def __init__(self, **attrs: object) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()

    def list_commands(self, ctx: Context) -> list[str]:
        """The names, in the listing's order, without building any command."""
        return list(_COMMANDS)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The listing from ``_COMMANDS``: asking a command for its help would import it."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, _, summary) in _COMMANDS.items()])


app = typer.Typer(
    name="verifix",
    cls=_LazyGroup,
    help="Repairs code with an LLM; verifies every patch with the repo's own tests in Docker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say [sandbox] and [default: ...] literally
)

_state = {"debug": False}
_INTERRUPTED = "interrupted: the sandbox was removed and your repository is untouched"


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # 14 ms, only for --version

        print(f"verifix {version('verifix')}")
        raise typer.Exit(0)


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """verifix: guess-and-check code repair."""
    _state["debug"] = debug or os.environ.get("VERIFIX_DEBUG") == "1"


def _error(message: str) -> None:
    """One red line on stderr; rich (20 ms) loads here, not for ``--help`` or a typo."""
    from .output import error

    error(message)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # same cleanup path as Ctrl-C: containers are removed


def run() -> None:
    """Console-script entry: map every failure to one line and a documented exit code."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = app(standalone_mode=False)
        if code == exit_codes.INTERRUPTED:  # typer turns KeyboardInterrupt into this return
            _error(_INTERRUPTED)
    except typer.Exit as exc:
        code = exc.exit_code
    except ClickException as exc:  # a usage error: click's own message, with the usage line
        exc.show()
        code = exit_codes.USAGE
    except (KeyboardInterrupt, typer.Abort):
        _error(_INTERRUPTED)
        code = exit_codes.INTERRUPTED
    except VerifixError as exc:
        if _state["debug"]:
            traceback.print_exc()
        _error(str(exc))
        code = exit_codes.USAGE if isinstance(exc, UsageError) else exit_codes.ENVIRONMENT
    except Exception as exc:
        from verifix.sandbox.engine import loss_behind  # no docker import: os and errors

        if _state["debug"]:
            traceback.print_exc()
        engine = loss_behind(exc)
        raw = f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
        _error(str(engine) if engine else raw)
        code = exit_codes.ENVIRONMENT
    sys.stderr.flush()
    sys.exit(code if isinstance(code, int) else 0)
