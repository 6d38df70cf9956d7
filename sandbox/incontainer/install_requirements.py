"""Installs requirements files, and when that fails, each requirement on its own.

Development requirement files rot: one package deleted from the index (sqlfluff's
``types-pkg_resources``) makes the whole ``pip install -r`` fail, although the tests need
none of it. Installing the rest one by one keeps the environment usable, and every skipped
requirement is printed, so nothing is hidden.

Usage: python install_requirements.py FILE|REQUIREMENT ...
(an argument that names an existing file is a requirements file, any other a requirement)
"""

import os
import shlex
import subprocess
import sys


def pip(args):
    return subprocess.call([sys.executable, "-m", "pip", "install", *args]) == 0


def requirements(path, seen):
    """(args, origin) for each line of ``path``, following -r includes."""
    path = os.path.normpath(path)
    if path in seen or not os.path.isfile(path):
        return
    seen.add(path)
    with open(path) as f:
        for line in f:
            line = line.split(" #")[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(("-r ", "--requirement ")):
                include = line.split(None, 1)[1]
                yield from requirements(os.path.join(os.path.dirname(path), include), seen)
            elif line.startswith("-"):
                yield shlex.split(line), path
            else:
                yield [line], path


def main(files):
    all_at_once = []
    for name in files:
        all_at_once += ["-r", name] if os.path.isfile(name) else [name]
    if pip(all_at_once):
        return 0
    print("verifix: installing the requirements together failed; trying them one by one")
    skipped = []
    items = []
    for name in files:
        if os.path.isfile(name):
            items.extend(requirements(name, set()))
        else:
            items.append(([name], "the command line"))
    for args, origin in items:
        if not pip(args):
            skipped.append("{} (from {})".format(" ".join(args), origin))
    for item in skipped:
        print("verifix: skipped requirement that could not be installed: " + item)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
