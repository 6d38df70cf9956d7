"""The settings schemas and their reader, and the README's configuration reference (no
Docker: files in temporary folders).

``python tests/test_settings.py`` rewrites the README's reference tables from the schemas.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from verifix.agent import settings
from verifix.sandbox import config
from verifix.sandbox.detect import detect
from verifix.sandbox.errors import UsageError
from verifix.sandbox.settings import TABLES, Layer, Schema, Setting

README = Path(__file__).resolve().parent.parent / "README.md"
SCHEMAS = (config.SCHEMA, settings.MODEL, settings.HOOK)

TOY = Schema(
    "toy",
    (
        Setting("name", str, help="a name"),
        Setting("size", float, 2.0, "a size"),
        Setting("count", int, 3, "a limit", limit=True),
        Setting("on", bool, True, "a switch"),
        Setting("paths", list, [], "some paths"),
        Setting("mode", str, "a", "a mode", choices=("a", "b")),
    ),
)


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    """Every test reads a user config of its own (absent unless it writes one)."""
    monkeypatch.setenv("VERIFIX_USER_CONFIG", str(tmp_path / "user.toml"))
    return tmp_path / "user.toml"


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("count", "3", "'count' in f.toml [toy] must be an integer, not '3'"),
        ("count", True, "'count' in f.toml [toy] must be an integer, not True"),
        ("on", 1, "'on' in f.toml [toy] must be true or false, not 1"),
        ("paths", [1], "'paths' in f.toml [toy] must be a list of strings, not [1]"),
        ("mode", "c", "'mode' in f.toml [toy] must be one of a, b, not 'c'"),
        ("cuont", 1, "unknown setting 'cuont' in f.toml [toy]; did you mean 'count'?"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_file_and_key(key, value, says):
    with pytest.raises(UsageError) as err:
        TOY.check({key: value}, "f.toml [toy]")
    assert str(err.value).startswith(says)
    assert "\n" not in str(err.value)


def test_values_are_kept_as_their_type():
    checked = TOY.check({"size": 3, "paths": "tests/unit", "count": 4}, "here")
    assert checked == {"size": 3.0, "paths": ["tests/unit"], "count": 4}
    assert isinstance(checked["size"], float)


def test_each_value_remembers_where_it_came_from(tmp_path, no_user_config):
    (tmp_path / "pyproject.toml").write_text("[tool.verifix.model]\nname = 'a'\nmax_cost = 0.5\n")
    (tmp_path / ".verifix.toml").write_text("[model]\nname = 'b'\n")
    no_user_config.write_text("[model]\nmax_attempts = 9\n")
    layers = settings.MODEL.repo_layers(tmp_path)
    assert [layer.source for layer in layers] == [
        "pyproject.toml [tool.verifix.model]",
        ".verifix.toml [model]",
    ]
    assert all(not layer.trusted for layer in layers)
    resolved = settings.MODEL.resolve([*layers, settings.MODEL.user_layer()])
    assert (resolved["name"].value, resolved["name"].source) == ("b", ".verifix.toml [model]")
    assert resolved["max_cost"].value == 0.5
    assert resolved["max_attempts"].source == f"{no_user_config} [model]"
    repo = settings.repo_model_table(tmp_path)
    assert repo == {"name": "b", "max_cost": 0.5}
    assert repo.sources["max_cost"] == "pyproject.toml [tool.verifix.model]"


def test_an_unknown_table_is_named_with_the_nearest(tmp_path, no_user_config):
    (tmp_path / ".verifix.toml").write_text("[modle]\nname = 'x'\n")
    with pytest.raises(UsageError, match=r"unknown table \[modle\] in .verifix.toml; did you"):
        settings.MODEL.repo_layers(tmp_path)
    no_user_config.write_text("[agent]\n")  # read by nobody, so refused
    with pytest.raises(UsageError, match=r"unknown table \[agent\]"):
        settings.MODEL.user_layer()


def test_a_repository_may_only_lower_a_limit():
    repo_high = Layer("repo", {"count": 10, "size": 9.0}, "repo")
    repo_low = Layer("repo", {"count": 1}, "repo")
    user = Layer("user", {"count": 5}, "user")
    assert TOY.resolve([repo_high])["count"].value == 3  # the default holds
    assert TOY.resolve([repo_high])["size"].value == 9.0  # not a limit
    assert TOY.resolve([repo_high, user])["count"].value == 5  # the user may raise it
    lowered = TOY.resolve([repo_low, user])["count"]
    assert (lowered.value, lowered.source) == (1, "repo")


def test_the_hook_table_user_over_repository_and_limits(tmp_path, no_user_config):
    (tmp_path / ".verifix.toml").write_text(
        "[hook]\nmax_cost = 5\nmax_attempts = 1\nstage = 'pre-commit'\ntests = 'tests/unit'\n"
    )
    hook = settings.hook_settings(tmp_path)
    assert hook["max_cost"].value == 0.25 and hook["max_cost"].source == "default"
    assert hook["max_attempts"].value == 1
    assert hook["stage"].value == "pre-commit"
    assert hook["tests"].value == ["tests/unit"]
    no_user_config.write_text("[hook]\nmax_cost = 1\nstage = 'pre-push'\n")
    hook = settings.hook_settings(tmp_path)
    assert (hook["max_cost"].value, hook["stage"].value) == (1.0, "pre-push")
    (tmp_path / ".verifix.toml").write_text("[hook]\nstage = 'post-push'\n")
    with pytest.raises(UsageError, match=r"'stage' in .verifix.toml \[hook\] must be one of"):
        settings.hook_settings(tmp_path)


def test_the_users_sandbox_table_changes_the_defaults_only(tmp_path, no_user_config):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_x():\n    pass\n")
    no_user_config.write_text("[sandbox]\nmemory = '8g'\ntest_command = 'make test'\n")
    spec = config.resolve(detect(tmp_path), config.read_repo_config(tmp_path))
    assert (spec.memory, spec.sources["memory"]) == ("8g", f"{no_user_config} [sandbox]")
    assert spec.test_command == "python -m pytest"  # detection beats the user's defaults
    (tmp_path / ".verifix.toml").write_text("[sandbox]\nmemory = '1g'\n")
    spec = config.resolve(detect(tmp_path), config.read_repo_config(tmp_path))
    assert (spec.memory, spec.sources["memory"]) == ("1g", ".verifix.toml [sandbox]")


def test_every_table_has_a_schema():
    assert sorted(TABLES) == sorted(schema.table for schema in SCHEMAS)
    for schema in SCHEMAS:
        for setting in schema:
            assert setting.help, f"[{schema.table}] {setting.name} has no help text"
            if setting.default is not None:
                setting.parse(setting.default, "default")  # defaults obey their own types


def _block(table: str) -> re.Pattern[str]:
    """The README's reference for a table: the lines between its two markers."""
    return re.compile(rf"<!-- schema: {table} -->\n(.*?)<!-- /schema -->", re.S)


