"""Working out a repo's environment from its own files: Python version, setup, test command.

Each finding carries the reason it was chosen, because ``verifix env show`` must say where
every value came from and a wrong guess is only fixable if the user can see why it was made.
"""

from __future__ import annotations

import configparser
import re
import shlex
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from .incontainer import CONTAINER_DIR
from .tomlfile import read_toml

#: Python versions verifix knows how to find images for, oldest first.
KNOWN_PYTHONS = ("3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
DEFAULT_PYTHON = "3.11"
#: First release of each Python minor.
PYTHON_RELEASES = {
    "3.6": date(2016, 12, 23),
    "3.7": date(2018, 6, 27),
    "3.8": date(2019, 10, 14),
    "3.9": date(2020, 10, 5),
    "3.10": date(2021, 10, 4),
    "3.11": date(2022, 10, 24),
    "3.12": date(2023, 10, 2),
    "3.13": date(2024, 10, 7),
    "3.14": date(2025, 10, 7),
}
#: How long after a Python release its ecosystem has wheels for it (and projects test on it).
WHEELS_LAG = timedelta(days=180)

#: Files whose content decides what an environment holds; they key the image cache.
DEPENDENCY_GLOBS = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements*.txt",
    "requirements/*.txt",
    "requirements/*.in",
)

#: Installs requirement files, falling back to one requirement at a time (see the script).
INSTALL_REQUIREMENTS = f"{CONTAINER_DIR}/install_requirements.py"
_TEST_EXTRAS = ("test", "tests", "testing")
_SKIP_DIRS = {".git", ".tox", ".nox", ".venv", "venv", "node_modules", "build", "dist", ".eggs"}


@dataclass(frozen=True)
class PythonChoice:
    """Which Pythons the repo accepts, best first, and why."""

    preferred: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Detected:
    """Everything detection found, each with the reason it was chosen."""

    python: PythonChoice
    setup: tuple[str, ...]
    setup_reason: str
    test_command: str | None
    test_reason: str
    uses_setuptools_scm: bool


