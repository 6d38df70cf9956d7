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


def test_bad_model_input_is_one_line_before_any_container(make_repo, tmp_path):
    """Checked before anything else, so it needs no engine: DOCKER_HOST points nowhere."""
    repo = make_repo()
    issue_file = tmp_path / "issue.md"
    issue_file.write_text("# add() subtracts\n\ncalc.add(2, 3) returns -1.\n")
    base = ("fix", str(repo), "--issue-file", str(issue_file))

    no_model = verifix(*base, env={"VERIFIX_MODEL": ""})
    assert no_model.code == 2
    assert "no model configured" in no_model.err

    unreachable = verifix(
        *base, "--model", "openai/x", "--api-base", "http://127.0.0.1:9/v1", "--accept-unknown-cost"
    )
    assert unreachable.code == 3
    assert "cannot reach model openai/x at http://127.0.0.1:9/v1" in unreachable.err

    no_key = verifix(*base, "--model", "openai/gpt-4o-mini", env={"OPENAI_API_KEY": ""})
    assert no_key.code == 2
    assert "needs OPENAI_API_KEY" in no_key.err

    unknown_price = verifix(
        *base, "--model", "openai/scripted", "--api-base", "http://127.0.0.1:9/v1"
    )
    assert unknown_price.code == 2
    assert "price of model openai/scripted is unknown" in unknown_price.err

    empty = tmp_path / "empty.md"
    empty.write_text("<!-- only a hidden comment -->\n\u200b\n")
    empty_issue = verifix(
        "fix", str(repo), "--issue-file", str(empty), "--model", "openai/x", "--accept-unknown-cost"
    )
    assert empty_issue.code == 2
    assert "is empty" in empty_issue.err
    for result in (no_model, unreachable, no_key, unknown_price, empty_issue):
        assert "Traceback" not in result.err
    assert not (repo / ".verifix").exists()  # no run started (the leak check: no container)


@pytest.mark.parametrize(
    ("search", "says"),
    [
        (["--strategy", "best"], "--strategy best: choose linear, parallel, tree"),
        (["--candidates", "0"], "--candidates must be at least 1"),
        (["--strategy", "tree", "--candidates", "2"], "searches one tree: drop --candidates"),
        (["--candidates", "3", "--stop-at", "4"], "--stop-at must be between 2 and --candidates"),
        (["--stop-at", "2"], "--stop-at must be between 2 and --candidates"),
        (["--strategy", "tree", "--stop-at", "1"], "--stop-at must be at least 2"),
    ],
    ids=["strategy", "candidates", "tree-candidates", "stop-above", "stop-alone", "tree-stop"],
)
def test_search_options_that_do_not_fit_together_are_one_line(make_repo, tmp_path, search, says):
    """Checked before the model or the engine: DOCKER_HOST points nowhere."""
    issue_file = tmp_path / "issue.md"
    issue_file.write_text("# add() subtracts\n")
    result = verifix("fix", str(make_repo()), "--issue-file", str(issue_file), *search)
    assert result.code == USAGE, result.err
    assert says in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
