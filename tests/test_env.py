"""``verifix env show|build|prune``, ``verifix demo`` and setup pass-through, on the engine."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import SESSION, TEST_PYTHON, git, verifix
from verifix.sandbox import images

pytestmark = pytest.mark.docker


def commit_dated(repo: Path, when: str) -> None:
    """An empty commit made at ``when``: the snapshot's era is its date."""
    dated = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    who = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(
        ["git", "-C", str(repo), *who, "commit", "--allow-empty", "-qm", "dated"],
        check=True,
        env=dated,
    )


def test_env_show_names_each_source(make_repo):
    repo = make_repo()
    (repo / ".verifix.toml").write_text("[sandbox]\ntest_timeout = 77\n")

    result = verifix("env", "show", "--json", "--python", TEST_PYTHON, str(repo))

    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert rows["test_timeout"] == {"value": 77, "source": ".verifix.toml [sandbox]"}
    assert rows["python"] == {"value": [TEST_PYTHON], "source": "command line"}
    assert rows["test_command"]["value"] == "python -m pytest"
    assert rows["test_command"]["source"].startswith("detected: pytest configured in")
    assert rows["base image"]["value"] == images.bootstrap_ref(TEST_PYTHON)


def test_build_then_cached_then_prune(make_repo, docker_client):
    repo = make_repo()
    marker = uuid.uuid4().hex  # a setup command of its own: a fresh cache key
    setup = ("--setup", f"echo {marker}", "--setup", "python -m pip install pytest")

    first = verifix("env", "build", *setup, str(repo))
    second = verifix("env", "build", *setup, str(repo))

    assert first.code == 0, first.err
    assert "built in" in first.out
    assert f"setup: echo {marker}" in first.err
    assert second.code == 0, second.err
    assert "(cached," in second.out
    assert f"setup: echo {marker}" not in second.err  # the line the first build printed
    tag = first.out.split()[0]
    assert second.out.split()[0] == tag
    assert docker_client.images.get(tag).labels["verifix.kind"] == "env"

    stray = docker_client.containers.run(
        images.bootstrap_ref(TEST_PYTHON),
        ["sleep", "600"],
        detach=True,
        labels={
            "verifix": "1",
            "verifix.kind": "run",
            "verifix.session": SESSION,
        },
    )
    # A container whose verifix process is still alive (this one) belongs to a running check.
    running = docker_client.containers.run(
        images.bootstrap_ref(TEST_PYTHON),
        ["sleep", "600"],
        detach=True,
        labels={"verifix": "1", "verifix.session": SESSION, "verifix.pid": str(os.getpid())},
    )
    pruned = verifix("env", "prune")
    assert pruned.code == 0
    assert "removed 1 containers" in pruned.out
    assert "kept 1 containers of running verifix processes" in pruned.out
    assert not docker_client.containers.list(all=True, filters={"id": stray.id})
    assert docker_client.containers.list(all=True, filters={"id": running.id})
    assert verifix("env", "prune", "--force").code == 0
    assert not docker_client.containers.list(all=True, filters={"id": running.id})
    assert not docker_client.images.list(name=tag)
    assert docker_client.images.list(name=images.bootstrap_ref(TEST_PYTHON))


def test_setup_gets_proxy_settings_and_tests_get_no_network(make_repo):
    repo = make_repo()
    (repo / ".verifix.toml").write_text(
        "[sandbox]\n"
        # A proxy that nothing listens on, bypassed for every host: setup sees the gateway,
        # never the host's proxy itself.
        "proxy = {https_proxy = 'http://127.0.0.1:9', no_proxy = '*'}\n"
        "setup = [\n"
        '  \'test -n "$HTTPS_PROXY" && test "$HTTPS_PROXY" != http://127.0.0.1:9\',\n'
        f"  'echo {uuid.uuid4().hex}',\n"
        "  'python -m pip install pytest',\n"
        "]\n"
    )
    (repo / "tests" / "test_net.py").write_text(
        "import os, socket\n\n\n"
        "def test_no_proxy_env():\n    assert 'HTTPS_PROXY' not in os.environ\n\n\n"
        "def test_no_network():\n"
        "    try:\n        socket.create_connection(('1.1.1.1', 53), timeout=3)\n"
        "    except OSError:\n        return\n"
        "    raise AssertionError('the test run reached the network')\n"
    )

    result = verifix(
        "verify",
        "--json",
        "--tests",
        "tests/test_net.py::test_no_network",
        "--tests",
        "tests/test_net.py::test_no_proxy_env",
        str(repo),
    )

    # Both pass in the sandbox; with no patch, targets that pass prove nothing about a fix.
    verdict = json.loads(result.out)
    assert verdict["status"] == "TARGETS_ALREADY_PASS", result.out + result.err
    assert [t["before"] for t in verdict["targets"]] == ["passed", "passed"]
    assert result.code == 1