class RepoFiles:
    """Lazy, cached access to the few files detection reads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pyproject: dict | None = None
        self._setup_cfg: configparser.ConfigParser | None = None

    def text(self, name: str) -> str:
        path = self.root / name
        try:
            return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        except OSError:
            return ""

    @property
    def pyproject(self) -> dict:
        if self._pyproject is None:
            path = self.root / "pyproject.toml"
            self._pyproject = read_toml(path) if path.is_file() else {}
        return self._pyproject

    @property
    def setup_cfg(self) -> configparser.ConfigParser:
        if self._setup_cfg is None:
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read_string(self.text("setup.cfg"))
            except configparser.Error:
                parser = configparser.ConfigParser(interpolation=None)
            self._setup_cfg = parser
        return self._setup_cfg

    def cfg(self, section: str, key: str) -> str:
        cfg = self.setup_cfg
        return cfg.get(section, key, fallback="") if cfg.has_section(section) else ""


def dependency_files(root: Path) -> list[Path]:
    """The files that define an environment, sorted so the cache key is stable."""
    found: set[Path] = set()
    for pattern in DEPENDENCY_GLOBS:
        found.update(p for p in root.glob(pattern) if p.is_file())
    return sorted(found)


# ---------------------------------------------------------------- Python version


def _classifier_versions(files: RepoFiles) -> set[str]:
    text = "\n".join(
        [
            "\n".join(files.pyproject.get("project", {}).get("classifiers", [])),
            files.cfg("metadata", "classifiers"),
            files.text("setup.py"),
        ]
    )
    return set(re.findall(r"Programming Language :: Python :: (3\.\d+)\b", text))


def _requires_python(files: RepoFiles) -> tuple[str, str] | None:
    spec = files.pyproject.get("project", {}).get("requires-python")
    if spec:
        return spec, "requires-python in pyproject.toml"
    spec = files.cfg("options", "python_requires")
    if spec:
        return spec, "python_requires in setup.cfg"
    match = re.search(r"python_requires\s*=\s*['\"]([^'\"]+)['\"]", files.text("setup.py"))
    if match:
        return match.group(1), "python_requires in setup.py"
    return None


def era_python(commit_date: date | None) -> str | None:
    """The newest Python that had been out for ``WHEELS_LAG`` when the commit was made."""
    if commit_date is None:
        return None
    released = [v for v in KNOWN_PYTHONS if PYTHON_RELEASES[v] + WHEELS_LAG <= commit_date]
    return released[-1] if released else KNOWN_PYTHONS[0]


def _by_era(candidates: list[str], era: str) -> list[str]:
    """The era's Python first, then the others by distance from it, older before newer on
    a tie (code of that day ran on the Pythons before it, not on those after)."""
    index = KNOWN_PYTHONS.index(era)
    return sorted(candidates, key=lambda v: (abs(KNOWN_PYTHONS.index(v) - index), v > era))


def detect_python(files: RepoFiles, commit_date: date | None = None) -> PythonChoice:
    """Acceptable Python versions, best first.

    ``.python-version`` is an explicit pin. Otherwise requires-python bounds the range and
    classifiers narrow it to what the project says it tested. Within that, the commit's
    era decides: the newest Python the project could have been tested on when the commit
    was made (old code breaks on newer Pythons: ``collections.MutableMapping``, ``imp``,
    ``distutils``), then the nearest others; a project that declares nothing is never put
    on a Python newer than the default. Snapshots without a date keep the newest
    acceptable first.
    """
    pinned = files.text(".python-version").strip().splitlines()
    if pinned and re.match(r"^\d+\.\d+", pinned[0].strip()):
        version = ".".join(pinned[0].strip().split(".")[:2])
        return PythonChoice((version,), ".python-version")

    candidates = list(KNOWN_PYTHONS)
    reasons: list[str] = []
    requires = _requires_python(files)
    if requires:
        try:
            spec = SpecifierSet(requires[0])
            candidates = [v for v in candidates if spec.contains(Version(v + ".0"))] or candidates
            reasons.append(f"{requires[1]} ({requires[0]})")
        except InvalidSpecifier:
            reasons.append(f"{requires[1]} unreadable ({requires[0]!r}), ignored")
    classified = _classifier_versions(files)
    narrowed = [v for v in candidates if v in classified]
    if narrowed:
        candidates = narrowed
        reasons.append("classifiers")
    era = era_python(commit_date)
    if era is not None:
        why = f"commit of {commit_date}: Python {era} was current"
        if not reasons and KNOWN_PYTHONS.index(era) > KNOWN_PYTHONS.index(DEFAULT_PYTHON):
            era, why = DEFAULT_PYTHON, f"nothing declared: the default, {DEFAULT_PYTHON}"
        newest_then = [v for v in candidates if KNOWN_PYTHONS.index(v) <= KNOWN_PYTHONS.index(era)]
        anchor = newest_then[-1] if newest_then else candidates[0]
        reasons.append(why)
        return PythonChoice(tuple(_by_era(candidates, anchor)), " + ".join(reasons))
    if not reasons:
        others = [v for v in reversed(KNOWN_PYTHONS) if v != DEFAULT_PYTHON]
        return PythonChoice((DEFAULT_PYTHON, *others), "default, nothing declared")
    return PythonChoice(tuple(reversed(candidates)), " + ".join(reasons))


# ---------------------------------------------------------------- setup commands


def _declared_extras(files: RepoFiles) -> set[str]:
    extras = set(files.pyproject.get("project", {}).get("optional-dependencies", {}))
    if files.setup_cfg.has_section("options.extras_require"):
        extras.update(files.setup_cfg.options("options.extras_require"))
    # setup.py builds extras in too many ways to parse (a dict literal, a variable, dict());
    # a key that looks like a test or dev extra followed by a list is a good enough sign.
    setup_py = files.text("setup.py")
    extras.update(re.findall(r"['\"](tests?|testing|dev)['\"]\s*:\s*[\[(]", setup_py))
    extras.update(re.findall(r"\b(tests?|testing|dev)\s*=\s*\[", setup_py))
    return extras


def _is_installable(files: RepoFiles) -> bool:
    py = files.pyproject
    return (
        (files.root / "setup.py").is_file()
        or files.setup_cfg.has_section("metadata")
        or "project" in py
        or "build-system" in py
    )


def _requirement_files(root: Path) -> list[str]:
    """requirements.txt plus the ones for tests or development, never docs-only ones."""
    names = []
    for path in sorted(root.glob("requirements*.txt")) + sorted(root.glob("requirements/*.txt")):
        rel = path.relative_to(root).as_posix()
        stem = rel.lower()
        if "doc" in stem:
            continue
        if path.name == "requirements.txt" or "test" in stem or "dev" in stem:
            names.append(rel)
    return names


def _build_requires(files: RepoFiles) -> list[str]:
    """pyproject's build requirements with setuptools and wheel unpinned (>=64: PEP 660)."""
    declared = files.pyproject.get("build-system", {}).get("requires", [])
    others = [
        r
        for r in declared
        if re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() not in ("setuptools", "wheel")
    ]
    return ["setuptools>=64", "wheel", *others]


