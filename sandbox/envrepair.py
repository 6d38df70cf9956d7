"""Rule-based repair of a failed setup step, and the recipe that worked.

Setup fails in a few generic ways that a rule can fix without a human: a ``setup.py`` that
imports a module it never declares (numpy, Cython, six) fails with and without build
isolation (the rule installs the module); a package whose every file was re-uploaded after
the commit's era has no file old enough for the package cutoff (the rule installs that one
package without the cutoff). Then the step is retried. Whatever was added is kept as
a recipe in the user's cache, in ``.verifix.toml`` form, so ``env show`` can print it and a
user can commit it; the repaired image is cached under the original key, so the next run
needs no retries.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

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
#: Repairs per environment build: a loop that keeps finding new missing modules is a sign
#: the step needs a human (or a model).
MAX_REPAIRS = 4


def repair_for(output: str, already: list[str]) -> str | None:
    """A command that may fix the failure in ``output``, or None when no rule applies."""
    for requirement in reversed(_NO_OLD_FILES.findall(output)):
        command = f"env -u PIP_UPLOADED_PRIOR_TO python -m pip install {shlex.quote(requirement)}"
        if command not in already:
            return command
    for name in reversed(_MISSING.findall(output)):
        top = name if name in _DISTRIBUTIONS else name.split(".")[0]
        if top.startswith("_") or top in ("verifix_report",):
            continue
        command = f"python -m pip install {shlex.quote(_DISTRIBUTIONS.get(top, top))}"
        if command not in already:
            return command
    return None


def repair_reason(output: str) -> str:
    """The line of ``output`` the rule acted on."""
    old = _NO_OLD_FILES.findall(output)
    if old:
        return f"no file of {old[-1]} uploaded before the package cutoff"
    found = _MISSING.findall(output)
    return f"No module named {found[-1]!r}" if found else "?"


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
