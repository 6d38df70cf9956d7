"""Fixtures: a real Docker engine, a bootstrapped base image, real git repos in temp dirs.

Nothing here is mocked: tests drive the installed ``verifix`` command as a user would, and
every test that uses the engine ends by checking that no container verifix made is left
behind.

The suite has two parts. Tests marked ``docker`` need the engine; the rest (the pure core:
verdict rules, edit matching, budget, detection, configuration, prompts, issue parsing,
redaction, ...) run without one: ``pytest -m "not docker"``. A test is marked ``docker``

- automatically, when it uses a Docker fixture (``docker_client``, ``base_image``), directly
  or through another fixture;
- explicitly, with ``pytestmark = pytest.mark.docker`` in a module of engine tests or
  ``@pytest.mark.docker`` on one test.

Every other test runs with ``DOCKER_HOST`` pointing at nothing, even when an engine is up,
so a pure test that secretly needs the engine fails loudly instead of passing by luck.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from verifix.sandbox import images
from verifix.sandbox.engine import connect

# A suite started in the background (``pytest ... &`` in a shell, some CI runners) inherits
# SIGINT ignored, and so would every verifix it starts, which the Ctrl-C tests then cannot
# interrupt. A handler here is reset to the default in each child at exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

TEST_PYTHON = "3.11"
#: The console script pip installed next to this interpreter.
VERIFIX = Path(sys.executable).parent / "verifix"


@dataclass
class Result:
    code: int
    out: str
    err: str


def verifix(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: int = 600,
) -> Result:
    """Run the installed console script, exactly as a user would."""
    proc = subprocess.run(
        [str(VERIFIX), *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


#: Every container this test session's verifix processes create carries this label, so the
#: leak check below never confuses them with another verifix run on the same engine.
SESSION = f"tests-{uuid.uuid4().hex[:12]}"
os.environ["VERIFIX_SESSION"] = SESSION
OURS = {"label": f"verifix.session={SESSION}"}


#: Where a test not marked ``docker`` finds its engine: nowhere (port 9 is discard, and
#: nothing listens on it), so a connection fails at once.
NO_ENGINE = "tcp://127.0.0.1:9"
#: Fixtures that talk to the engine: a test using one (even through another fixture) is
#: a ``docker`` test.
DOCKER_FIXTURES = frozenset({"docker_client", "base_image"})


def _needs_engine(item: pytest.Item) -> bool:
    return bool(set(getattr(item, "fixturenames", ())) & DOCKER_FIXTURES)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("docker") is None and _needs_engine(item):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def docker_client():
    return connect()


@pytest.fixture(scope="session")
def base_image(docker_client):
    """The bootstrapped base image the tests build on; reused when it already exists."""
    ref = images.bootstrap_ref(TEST_PYTHON)
    if not docker_client.images.list(name=ref):
        images.bootstrap(docker_client, TEST_PYTHON, lambda m: print(m, file=sys.stderr))
    return ref


@pytest.fixture(scope="session", autouse=True)
def index_cache(tmp_path_factory):
    """The locator's index for every test (and every verifix it runs) in a folder of this
    session's, never the user's cache; pytest removes it with its other temporary folders."""
    os.environ["VERIFIX_CACHE_DIR"] = str(tmp_path_factory.mktemp("verifix-cache"))
    yield
    os.environ.pop("VERIFIX_CACHE_DIR", None)


@pytest.fixture(autouse=True)
def engine(request, monkeypatch):
    """A ``docker`` test gets the base image and ends with no container left behind; any
    other test gets no engine at all."""
    if request.node.get_closest_marker("docker") is None:
        monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
        yield
        return
    request.getfixturevalue("base_image")
    client = request.getfixturevalue("docker_client")
    yield
    left = client.containers.list(all=True, filters=OURS)
    names = [c.name for c in left]
    for container in left:
        container.remove(force=True)
    assert not names, f"verifix left containers behind: {names}"


BUGGY_MODULE = """\
def add(a, b):
    return a - b


def double(x):
    return add(x, x)
"""

TESTS = """\
from calc import add, double


def test_add():
    assert add(2, 3) == 5


def test_double():
    assert double(0) == 0


def test_double_two():
    assert double(2) == 4
"""


def new_repo(folder: Path, files: dict[str, str] | None = None) -> Path:
    """A real git repo at ``folder`` with ``files`` committed (default: a calculator with a
    bug), for fixtures of any scope."""
    folder.mkdir(parents=True)
    files = (
        files
        if files is not None
        else {
            "calc.py": BUGGY_MODULE,
            "tests/test_calc.py": TESTS,
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
        }
    )
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "initial")
    return folder


@pytest.fixture
def make_repo(tmp_path) -> Callable[..., Path]:
    """A real git repo with the given files committed (default: a calculator with a bug)."""

    def make(files: dict[str, str] | None = None, name: str = "repo") -> Path:
        return new_repo(tmp_path / name, files)

    return make


def diff_for(repo: Path, rel: str, new_text: str) -> str:
    """A real patch: change a file, take ``git diff``, restore the file."""
    path = repo / rel
    old = path.read_text() if path.exists() else None
    path.write_text(new_text)
    if old is None:
        git(repo, "add", "-N", rel)
    patch = git(repo, "diff", "--", rel)
    if old is None:
        git(repo, "rm", "-q", "--cached", rel)
        path.unlink()
    else:
        path.write_text(old)
    return patch