def _poetry_spec(name: str, spec: object) -> str | None:
    """A Poetry dependency as a PEP 508 requirement (``^1.2`` -> ``>=1.2,<2``)."""
    extras = ""
    if isinstance(spec, dict):
        if not isinstance(spec.get("version"), str):
            return None  # a path, git or url dependency: nothing pip can take by name
        if spec.get("extras"):
            extras = "[" + ",".join(spec["extras"]) + "]"
        spec = spec["version"]
    if not isinstance(spec, str):
        return None
    spec = spec.strip()
    if spec in ("", "*"):
        return name + extras
    match = re.fullmatch(r"([\^~])\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?.*", spec)
    if match:
        op, major, minor = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        lower = spec[1:].strip()
        if op == "~" or (op == "^" and major == 0):
            upper = f"{major}.{minor + 1}" if match.group(3) or op == "^" else f"{major + 1}"
        else:
            upper = str(major + 1)
        return f"{name}{extras}>={lower},<{upper}"
    if re.fullmatch(r"\d+(\.\d+)*", spec):
        return f"{name}{extras}=={spec}"
    return f"{name}{extras}{spec}"


def dev_dependencies(files: RepoFiles) -> tuple[list[str], str]:
    """Development and test dependencies that ``pip install -e .`` leaves out: Poetry's dev
    groups, PEP 735 ``[dependency-groups]``, PDM's dev-dependencies; and where from."""
    py = files.pyproject
    found: list[str] = []
    where: list[str] = []
    poetry = py.get("tool", {}).get("poetry", {})
    groups = {"dev-dependencies": poetry.get("dev-dependencies", {})}
    for name, group in poetry.get("group", {}).items():
        if not _NOT_FOR_TESTS.search(name):
            groups[name] = group.get("dependencies", {})
    for group_name, deps in groups.items():
        reqs = [_poetry_spec(n, s) for n, s in deps.items() if n.lower() != "python"]
        reqs = [r for r in reqs if r]
        if reqs:
            found += reqs
            where.append(f"poetry {group_name}")
    for name, items in py.get("dependency-groups", {}).items():
        if not _NOT_FOR_TESTS.search(name):
            reqs = [i for i in items if isinstance(i, str)]
            if reqs:
                found += reqs
                where.append(f"dependency-groups {name}")
    for name, items in py.get("tool", {}).get("pdm", {}).get("dev-dependencies", {}).items():
        if not _NOT_FOR_TESTS.search(name):
            reqs = [i for i in items if isinstance(i, str) and not i.startswith("-e")]
            if reqs:
                found += reqs
                where.append(f"pdm dev-dependencies {name}")
    return found, ", ".join(where)