def test_demo_runs_the_loop_with_the_bundled_model():
    result = verifix("demo")
    assert result.code == 0, result.out + result.err
    assert "attempt 1: NOT VERIFIED" in result.err
    assert "attempt 2: VERIFIED" in result.err
    assert "+    return round(price - price * percent / 100, 2)" in result.out

    # What the model read is kept readable: the edit format, the issue, the failing test
    # and the code it must change, in that order, in plain text.
    kept = result.err.split("verifix show --prompts ")[1].split()[0]
    shown = verifix("show", "--prompts", kept)
    assert shown.code == 0, shown.err
    system, first = shown.out.split("fix: system")[1].split("fix: user")[:2]
    assert "<<<<<<< SEARCH" in system and ">>>>>>> REPLACE" in system
    issue_at, test_at = first.index("ISSUE"), first.index("## Failing tests")
    assert issue_at < test_at < first.index("def apply_discount")
    assert "\\n" not in first  # real line breaks, not escaped ones


def test_missing_python_version_falls_back_to_the_nearest_image_and_says_so(make_repo):
    repo = make_repo()
    (repo / ".python-version").write_text("3.7.17\n")  # no Debian release ships 3.7 any more

    shown = verifix("env", "show", "--json", str(repo))

    assert shown.code == 0, shown.err
    rows = json.loads(shown.out)
    assert rows["python"] == {"value": ["3.7"], "source": "detected: .python-version"}
    assert rows["base image"]["source"].startswith("Python 3.7 wanted; no image for it, using")


def test_an_old_commit_installs_the_packages_of_its_day(make_repo):
    repo = make_repo()
    commit_dated(repo, "2021-03-01T12:00:00")

    shown = json.loads(verifix("env", "show", "--json", "--python", "3.11", str(repo)).out)
    (repo / ".verifix.toml").write_text("[sandbox]\npackages_as_of = 'latest'\n")
    latest = json.loads(verifix("env", "show", "--json", "--python", "3.11", str(repo)).out)

    # Python 3.11 came out in October 2022: packages from before then have no wheels for it.
    assert shown["packages as of"]["value"] == "2023-04-22"
    assert shown["packages as of"]["source"].startswith("Python 3.11 + 180 days")
    assert "pytest<7" in shown["setup"]["value"][-1]
    assert latest["packages as of"] == {"value": "today", "source": "configured: latest"}


def test_env_check_runs_the_suite_once_and_says_what_it_found(make_repo):
    repo = make_repo()
    result = verifix("env", "check", "--json", str(repo))

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["ok"] is True
    assert report["counts"] == {"failed": 2, "passed": 1}
    assert report["python"] == "3.11"
    assert report["python_source"].startswith("detected")
    assert report["test_command"] == "python -m pytest"
    assert {t["id"] for t in report["slowest"]} == {
        "tests/test_calc.py::test_add",
        "tests/test_calc.py::test_double",
        "tests/test_calc.py::test_double_two",
    }
    assert "1 of 3 tests pass" in report["reason"]


def test_env_check_names_a_setup_failure_and_keeps_the_log(make_repo):
    repo = make_repo()
    result = verifix("env", "check", "--setup", "echo broken-step-output; exit 7", str(repo))

    assert result.code == 1
    assert result.out.startswith("SUITE DOES NOT RUN")
    assert "exited with 7" in result.out
    log = result.out.split("log: ")[-1].strip().split()[0]
    assert "broken-step-output" in Path(log).read_text()
    Path(log).unlink()