def _written(schema: Schema) -> str:
    return f"<!-- schema: {schema.table} -->\n{schema.reference()}\n<!-- /schema -->"


def test_the_readme_reference_is_the_schema():
    """Every key appears in the README with its type, default and meaning: the tables
    between the markers are what ``Schema.reference()`` writes (run this file to update)."""
    text = README.read_text()
    for schema in SCHEMAS:
        found = _block(schema.table).search(text)
        assert found, f"README.md has no reference for [{schema.table}]"
        assert found.group(0) == _written(schema), (
            f"README.md's [{schema.table}] reference is out of date: "
            "run python tests/test_settings.py"
        )
        for setting in schema:
            assert f"| `{setting.name}` |" in found.group(1)
            assert setting.default_text() in found.group(1)


def test_the_readme_examples_name_only_keys_that_are_read():
    """No example in the README sets a table or key that verifix does not read."""
    text = README.read_text()
    schemas = {schema.table: schema for schema in SCHEMAS}
    for block in re.findall(r"```toml\n(.*?)```", text, re.S):
        table = None
        for line in block.splitlines():
            header = re.match(r"\[(?:tool\.verifix\.)?(\w+)\]", line)
            if header:
                table = header.group(1)
                assert table in schemas, f"README example sets [{table}]"
                continue
            key = re.match(r"(\w+)\s*=", line)
            if key and table:
                assert key.group(1) in schemas[table], f"README example sets [{table}] {key[1]}"


if __name__ == "__main__":  # rewrite the README's reference tables from the schemas
    text = README.read_text()
    for schema in SCHEMAS:
        text, count = _block(schema.table).subn(lambda _m, s=schema: _written(s), text)
        if not count:
            sys.exit(f"README.md has no '<!-- schema: {schema.table} -->' block")
    README.write_text(text)
