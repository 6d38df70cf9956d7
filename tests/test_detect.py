"""Detection and configuration through the sandbox's public API, on real files."""

from __future__ import annotations

import shlex
from datetime import date
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from verifix.sandbox.config import read_repo_config, resolve
from verifix.sandbox.detect import detect
from verifix.sandbox.errors import UsageError


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_python_from_requires_python_and_classifiers(tmp_path):
    write(
        tmp_path,
        {
            "setup.py": (
                "setup(python_requires='>=3.6',\n"
                "      classifiers=['Programming Language :: Python :: 3.7',\n"
                "                   'Programming Language :: Python :: 3.8'])\n"
            ),
        },
    )
    found = detect(tmp_path).python
    assert found.preferred == ("3.8", "3.7")
    assert "python_requires in setup.py (>=3.6)" in found.reason


def test_python_version_file_wins(tmp_path):
    write(tmp_path, {".python-version": "3.9.18\n", "pyproject.toml": "[project]\nname='x'\n"})
    assert detect(tmp_path).python.preferred == ("3.9",)


def test_requires_python_in_pyproject_bounds_the_range(tmp_path):
    write(tmp_path, {"pyproject.toml": '[project]\nname = "x"\nrequires-python = ">=3.10,<3.13"\n'})
    assert detect(tmp_path).python.preferred == ("3.12", "3.11", "3.10")


def test_setup_installs_requirements_project_with_test_extra_and_pytest(tmp_path):
    write(
        tmp_path,
        {
            "requirements.txt": "requests\n",
            "requirements-docs.txt": "sphinx\n",
            "requirements_test.txt": "hypothesis\n",
            "setup.cfg": "[metadata]\nname = x\n[options.extras_require]\ntesting = pytest-mock\n",
            "tests/test_x.py": "def test_x():\n    pass\n",
        },
    )
    found = detect(tmp_path)
    assert found.setup == (
        "python /verifix/bin/install_requirements.py requirements.txt requirements_test.txt",
        "python -m pip install -e '.[testing]' || (env -u PIP_UPLOADED_PRIOR_TO "
        "python -m pip install -q 'setuptools>=64' wheel && "
        "python -m pip install --no-build-isolation -e '.[testing]')",
        "python -m pip install 'pytest'",
    )
    assert found.test_command == "python -m pytest"
    assert "test files found" in found.test_reason


def test_tox_and_unittest_repos_run_with_pytest(tmp_path):
    write(tmp_path, {"tox.ini": "[testenv]\ncommands = pytest {posargs}\n"})
    assert "tox.ini runs pytest" in detect(tmp_path).test_reason
    other = write(
        tmp_path / "u",
        {
            "test_a.py": "import unittest\n\nclass T(unittest.TestCase):\n    pass\n",
        },
    )
    assert "unittest" in detect(other).test_reason


def test_no_tests_means_no_command(tmp_path):
    write(tmp_path, {"app.py": "print(1)\n"})
    assert detect(tmp_path).test_command is None


def test_explicit_beats_detected_and_sources_are_kept(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": (
                '[project]\nname = "x"\nrequires-python = ">=3.9"\n'
                "[tool.verifix.sandbox]\npython = '3.9'\ntest_timeout = 60\n"
            ),
            ".verifix.toml": "[sandbox]\ntest_timeout = 120\nenv = {A = '1'}\n",
            "tests/test_x.py": "def test_x():\n    pass\n",
        },
    )
    spec = resolve(detect(tmp_path), read_repo_config(tmp_path), {"env": {"B": "2"}})
    assert spec.python == ("3.9",)
    assert spec.sources["python"] == "pyproject.toml [tool.verifix.sandbox]"
    assert spec.test_timeout == 120
    assert spec.sources["test_timeout"] == ".verifix.toml [sandbox]"
    assert dict(spec.env) == {"A": "1", "B": "2"}
    assert spec.sources["env"] == "command line"
    assert spec.sources["test_command"].startswith("detected:")


def test_unknown_setting_is_a_usage_error(tmp_path):
    write(tmp_path, {".verifix.toml": "[sandbox]\ntest_cmd = 'pytest'\n"})
    with pytest.raises(UsageError, match="unknown setting 'test_cmd'"):
        read_repo_config(tmp_path)


def test_extras_defined_through_a_variable_in_setup_py(tmp_path):
    write(
        tmp_path,
        {
            "setup.py": (
                'EXTRAS_REQUIRE = {\n    "tests": ["pytest", "simplejson"],\n'
                '    "lint": ["flake8"],\n}\n'
                "setup(name='m', extras_require=EXTRAS_REQUIRE)\n"
            ),
            "tests/test_m.py": "def test_m():\n    pass\n",
        },
    )
    assert detect(tmp_path).setup[0].startswith("python -m pip install -e '.[tests]' ||")