#: Conda packages that PyPI knows by another name, or not at all (None).
_CONDA_NAMES = {"pytables": "tables", "python": None, "pip": None, "setuptools": None}
CONDA_FILES = ("environment.yml", "environment.yaml", "environment-dev.yml", "ci/environment.yml")


def conda_requirements(files: RepoFiles) -> tuple[list[str], str]:
    """What a conda ``environment.yml`` lists, as pip requirements (installed one by one
    when they fail together, so conda-only names are skipped, not fatal)."""
    for name in CONDA_FILES:
        text = files.text(name)
        if not text:
            continue
        reqs: list[str] = []
        in_deps = False
        for line in text.splitlines():
            if re.match(r"^dependencies\s*:", line):
                in_deps = True
                continue
            if in_deps and re.match(r"^\S", line):
                break
            match = re.match(r"^\s+-\s+([A-Za-z0-9_.\-\[\]]+)\s*([<>=!~][^#]*)?", line)
            if not in_deps or not match or line.rstrip().endswith(":"):
                continue
            package, spec = match.group(1), (match.group(2) or "").strip().replace(" ", "")
            renamed = _CONDA_NAMES.get(package.lower(), package)
            if "::" in line or renamed is None:
                continue
            if re.match(r"^=[^=]", spec):  # conda's single = pins a version prefix
                spec = "==" + spec[1:].rstrip("*").rstrip(".") + ".*"
            reqs.append(renamed + spec)
        if reqs:
            return reqs, name
    return [], ""


def _tests_require(files: RepoFiles) -> list[str]:
    """``tests_require`` of ``setup.py test`` projects: what their tests need."""
    found = []
    match = re.search(r"tests_require\s*=\s*\[([^\]]*)\]", files.text("setup.py"))
    if match:
        found += re.findall(r"['\"]([^'\"]+)['\"]", match.group(1))
    found += [r.strip() for r in files.cfg("options", "tests_require").splitlines() if r.strip()]
    return found


