"""``@env_options``: the environment options defined once, taken as one ``EnvOptions`` (no
Docker: a toy command and the real commands' help)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import pytest
import typer
from conftest import verifix
from typer.testing import CliRunner
from verifix.cli.common import NO_ENV_OPTIONS, EnvOptions, env_options
from verifix.cli.main import _load

seen: list[tuple[str, EnvOptions, bool]] = []


@env_options(rebuild=True)
def toy(
    name: Annotated[str, typer.Argument()] = "x",
    opts: EnvOptions = NO_ENV_OPTIONS,
    loud: Annotated[bool, typer.Option("--loud")] = False,
) -> int:
    """A command with parameters before and after its environment options."""
    seen.append((name, opts, loud))
    return 0


def test_the_command_gets_one_env_options_value():
    app = typer.Typer()
    app.command()(toy)
    seen.clear()
    args = ["y", "--python", "3.9", "--env", "A=1", "--setup", "a", "--setup", "b", "--loud"]
    result = CliRunner().invoke(app, [*args, "--rebuild", "--config", "c.toml"])
    assert result.exit_code == 0, result.output
    [(name, opts, loud)] = seen
    assert (name, loud) == ("y", True)
    assert opts == EnvOptions(
        config=Path("c.toml"), python="3.9", setup=["a", "b"], env=["A=1"], rebuild=True
    )
    assert opts.overrides() == {"python": "3.9", "setup": ["a", "b"], "env": {"A": "1"}}


def test_the_signature_typer_reads_has_the_options_where_the_parameter_stood():
    names = list(inspect.signature(toy).parameters)
    assert names[0] == "name" and names[-1] == "loud"
    assert names[1:-1] == [
        "config",
        "image",
        "python",
        "setup",
        "test_cmd",
        "env",
        "test_timeout",
        "setup_timeout",
        "rebuild",
    ]
    assert toy.__doc__.startswith("A command with parameters")
    seen.clear()
    toy(name="z", python="3.12")  # a Python caller passes the options by name
    toy(opts=EnvOptions(image="i"))  # or the EnvOptions itself
    assert [s[1] for s in seen] == [EnvOptions(python="3.12"), EnvOptions(image="i")]


def test_misuse_is_refused_when_the_module_loads():
    with pytest.raises(TypeError, match="needs one parameter of type EnvOptions"):
        env_options(lambda x=1: x)

    def clashing(python: str = "", opts: EnvOptions = NO_ENV_OPTIONS) -> None: ...

    with pytest.raises(TypeError, match="clash"):
        env_options(clashing)


PANEL = "Environment (overrides .verifix.toml and detection)"
NAMES = ("config", "image", "python", "setup", "test_cmd", "env", "test_timeout", "setup_timeout")


def test_verify_and_env_show_build_check_take_every_option_in_the_panel():
    env = _load("env").commands
    for cmd in (_load("verify"), env["show"], env["build"], env["check"]):
        panels = {p.name: getattr(p, "rich_help_panel", None) for p in cmd.params}
        assert all(panels[name] == PANEL for name in NAMES), cmd.name
        # verify's --rebuild is the group's; env build keeps its own ("Build even if cached.")
        rebuild = {"verify": PANEL, "build": None}.get(cmd.name, "absent")
        assert panels.get("rebuild", "absent") == rebuild, cmd.name


def test_fix_help_groups_its_options_in_panels():
    shown = verifix("fix", "--help")

    assert shown.code == 0, shown.err
    for panel in ("Model", "Limits", "GitHub", "Environment (overrides .verifix.toml"):
        assert f"─ {panel}" in shown.out, panel
    for option in ("--python", "--setup", "--test-cmd", "--env", "--rebuild", "--json"):
        assert f"{option} " in shown.out, option
    # Help texts are plain text: brackets are printed, not taken for markup.
    assert "[default: 1.00]" in shown.out and "[sandbox]" in shown.out