def test_tox_testenv_extras_and_deps_are_what_tests_need(tmp_path):
    write(
        tmp_path,
        {
            "setup.py": "setup(extras_require={'tests': ['pytest'], 'reco': ['simplejson']})\n",
            "tox.ini": (
                "[testenv]\nextras = tests,reco\n"
                "deps =\n    mock>=2\n    -r{toxinidir}/requirements-ci.txt\n    {posargs}\n"
                "commands = pytest {posargs}\n"
            ),
        },
    )
    setup = detect(tmp_path).setup
    assert setup[0] == (
        "python /verifix/bin/install_requirements.py 'mock>=2' -rrequirements-ci.txt"
    )
    assert setup[1].startswith("python -m pip install -e '.[tests,reco]' ||")


def test_tox_factor_conditional_settings_count_without_their_condition(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": (
                "[project]\nname = 'x'\n[project.optional-dependencies]\n"
                "test = ['pytest']\ndev = ['flake8']\n"
            ),
            "tox.ini": (
                "[testenv]\nextras =\n    lint: dev\n    unit: test\n    integration: test\n"
                "deps =\n    invoke\n    readme: rundoc\n    py3{8,9}-unit: mock\n"
            ),
        },
    )
    setup = detect(tmp_path).setup
    assert setup[0] == "python /verifix/bin/install_requirements.py invoke mock"
    assert setup[1].startswith("python -m pip install -e '.[test]' ||")


def _pytest_for(command: str, python: str) -> SpecifierSet:
    """The one pytest requirement of an install command that applies on ``python``."""
    applies = []
    for word in shlex.split(command)[4:]:
        requirement = Requirement(word)
        if requirement.marker is None or requirement.marker.evaluate({"python_version": python}):
            applies.append(requirement.specifier)
    assert len(applies) == 1, (python, applies)
    return applies[0]


def test_pytest_is_bounded_by_the_commit_date_and_paired_with_the_python(tmp_path):
    write(tmp_path, {"tests/test_x.py": "def test_x():\n    pass\n"})
    command = detect(tmp_path, date(2023, 5, 1)).setup[-1]
    assert "pytest 8 came after 2023-05-01" in detect(tmp_path, date(2023, 5, 1)).setup_reason
    for python in ("3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12"):
        spec = _pytest_for(command, python)
        assert not spec.contains("8.0.0") and spec.contains("7.4.4"), (python, spec)
    assert _pytest_for(command, "3.13").contains("8.2.0")  # pytest 7 cannot run on 3.13
    # A 2016 commit: pytest<4 where that runs; the oldest pytest that runs on newer Pythons.
    old = detect(tmp_path, date(2016, 5, 1)).setup[-1]
    assert _pytest_for(old, "3.6") == SpecifierSet("<4")
    assert _pytest_for(old, "3.10").contains("6.2.5") and not _pytest_for(old, "3.10").contains(
        "6.2.4"
    )
    assert _pytest_for(old, "3.11") == SpecifierSet(">=7.2.0,<8")
    assert detect(tmp_path, date(2026, 1, 1)).setup[-1] == "python -m pip install 'pytest'"
    assert detect(tmp_path).setup[-1] == "python -m pip install 'pytest'"


def test_editable_fallback_keeps_other_build_requirements(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": (
                '[build-system]\nrequires = ["setuptools~=62.6", "wheel~=0.37.1", '
                '"setuptools_scm[toml]>=6.2"]\n[project]\nname = "x"\n'
            ),
            "tests/test_x.py": "def test_x():\n    pass\n",
        },
    )
    editable = detect(tmp_path).setup[0]
    assert (
        "python -m pip install -q 'setuptools>=64' wheel 'setuptools_scm[toml]>=6.2' &&" in editable
    )
    assert "62.6" not in editable


def test_python_follows_the_commits_era(tmp_path):
    bare = write(tmp_path / "bare", {"tests/test_x.py": "def test_x():\n    pass\n"})
    found = detect(bare, date(2017, 3, 1)).python
    assert found.preferred[:3] == ("3.6", "3.7", "3.8")
    assert "commit of 2017-03-01: Python 3.6 was current" in found.reason
    assert detect(bare, date(2021, 3, 1)).python.preferred[:3] == ("3.8", "3.7", "3.9")
    # Recent commits and undated snapshots keep the default.
    assert detect(bare, date(2026, 6, 1)).python.preferred[0] == "3.11"
    assert detect(bare).python.preferred[0] == "3.11"