def _tox_testenv(files: RepoFiles) -> tuple[list[str], list[str]]:
    """The extras and deps tox installs for tests: what the project itself says they need."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(files.text("tox.ini"))
    except configparser.Error:
        return [], []
    if not parser.has_section("testenv"):
        return [], []
    extras: list[str] = []
    for line in _tox_lines(parser.get("testenv", "extras", fallback="")):
        extras += [e for e in re.split(r"[,\s]+", line) if e and e not in extras]
    deps = []
    for line in _tox_lines(parser.get("testenv", "deps", fallback="")):
        line = line.replace("{toxinidir}/", "")
        if "{" not in line:
            deps.append(line)
    return extras, deps


#: tox factors whose settings are not the tests' (``lint: dev``, ``docs: sphinx``).
_NOT_TEST_FACTORS = {"lint", "docs", "doc", "style", "flake8", "mypy", "typing", "type"}
_NOT_TEST_FACTORS |= {"format", "readme", "build", "release", "pre-commit", "precommit"}


def _tox_lines(value: str) -> list[str]:
    """A tox setting's lines, comments dropped; a line conditional on factors
    (``unit: test``, ``py3{8,9}: x``) counts without its condition, unless every factor
    it names is about something other than the tests."""
    out = []
    for raw in value.splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        factors = re.match(r"^([\w{},.!-]+):\s+(.*)$", line)
        if factors:
            names = set(re.split(r"[-,{}!]+", factors.group(1))) - {""}
            if names and names <= _NOT_TEST_FACTORS:
                continue
            line = factors.group(2)
        out.append(line)
    return out


#: When each pytest major came out. A project's tests were written against the pytest of
#: their day: pytest 8 dropped nose-style tests, pytest 9 reads [tool.pytest] as native,
#: strictly typed config. So the newest major released before the commit is the ceiling.
PYTEST_MAJORS = (
    (date(2018, 11, 14), 4),
    (date(2019, 6, 29), 5),
    (date(2020, 7, 28), 6),
    (date(2022, 2, 4), 7),
    (date(2024, 1, 27), 8),
    (date(2025, 11, 8), 9),
)


#: The oldest pytest that runs on each Python (older ones fail inside their assertion
#: rewriting: "required field 'lineno' missing from alias" on 3.10, and so on).
PYTEST_FLOOR = {
    "3.10": "6.2.5",
    "3.11": "7.2.0",
    "3.12": "7.4.0",
    "3.13": "8.2.0",
    "3.14": "8.4.0",
}


def _pytest_spec(ceiling: int | None, python: str) -> str:
    floor = PYTEST_FLOOR.get(python)
    if floor is None:
        return f"<{ceiling}" if ceiling else ""
    if ceiling is None:
        return f">={floor}"
    if Version(floor).major >= ceiling:  # the era's pytest cannot run here: the oldest that can
        return f">={floor},<{Version(floor).major + 1}"
    return f">={floor},<{ceiling}"


def pytest_requirement(commit_date: date | None) -> tuple[str, str]:
    """The pytest for a commit from ``commit_date``, on whichever Python the image has, and why.

    The newest major released before the commit is the ceiling (tests are written against
    the pytest of their day: pytest 8 dropped nose, pytest 9 reads config strictly), and the
    Python in the image sets a floor. Both are written as PEP 508 markers, so pip picks the
    right one inside the container without verifix knowing the image's Python in advance.
    """
    ceiling = None
    for released, major in PYTEST_MAJORS:
        if commit_date is not None and commit_date < released:
            ceiling = major
            break
    bands: list[tuple[str, list[str]]] = []
    for python in KNOWN_PYTHONS:
        spec = _pytest_spec(ceiling, python)
        if bands and bands[-1][0] == spec:
            bands[-1][1].append(python)
        else:
            bands.append((spec, [python]))
    if ceiling is None:
        return "'pytest'", ""  # today's pytest runs on every Python an image can have
    parts = []
    for i, (spec, pythons) in enumerate(bands):
        marker = []
        if i > 0:
            marker.append(f'python_version >= "{pythons[0]}"')
        if i < len(bands) - 1:
            marker.append(f'python_version < "{bands[i + 1][1][0]}"')
        parts.append(shlex.quote(f"pytest{spec}" + (f"; {' and '.join(marker)}" if marker else "")))
    why = "pytest paired with the image's Python"
    if ceiling:
        why = (
            f"pytest<{ceiling} (pytest {ceiling} came after {commit_date}), paired with the Python"
        )
    return " ".join(parts), why


#: Files where a project's CI says how it installs itself for tests.
CI_FILES = (
    ".github/workflows/*.yml",
    ".github/workflows/*.yaml",
    ".travis.yml",
    ".gitlab-ci.yml",
    "azure-pipelines.yml",
    ".circleci/config.yml",
    "Makefile",
)
#: ``NAME: value`` on one line of a workflow (``env:`` entries, matrix values).
_WORKFLOW_VARIABLE = re.compile(
    r"^[ \t-]*([A-Za-z_]\w*):[ \t]*([^\s#'\"{}][^#{}\n]*?)[ \t]*$", re.M
)
_NOT_FOR_TESTS = re.compile(r"doc|lint|typ|mypy|style|release|publish|bench", re.I)


@dataclass(frozen=True)
class CiEvidence:
    """What the project's CI installs before it runs tests, and where that was read."""

    requirement_files: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