def test_an_old_commit_gets_the_python_of_its_era_bootstrapped_if_needed(make_repo, docker_client):
    repo = make_repo()
    commit_dated(repo, "2020-06-01T12:00:00")

    result = verifix("env", "check", "--json", str(repo))

    assert result.code == 0, result.err
    report = json.loads(result.out)
    # 2020-06: Python 3.8 was current; Debian builds 3.9, the nearest (3.11 is further).
    assert report["python"] == "3.9"
    assert "commit of 2020-06-01: Python 3.8 was current" in report["python_source"]
    assert any("Python 3.8 wanted" in n for n in report["notes"])
    assert "pytest<6" in report["setup"][-1]
    assert report["counts"] == {"failed": 2, "passed": 1}
    assert docker_client.images.list(name=images.bootstrap_ref("3.9"))


def test_a_setup_py_importing_an_undeclared_module_is_repaired_once(make_repo, tmp_path):
    repo = make_repo()
    (repo / "setup.py").write_text(
        "import six  # needed at build time, declared nowhere\n"
        "from setuptools import setup\n\nsetup(name='calc', version='1.0', py_modules=['calc'])\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "setup.py")
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    first = verifix("env", "check", "--json", str(repo), env=cache)

    assert first.code == 0, first.out + first.err
    report = json.loads(first.out)
    assert report["counts"] == {"failed": 2, "passed": 1}
    assert any("setup repaired: python -m pip install six" in n for n in report["notes"])
    recipes = list((tmp_path / "cache" / "verifix" / "recipes").glob("*.toml"))
    assert len(recipes) == 1
    assert "python -m pip install six" in recipes[0].read_text()
    again = json.loads(verifix("env", "check", "--json", str(repo), env=cache).out)
    assert again["cached"] is True
    assert any("repaired once" in n for n in again["notes"])
    shown = json.loads(verifix("env", "show", "--json", str(repo), env=cache).out)
    assert "python -m pip install six" in shown["repaired setup"]["value"]


def test_a_suite_configured_for_an_undeclared_plugin_is_repaired_to_collect(make_repo):
    repo = make_repo()
    (repo / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\npythonpath = ["."]\naddopts = "--timeout=60"\n'
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a timeout plugin nobody declares")

    checked = verifix("env", "check", "--json", str(repo))

    assert checked.code == 0, checked.out + checked.err
    report = json.loads(checked.out)
    assert report["counts"] == {"failed": 2, "passed": 1}
    assert any("python -m pip install pytest-timeout" in n for n in report["notes"])


def test_a_module_that_cannot_be_imported_does_not_stop_the_rest_of_the_suite(make_repo):
    repo = make_repo()
    (repo / "maint").mkdir()
    (repo / "maint" / "tool_test.py").write_text("import not_installed_anywhere\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a maintainer script named like a test")

    checked = verifix(
        "env", "check", "--json", "--setup", "python -m pip install -q pytest", str(repo)
    )

    assert checked.code == 0, checked.out + checked.err
    assert json.loads(checked.out)["counts"] == {"error": 1, "failed": 2, "passed": 1}


def test_the_collection_probe_runs_offline_as_a_test_run_does(make_repo):
    """A suite that reaches out at import (pydicom's test files download data) must be
    probed as the tests will run it, with no network; through the setup network its fetches
    waited on refusals or DNS timeouts, file after file, for the probe's whole timeout.
    Here a conftest that sees a proxy, a route out or a name server that keeps it
    waiting fails to import, which the probe would report."""
    repo = make_repo()
    (repo / "tests" / "conftest.py").write_text(
        "import os, socket, time\n\n"
        "proxied = any(os.environ.get(n) for n in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy'))\n"
        "with open('/proc/net/route') as routes:\n"
        "    routed = len(routes.read().splitlines()) > 1\n"
        "asked = time.monotonic()\n"
        "try:\n"
        "    socket.getaddrinfo('pypi.org', 443)\n"
        "except OSError:\n"
        "    pass\n"
        "slow_dns = time.monotonic() - asked > 3\n"
        "if proxied or routed or slow_dns:\n"
        "    import only_importable_offline\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a conftest that looks for a proxy")

    fresh = f"python -m pip install -q pytest && echo {uuid.uuid4().hex}"  # a new image
    checked = verifix("env", "check", "--setup", fresh, str(repo))

    assert checked.code == 0, checked.out + checked.err
    assert "the suite cannot collect" not in checked.err
    assert "counts: 2 failed, 1 passed" in checked.out
