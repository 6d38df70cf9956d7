"""The ``verifix`` entry point: global options, error handling and exit codes.

Heavy libraries (docker, litellm) are imported inside the commands that use them, so
``verifix --help`` stays instant.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from importlib.metadata import version as dist_version
from typing import Annotated

import click
import typer
from verifix.sandbox.errors import UsageError, VerifixError

from . import exit_codes
from .demo_cmd import demo
from .env_cmd import env_app, sandbox_app
from .fix_cmd import fix
from .github_cmd import github_app
from .hook_cmd import hook_app
from .output import error, stderr
from .show_cmd import show
from .verify_cmd import verify

app = typer.Typer(
    name="verifix",
    help="Repairs code with an LLM; verifies every patch with the repo's own tests in Docker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say [sandbox] and [default: ...] literally
)
app.command("verify")(verify)
app.command("fix")(fix)
app.command("show")(show)
app.command("demo")(demo)
app.add_typer(env_app, name="env")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(github_app, name="github")
app.add_typer(hook_app, name="hook")

_state = {"debug": False}
_INTERRUPTED = "interrupted: the sandbox was removed and your repository is untouched"


def _version(value: bool) -> None:
    if value:
        print(f"verifix {dist_version('verifix')}")
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


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # same cleanup path as Ctrl-C: containers are removed


def run() -> None:
    """Console-script entry: map every failure to one line and a documented exit code."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = app(standalone_mode=False)
        if code == exit_codes.INTERRUPTED:  # typer turns KeyboardInterrupt into this return
            error(_INTERRUPTED)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exit_codes.USAGE
    except (KeyboardInterrupt, click.exceptions.Abort):
        error(_INTERRUPTED)
        code = exit_codes.INTERRUPTED
    except VerifixError as exc:
        if _state["debug"]:
            traceback.print_exc()
        error(str(exc))
        code = exit_codes.USAGE if isinstance(exc, UsageError) else exit_codes.ENVIRONMENT
    except Exception as exc:
        if _state["debug"]:
            traceback.print_exc()
        error(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
        code = exit_codes.ENVIRONMENT
    stderr.file.flush()
    sys.exit(code if isinstance(code, int) else 0)