def ci_evidence(files: RepoFiles) -> CiEvidence:
    """Requirement files (``-r FILE``) and extras (``.[a,b]``) on CI's ``pip install`` lines.

    The CI configuration is the project's own, tested answer to "how is this installed for
    tests"; docs, lint and typing installs are left out.
    """
    reqs: list[str] = []
    extras: list[str] = []
    sources: list[str] = []
    for pattern in CI_FILES:
        for path in sorted(files.root.glob(pattern)):
            rel = path.relative_to(files.root).as_posix()
            found = False
            text = files.text(rel)
            # Workflow variables (``env:`` and matrix entries) as written in the same file.
            names = dict(_WORKFLOW_VARIABLE.findall(text))
            for line in text.splitlines():
                line = re.sub(
                    r"\$\{\{\s*(?:env|matrix|vars)\.(\w+)\s*\}\}",
                    lambda m, names=names: names.get(m.group(1), ""),
                    line,
                )
                if not re.search(r"\bpip3?\s+install\b|\buv\s+pip\s+install\b", line):
                    continue
                for req in re.findall(r"(?:-r|--requirement)[\s=]+['\"]?([\w./-]+)", line):
                    if (files.root / req).is_file() and not _NOT_FOR_TESTS.search(req):
                        reqs.append(req)
                        found = True
                for group in re.findall(r"(?:^|[\s'\"])\.\[([\w,\s-]+)\]", line):
                    for extra in re.split(r"[,\s]+", group):
                        if extra and not _NOT_FOR_TESTS.search(extra):
                            extras.append(extra)
                            found = True
            if found:
                sources.append(rel)
    return CiEvidence(tuple(dict.fromkeys(reqs)), tuple(dict.fromkeys(extras)), tuple(sources))


def detect_setup(files: RepoFiles, commit_date: date | None = None) -> tuple[tuple[str, ...], str]:
    """pip commands that install the repo's requirements, the repo itself, and pytest."""
    commands: list[str] = []
    reasons: list[str] = []
    tox_extras, tox_deps = _tox_testenv(files)
    dev_reqs, dev_where = dev_dependencies(files)
    conda_reqs, conda_file = conda_requirements(files)
    if conda_file:
        dev_where = ", ".join(w for w in (dev_where, conda_file) if w)
    tox_deps = list(dict.fromkeys(conda_reqs + tox_deps + _tests_require(files) + dev_reqs))
    ci = ci_evidence(files)
    req_files = list(dict.fromkeys(_requirement_files(files.root) + list(ci.requirement_files)))
    reqs = req_files + [shlex.quote(d) for d in tox_deps]
    if reqs:
        commands.append(f"python {INSTALL_REQUIREMENTS} " + " ".join(reqs))
        named = ["tox deps / tests_require"] if tox_deps and not dev_where else []
        reasons.append(", ".join(req_files + named + ([dev_where] if dev_where else [])))
    if ci.sources:
        reasons.append(f"CI installs read from {', '.join(ci.sources)}")
    if _is_installable(files):
        extras = _declared_extras(files)
        chosen = sorted(e for e in extras if e.lower() in _TEST_EXTRAS)
        ci_extras = list(ci.extras)  # pip only warns about an extra a project lacks
        if tox_extras:
            chosen, why = tox_extras, "extras from tox.ini"
        elif ci_extras:
            chosen, why = ci_extras, "extras from CI"
        elif not chosen and "dev" in extras:
            chosen, why = ["dev"], "dev extra"
        else:
            why = "test extras"
        target = f".[{','.join(chosen)}]" if chosen else "."
        # A build backend older than PEP 660 (setuptools < 64, or pinned to one) cannot do
        # an editable install with today's pip; a current setuptools can, so the fallback
        # builds without isolation, with the project's other build requirements as declared.
        # Build tools are tools, not the project's dependencies: exempt from the era cutoff.
        build_tools = " ".join(shlex.quote(r) for r in _build_requires(files))
        commands.append(
            f"python -m pip install -e '{target}' || "
            f"(env -u PIP_UPLOADED_PRIOR_TO python -m pip install -q {build_tools} && "
            f"python -m pip install --no-build-isolation -e '{target}')"
        )
        reasons.append(f"installable project, {why} {chosen}" if chosen else "installable project")
    pytest, why = pytest_requirement(commit_date)
    commands.append(f"python -m pip install {pytest}")
    if why:
        reasons.append(why)
    return tuple(commands), "detected: " + ("; ".join(reasons) or "no dependency files")


