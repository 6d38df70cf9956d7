"""Repair of a failed setup step (rules, then an advisor), and the recipe that worked.

Setup fails in a few generic ways that a rule can fix without a human: a ``setup.py`` that
imports a module it never declares (numpy, Cython, six) fails with and without build
isolation (the rule installs the module); a package whose every file was re-uploaded after
the commit's era has no file old enough for the package cutoff (the rule installs that one
package without the cutoff); a dependency whose every old enough version has metadata
today's pip refuses (a newer one, without the cutoff); a C extension and no compiler or
Python headers in the image (Debian's build-essential, python3-dev); a build that runs a
tool the image lacks (pkg-config, icu-config, npm, cmake...: the Debian package that has
it). Then the step is retried.

When no rule applies, an advisor (a model, from the agent) may propose commands, which
run only if ``advised_argv`` allows them. Whatever was added is kept as a recipe in the
user's cache, in ``.verifix.toml`` form, so ``env show`` can print it and a user can commit
it; the repaired image is cached under the original key, so the next run needs no retries.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

#: Import names whose distribution is called something else.
_DISTRIBUTIONS = {
    "yaml": "pyyaml",
    "Cython": "cython",
    "setuptools_scm": "setuptools-scm",
    "pkg_resources": "setuptools",
    "skbuild": "scikit-build",
    "git": "gitpython",
    "PIL": "pillow",
    "sklearn": "scikit-learn",
    "dateutil": "python-dateutil",
    "attr": "attrs",
    "google.protobuf": "protobuf",
}
_MISSING = re.compile(r"No module named '?([\w.]+)'?")
#: pip under ``--uploaded-prior-to`` finding no file old enough: some packages had every
#: file re-uploaded after the fact. That package alone is then taken without the cutoff.
_NO_OLD_FILES = re.compile(
    r"\(from versions: none\)\s*\n.*?No matching distribution found for ([^\s]+)", re.S
)
_NO_CUTOFF = "env -u PIP_UPLOADED_PRIOR_TO python -m pip install"
#: Repairs per environment build: a loop that keeps finding new missing modules is a sign
#: the step needs a human (or a model).
MAX_REPAIRS = 4


#: A C extension with no compiler in the image (slim and bootstrapped images have none).
_NO_COMPILER = re.compile(
    r"command '[\w./-]*(?:gcc|g\+\+|cc|c\+\+)' failed: No such file|"
    r"unable to execute '[\w./-]*(?:gcc|g\+\+|cc)'|(?:gcc|g\+\+|cc): (?:command )?not found"
)
_NO_HEADERS = re.compile(r"Python\.h: No such file")
#: Build-time tools a package looks for, and the Debian package that has each.
_TOOLS = {
    "pkg-config": "pkg-config",
    "icu-config": "libicu-dev",
    "npm": "npm",
    "node": "nodejs",
    "cmake": "cmake",
    "make": "make",
    "swig": "swig",
    "gfortran": "gfortran",
    "cargo": "cargo",
    "rustc": "rustc",
    "pg_config": "libpq-dev",
    "mysql_config": "default-libmysqlclient-dev",
    "xml2-config": "libxml2-dev",
    "xslt-config": "libxslt1-dev",
    "curl-config": "libcurl4-openssl-dev",
    "gdal-config": "libgdal-dev",
    "geos-config": "libgeos-dev",
    "mpicc": "libopenmpi-dev",
    "pandoc": "pandoc",
}
_TOOL_NAMES = "|".join(re.escape(t) for t in sorted(_TOOLS, key=len, reverse=True))
_NO_TOOL = re.compile(
    rf"No such file or directory: '(?:[\w./-]*/)?({_TOOL_NAMES})'"
    rf"|'({_TOOL_NAMES})(?: -v| --version)?' failed"
    rf"|\b({_TOOL_NAMES}): (?:command )?not found"
    rf"|\bNo ({_TOOL_NAMES}) (?:was )?found"
)
#: A build run without isolation (the fallback) that names what it needs to build.
_MISSING_BUILD_REQUIREMENT = re.compile(r"missing build requirement '([^']+)'")
_APT = "apt-get update -qq && apt-get install -y -qq --no-install-recommends"
#: pip 24.1 and later refuse package versions whose metadata older tools accepted; when
#: every version old enough for the cutoff is refused, a newer one is the way out.
_OLD_METADATA = re.compile(
    r"has invalid metadata.*No matching distribution found for ([^\s]+)", re.S
)


#: Options a repo's pytest configuration passes (``addopts``) and the plugin that adds each:
#: a suite configured for a plugin it never declares cannot even collect without it.
_PLUGIN_OPTIONS = {
    "--cov": "pytest-cov",
    "--cov-report": "pytest-cov",
    "--cov-config": "pytest-cov",
    "--timeout": "pytest-timeout",
    "-n": "pytest-xdist",
    "--numprocesses": "pytest-xdist",
    "--dist": "pytest-xdist",
    "--reruns": "pytest-rerunfailures",
    "--benchmark-skip": "pytest-benchmark",
    "--benchmark-disable": "pytest-benchmark",
    "--doctest-plus": "pytest-doctestplus",
    "--doctest-rst": "pytest-doctestplus",
    "--mpl": "pytest-mpl",
    "--remote-data": "pytest-remotedata",
    "--asyncio-mode": "pytest-asyncio",
    "--mypy": "pytest-mypy",
    "--flake8": "pytest-flake8",
    "--black": "pytest-black",
    "--isort": "pytest-isort",
    "--randomly-seed": "pytest-randomly",
    "--hypothesis-profile": "hypothesis",
    "--hypothesis-show-statistics": "hypothesis",
    "--env": "pytest-env",
    "--nbval": "nbval",
}
_UNRECOGNIZED = re.compile(r"error: unrecognized arguments: (.+)")
#: A plugin that needs a newer pytest than the era's: the oldest pytest it accepts.
_PLUGIN_WANTS_PYTEST = re.compile(
    r"Plugin '[\w.-]+' could not be loaded: \(pytest [\d.]+ .*?'(pytest[<>=!~][^']+)'"
)


def collect_repair_for(output: str, already: list[str]) -> str | None:
    """A command that may let a suite that cannot collect run: the plugin its options
    need, a pytest its plugins accept, or a module it imports (then ``repair_for``)."""
    wanted = _PLUGIN_WANTS_PYTEST.search(output)
    if wanted:
        command = f"python -m pip install {shlex.quote(wanted.group(1))}"
        if command not in already:
            return command
    for match in _UNRECOGNIZED.finditer(output):
        for option in match.group(1).split():
            plugin = _PLUGIN_OPTIONS.get(option.split("=")[0])
            command = f"python -m pip install {plugin}" if plugin else None
            if command and command not in already:
                return command
    return repair_for(output, already)


def collect_repair_reason(output: str) -> str:
    """The line of a failed collection that the rule acted on."""
    wanted = _PLUGIN_WANTS_PYTEST.search(output)
    if wanted:
        return f"a pytest plugin needs {wanted.group(1)}"
    unrecognized = _UNRECOGNIZED.search(output)
    if unrecognized:
        return f"the pytest configuration passes {unrecognized.group(1).split()[0]}"
    return repair_reason(output)


def repair_for(output: str, already: list[str]) -> str | None:
    """A command that may fix the failure in ``output``, or None when no rule applies."""
    for pattern, packages in ((_NO_COMPILER, "build-essential"), (_NO_HEADERS, "python3-dev")):
        command = f"{_APT} {packages}"
        if pattern.search(output) and command not in already:
            return command
    for match in _NO_TOOL.finditer(output):
        tool = next(g for g in match.groups() if g)
        command = f"{_APT} {_TOOLS[tool]}"
        if command not in already:
            return command
    refused = _OLD_METADATA.search(output)
    if refused:
        command = f"{_NO_CUTOFF} {shlex.quote(refused.group(1))}"
        if command not in already:
            return command
    for requirement in _MISSING_BUILD_REQUIREMENT.findall(output):
        command = f"python -m pip install {shlex.quote(requirement.replace(' ', ''))}"
        if command not in already:
            return command
    for requirement in reversed(_NO_OLD_FILES.findall(output)):
        command = f"{_NO_CUTOFF} {shlex.quote(requirement)}"
        if command not in already:
            return command
    for name in reversed(_missing(output)):
        command = f"python -m pip install {shlex.quote(_DISTRIBUTIONS.get(name, name))}"
        if command not in already:
            return command
    return None


def repair_reason(output: str) -> str:
    """The line of ``output`` the rule acted on."""
    if _NO_COMPILER.search(output):
        return "no C compiler in the image"
    tool = _NO_TOOL.search(output)
    if tool:
        return f"the build needs {next(g for g in tool.groups() if g)}"
    if _NO_HEADERS.search(output):
        return "no Python headers in the image"
    refused = _OLD_METADATA.search(output)
    if refused:
        return f"today's pip refuses the metadata of every {refused.group(1)} old enough"
    needed = _MISSING_BUILD_REQUIREMENT.search(output)
    if needed:
        return f"the build needs {needed.group(1)}"
    old = _NO_OLD_FILES.findall(output)
    if old:
        return f"no file of {old[-1]} uploaded before the package cutoff"
    found = _missing(output)
    return f"No module named {found[-1]!r}" if found else "?"


def _missing(output: str) -> list[str]:
    """Modules the output says are missing that installing a distribution can provide. A
    missing submodule of a package that is there (pandas.plotting._style) means another
    version of it, which no rule can guess; "..." is not a module at all."""
    return [
        name
        for name in _MISSING.findall(output)
        if (name in _DISTRIBUTIONS or re.fullmatch(r"[A-Za-z]\w*", name))
        and name != "verifix_report"
    ]


def recipe_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "verifix" / "recipes"


def recipe_path(key: str) -> Path:
    return recipe_dir() / f"{key[:24]}.toml"


def save_recipe(key: str, setup: list[str], why: list[str]) -> Path:
    """Write the setup that worked as a ``[sandbox]`` table a user can copy."""
    path = recipe_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# verifix repaired this environment's setup:"]
    lines += [f"#   {w}" for w in why]
    lines.append("[sandbox]")
    lines.append("setup = [")
    lines += [f"  {_toml_string(c)}," for c in setup]
    lines.append("]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_recipe(key: str) -> str | None:
    path = recipe_path(key)
    return path.read_text(encoding="utf-8") if path.is_file() else None


@dataclass(frozen=True)
class SetupFailure:
    """What an advisor gets to read about a setup step no rule could fix."""

    command: str
    output: str  # the step's output, its tail if long
    done: tuple[str, ...]  # the steps that ran before it
    python: str | None
    evidence: dict[str, str] = field(default_factory=dict)  # repo file -> its start


class SetupAdvisor(Protocol):
    """Proposes commands to run before a failed setup step is retried (a model, in the
    agent); None when it has nothing to offer or no budget left."""

    def propose(self, failure: SetupFailure) -> list[str] | None: ...


#: What an advisor may run: package installs and builds, each run as an argument list with
#: no shell. Its commands run as root with the setup network in the image every later check
#: trusts, so anything that could plant code for the test run (a sitecustomize, a .pth
#: file, a conftest, pytest options) is refused too.
_ALLOWED_PREFIXES = (
    ("python", "-m", "pip", "install"),
    ("python3", "-m", "pip", "install"),
    ("pip", "install"),
    ("pip3", "install"),
    ("uv", "pip", "install"),
    ("apt-get", "install"),
    ("apt-get", "update"),
    ("python", "setup.py", "build_ext"),
    ("python", "setup.py", "build"),
    ("python", "setup.py", "develop"),
    ("python", "setup.py", "egg_info"),
)
_PLANTS = re.compile(r"sitecustomize|usercustomize|\.pth\b|conftest|PYTEST_ADDOPTS", re.I)


#: Files that tell how a project is set up: READMEs, CI, packaging.
EVIDENCE_GLOBS = (
    "README*",
    "CONTRIBUTING*",
    "tox.ini",
    "noxfile.py",
    "setup.cfg",
    "pyproject.toml",
    ".github/workflows/*.yml",
    ".github/workflows/*.yaml",
    ".travis.yml",
    "Makefile",
)
_EVIDENCE_EACH = 3000
_EVIDENCE_TOTAL = 12000


def advised_argv(command: str) -> list[str] | str:
    """The argument list an advised command runs as, or why it may not run."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return "it does not parse as a command"
    if _PLANTS.search(command):
        return "it could plant code for the test run"
    if re.search(r"[;|&`]|\$\(", command):
        return "shell syntax is not allowed (one plain command per line)"
    words = [a for a in argv if a not in ("-y", "-q", "-qq", "--yes", "--quiet")]
    if not any(tuple(words[: len(p)]) == p for p in _ALLOWED_PREFIXES):
        return "only pip/uv installs, apt-get install and setup.py builds are allowed"
    return argv


def refuse(command: str) -> str | None:
    """Why an advised command may not run, or None when it may."""
    argv = advised_argv(command)
    return argv if isinstance(argv, str) else None


def evidence(root: Path) -> dict[str, str]:
    """The start of each file that says how the project is set up, within a budget.

    It goes to a model, so only regular files inside the snapshot count: a symlink (of the
    file or of a folder on its path) that leads out of it is never followed.
    """
    inside = root.resolve()
    found: dict[str, str] = {}
    total = 0
    for pattern in EVIDENCE_GLOBS:
        for path in sorted(root.glob(pattern)):
            real = path.resolve()
            if inside not in real.parents or not real.is_file() or total >= _EVIDENCE_TOTAL:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")[:_EVIDENCE_EACH]
            found[path.relative_to(root).as_posix()] = text
            total += len(text)
    return found
