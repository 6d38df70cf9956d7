"""Bad input gets one line saying what is wrong and what to do, and a documented exit code."""

from __future__ import annotations

import pytest
from conftest import verifix

USAGE, ENVIRONMENT = 2, 3


def _one_line_error(result) -> str:
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.err
    assert "Traceback" not in result.err
    return errors[0]


def test_not_a_git_repo(tmp_path):
    result = verifix("verify", str(tmp_path))
    assert result.code == USAGE
    assert "is not a git repository" in _one_line_error(result)


def test_no_docker_engine(make_repo):
    repo = make_repo()
    result = verifix("verify", str(repo), env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.code == ENVIRONMENT
    line = _one_line_error(result)
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in line
    assert "dockerd" in line


def test_missing_patch_file(make_repo, tmp_path):
    repo = make_repo()
    result = verifix("verify", "--patch", str(tmp_path / "nope.diff"), str(repo))
    assert result.code == USAGE
    assert "nope.diff does not exist" in _one_line_error(result)


def test_patch_that_is_not_a_diff(make_repo, tmp_path):
    repo = make_repo()
    patch = tmp_path / "notes.txt"
    patch.write_text("please fix the add function\n")
    result = verifix("verify", "--patch", str(patch), str(repo))
    assert result.code == USAGE
    assert "is not a unified diff" in _one_line_error(result)


@pytest.mark.docker
def test_repo_without_tests(make_repo):
    repo = make_repo({"app.py": "print('hello')\n"})
    result = verifix("verify", str(repo))
    assert result.code == USAGE
    assert "no tests found" in _one_line_error(result)


@pytest.mark.docker
def test_invalid_config_file(make_repo):
    repo = make_repo()
    (repo / ".verifix.toml").write_text("[sandbox]\ntest_timeout = 'soon'\n")
    result = verifix("verify", str(repo))
    assert result.code == USAGE
    assert "'test_timeout' in .verifix.toml [sandbox] must be an integer" in _one_line_error(result)


@pytest.mark.docker
def test_secret_in_sandbox_env_is_refused(make_repo):
    repo = make_repo()
    result = verifix("verify", "--env", "OPENAI_API_KEY=sk-123", str(repo))
    assert result.code == USAGE
    assert "looks like a secret" in _one_line_error(result)


def test_unknown_swebench_instance(make_repo, tmp_path):
    repo = make_repo()
    jsonl = tmp_path / "tasks.jsonl"
    jsonl.write_text('{"instance_id": "a__b-1"}\n')
    result = verifix("verify", "--swebench", str(jsonl), "--instance", "x__y-2", str(repo))
    assert result.code == USAGE
    assert "no instance 'x__y-2'" in _one_line_error(result)


def test_debug_shows_the_traceback(tmp_path):
    result = verifix("--debug", "verify", str(tmp_path))
    assert result.code == USAGE
    assert "Traceback" in result.err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["verfy"], "Error: No such command 'verfy'. Did you mean 'verify'?"),
        ([], "Usage: verifix [OPTIONS] COMMAND [ARGS]..."),
        (["env"], "Usage: verifix env [OPTIONS] COMMAND [ARGS]..."),
        (
            ["fix", "--max-attempts", "abc"],
            "Error: Invalid value for '--max-attempts': Input should be a valid integer",
        ),
    ],
    ids=["typo", "bare", "bare-group", "not-a-number"],
)
def test_usage_errors_exit_2_with_clicks_message(args, says):
    result = verifix(*args)
    assert result.code == USAGE, result.err
    assert says in result.err
    assert not {"UsageError", "NoArgsIsHelpError", "BadParameter"} & set(result.err.split(": "))
    assert "Traceback" not in result.err and result.out == ""