# ---------------------------------------------------------------- test command


def _test_file_names(root: Path) -> tuple[bool, bool]:
    """(pytest's default patterns find tests, unittest's ``test*.py``/``*tests.py`` would)."""
    other = False
    for path in root.rglob("*.py"):
        if _SKIP_DIRS.intersection(path.relative_to(root).parts):
            continue
        name = path.name
        if name.startswith("test_") or name.endswith("_test.py"):
            return True, True
        if name.startswith("test") or name.endswith("tests.py"):
            other = True
    return False, other


#: For suites whose files pytest's default patterns miss (``tests.py``, ``testfoo.py``).
UNITTEST_FILES = "python -m pytest -o 'python_files=test*.py *_test.py *tests.py'"


def _pytest_configured(files: RepoFiles) -> str | None:
    if (files.root / "pytest.ini").is_file():
        return "pytest.ini"
    if "pytest" in files.pyproject.get("tool", {}):
        return "[tool.pytest.ini_options] in pyproject.toml"
    if files.setup_cfg.has_section("tool:pytest"):
        return "[tool:pytest] in setup.cfg"
    if re.search(r"^\[pytest\]", files.text("tox.ini"), re.M):
        return "[pytest] in tox.ini"
    if (files.root / "conftest.py").is_file():
        return "conftest.py"
    return None


def detect_test_command(files: RepoFiles) -> tuple[str | None, str]:
    """The command that runs the suite; pytest whenever it can run the repo's tests.

    tox and nox would build their own virtualenvs (and need the network) at test time, so
    verifix reads which runner they call and runs it directly in the prepared environment.
    pytest also runs unittest suites and gives per-test results, so it runs those too.
    """
    command = "python -m pytest"
    configured = _pytest_configured(files)
    if configured:
        return command, f"pytest configured in {configured}"
    tox = files.text("tox.ini")
    if re.search(r"^\s*(commands\s*=)?\s*(python -m )?(py\.test|pytest)\b", tox, re.M):
        return command, "tox.ini runs pytest; run directly in the prepared environment"
    if re.search(r"""session\.run\(\s*['"](py\.?test)""", files.text("noxfile.py")):
        return command, "noxfile.py runs pytest; run directly in the prepared environment"
    default_names, other_names = _test_file_names(files.root)
    if not default_names and other_names:
        return UNITTEST_FILES, "unittest-style test files (tests.py, test*.py) found"
    if default_names:
        uses_unittest = any(
            "unittest" in p.read_text(encoding="utf-8", errors="replace")
            for p in list(files.root.rglob("test*.py"))[:20]
        )
        if uses_unittest:
            return command, "unittest tests found (run by pytest for per-test results)"
        return command, "test files found (test_*.py)"
    return None, "no tests found"


def _uses_setuptools_scm(files: RepoFiles) -> bool:
    """setuptools-scm, or a backend built on it (hatch-vcs), takes its version from git."""
    blob = files.text("pyproject.toml") + files.text("setup.py") + files.text("setup.cfg")
    return bool(re.search(r"setuptools[_-]scm|use_scm_version|hatch[_-]vcs", blob))


def detect(root: Path, commit_date: date | None = None) -> Detected:
    """Read the repo at ``root`` (a checkout or an extracted snapshot) and guess its setup;
    ``commit_date`` is when its commit was made, which bounds the pytest it can expect."""
    files = RepoFiles(root)
    setup, setup_reason = detect_setup(files, commit_date)
    test_command, test_reason = detect_test_command(files)
    return Detected(
        python=detect_python(files, commit_date),
        setup=setup,
        setup_reason=setup_reason,
        test_command=test_command,
        test_reason=test_reason,
        uses_setuptools_scm=_uses_setuptools_scm(files),
    )
