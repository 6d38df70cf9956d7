"""Which files a model's patch may touch.

A fix changes source code (and a reproduction adds a test). Files that run with more
power than the code under test are refused unless the user allows them by name with
``--allow-path GLOB``: CI workflows run with the repository's secrets, hooks and editor
tasks run on developers' machines, build scripts run at every install, and verifix's own
settings decide how verifix judges. A model edit to any of them is VERIFIED by nothing the
tests can see, so it must never slip in with a fix.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable

#: Glob (matched case-insensitively against the normalized repo-relative path) -> why.
PROTECTED: dict[str, str] = {
    ".github/*": "CI workflows and actions run with the repository's secrets",
    ".gitlab-ci.yml": "CI configuration runs with the repository's secrets",
    ".gitlab/*": "CI configuration runs with the repository's secrets",
    ".circleci/*": "CI configuration runs with the repository's secrets",
    ".travis.yml": "CI configuration runs with the repository's secrets",
    "azure-pipelines.yml": "CI configuration runs with the repository's secrets",
    ".azure-pipelines/*": "CI configuration runs with the repository's secrets",
    "jenkinsfile": "CI configuration runs with the repository's secrets",
    ".buildkite/*": "CI configuration runs with the repository's secrets",
    ".pre-commit-config.yaml": "hooks run on every developer's machine",
    ".pre-commit-hooks.yaml": "hooks run on every developer's machine",
    ".husky/*": "hooks run on every developer's machine",
    ".githooks/*": "hooks run on every developer's machine",
    ".gitmodules": "submodules fetch code from elsewhere",
    ".gitattributes": "git filters run commands on checkout",
    ".vscode/*": "editor tasks run on a developer's machine",
    ".devcontainer/*": "a dev container runs on a developer's machine",
    ".envrc": "direnv runs it on entering the folder",
    ".verifix.toml": "verifix's settings decide how the fix is judged",
    ".verifix/*": "verifix's own records",
    "setup.py": "build scripts run at every install",
    "setup.cfg": "build configuration runs at every install",
    "pyproject.toml": "build configuration runs at every install",
    "build.py": "build scripts run at every install",
    "hatch_build.py": "build scripts run at every install",
    "*.pth": "runs at every interpreter start",
    "sitecustomize.py": "runs at every interpreter start",
    "usercustomize.py": "runs at every interpreter start",
    "noxfile.py": "test-runner configuration decides which tests run",
    "tox.ini": "test-runner configuration decides which tests run",
    "pytest.ini": "test-runner configuration decides which tests run",
    "makefile": "build scripts run on developers' machines and in CI",
    "dockerfile": "container builds run with CI credentials",
}


def normalize(path: str) -> str:
    """The path as git will see it: relative, no ``./`` or ``..`` detours."""
    return posixpath.normpath(path.replace("\\", "/")).lstrip("/")


def why_refused(path: str, allowed: Iterable[str] = ()) -> str | None:
    """Why a patch may not touch ``path``, or None when it may."""
    clean = normalize(path)
    lowered = clean.lower()
    if any(fnmatch.fnmatchcase(clean, glob) for glob in allowed):
        return None
    for glob, reason in PROTECTED.items():
        name = posixpath.basename(lowered)
        if fnmatch.fnmatchcase(lowered, glob) or ("/" not in glob and name == glob):
            return reason
    return None


def refused(paths: Iterable[str], allowed: Iterable[str] = ()) -> dict[str, str]:
    """The paths a patch may not touch, each with the reason."""
    allowed = tuple(allowed)
    out = {}
    for path in paths:
        reason = why_refused(path, allowed)
        if reason:
            out[path] = reason
    return out


def refusal_message(refusals: dict[str, str]) -> str:
    """For the model (and the user): what was refused, why, and how a user allows it."""
    listed = "; ".join(f"{p} ({why})" for p, why in sorted(refusals.items()))
    return (
        f"edits to {listed} are refused: change the source code instead (a user can allow "
        "such a file with --allow-path)"
    )