def test_declared_pythons_bound_the_era_choice(tmp_path):
    ranged = write(tmp_path / "r", {"setup.py": "setup(python_requires='>=3.8')\n"})
    assert detect(ranged, date(2019, 8, 1)).python.preferred[0] == "3.8"  # 3.7 excluded
    # An open range is not a reason for a Python that came years after the commit.
    assert detect(ranged, date(2023, 9, 28)).python.preferred[:3] == ("3.11", "3.10", "3.12")
    classified = write(
        tmp_path / "c",
        {
            "setup.py": "classifiers=['Programming Language :: Python :: 3.6',\n"
            "             'Programming Language :: Python :: 3.7']\n"
        },
    )
    assert detect(classified, date(2020, 12, 1)).python.preferred == ("3.7", "3.6")


def test_ci_configuration_is_evidence_for_setup(tmp_path):
    write(
        tmp_path,
        {
            "setup.py": "from setuptools import setup\nsetup(extras_require={'test': ['x']})\n",
            "requirements/ci.txt": "hypothesis\n",
            "docs/requirements.txt": "sphinx\n",
            ".github/workflows/tests.yml": (
                "jobs:\n  test:\n    steps:\n"
                "      - run: python -m pip install -r requirements/ci.txt\n"
                '      - run: pip install -e ".[test,yaml]"\n'
                "  more:\n    env:\n      EXTRAS: plotting,tests\n    steps:\n"
                "      - run: python -m pip install .[${{ env.EXTRAS }}]\n"
                "  docs:\n    steps:\n"
                "      - run: pip install -r docs/requirements.txt '.[docs]'\n"
            ),
        },
    )
    found = detect(tmp_path)
    assert found.setup[0].endswith("install_requirements.py requirements/ci.txt")
    assert "-e '.[test,yaml,plotting,tests]'" in found.setup[1]
    assert "CI installs read from .github/workflows/tests.yml" in found.setup_reason
    assert "extras from CI" in found.setup_reason


def test_setup_py_test_projects_get_their_tests_require(tmp_path):
    write(
        tmp_path,
        {
            "setup.py": "setup(name='x', tests_require=['mock>=1.0', \"nose\"])\n",
            "x/tests.py": "import unittest\n\n\nclass T(unittest.TestCase):\n    pass\n",
        },
    )
    found = detect(tmp_path)
    assert found.setup[0].endswith("install_requirements.py 'mock>=1.0' nose")
    # Files named tests.py are not collected by pytest's default patterns: widened.
    assert found.test_command == "python -m pytest -o 'python_files=test*.py *_test.py *tests.py'"
    assert "unittest-style" in found.test_reason


def test_dev_dependency_groups_are_installed(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": (
                '[tool.poetry]\nname = "x"\n'
                '[tool.poetry.dependencies]\npython = "^3.8"\n'
                "[tool.poetry.group.dev.dependencies]\n"
                'pytest-cov = "^4.0"\nmock = {version = "~5.1", extras = ["all"]}\n'
                'local = {path = "../local"}\n'
                '[tool.poetry.group.docs.dependencies]\nsphinx = "*"\n'
                '[dependency-groups]\ntest = ["hypothesis>=6"]\nlint = ["ruff"]\n'
                '[build-system]\nrequires = ["poetry-core"]\n'
            ),
            "tests/test_x.py": "def test_x():\n    pass\n",
        },
    )
    found = detect(tmp_path)
    assert found.setup[0].endswith(
        "install_requirements.py 'pytest-cov>=4.0,<5' 'mock[all]>=5.1,<5.2' 'hypothesis>=6'"
    )
    assert "poetry dev, dependency-groups test" in found.setup_reason


def test_conda_environment_files_are_evidence(tmp_path):
    write(
        tmp_path,
        {
            "environment.yml": (
                "name: x\nchannels:\n  - conda-forge\ndependencies:\n  - python >=3.7\n"
                "  - numpy >=1.16\n  - pytables\n  - xarray=0.16\n  - conda-forge::libnetcdf\n"
                "  - pip\n  - pip:\n    - pip-only >=1.0\n"
            ),
            "setup.py": "from setuptools import setup\nsetup(name='x')\n",
            "test/test_x.py": "def test_x():\n    pass\n",
        },
    )
    found = detect(tmp_path)
    assert found.setup[0].endswith(
        "install_requirements.py 'numpy>=1.16' tables 'xarray==0.16.*' 'pip-only>=1.0'"
    )
    assert "environment.yml" in found.setup_reason
