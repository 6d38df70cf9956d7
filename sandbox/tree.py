"""The repo inside a container: loading a snapshot at /repo as verifix's base commit.

/repo is a git repository of verifix's own, made fresh for every session (the user's
history is not copied, and nothing of an earlier snapshot survives in it): its single
commit is the base state, and it holds every file present at load, the ones the environment
build generated (egg-info, compiled extensions) included, so a reset to it (``git reset
--hard`` plus ``git clean -ffdx``) restores exactly the base tree. ``.git`` belongs to root
and the work tree to the unprivileged test user (see ``incontainer/supervise.py``).
"""

from __future__ import annotations

from .container import Container
from .errors import SandboxError
from .incontainer import CONTAINER_DIR
from .snapshot import Snapshot

REPO = "/repo"
INBOX = "/verifix/in"
_GIT = "git -c user.name=verifix -c user.email=verifix@localhost -c commit.gpgsign=false"

#: Deletes the previous snapshot's files that the new one lacks, leaving generated files.
_PRUNE_PY = r"""
import os
inbox, state = "/verifix/in", "/verifix/state/files.nul"
def names(path):
    with open(path, "rb") as f:
        return {n for n in f.read().split(b"\0") if n}
new = names(inbox + "/files.nul")
if os.path.exists(state):
    for name in names(state) - new:
        try:
            os.remove(os.path.join(b"/repo", name))
        except (FileNotFoundError, IsADirectoryError):
            pass
os.makedirs(os.path.dirname(state), exist_ok=True)
os.makedirs("/repo", exist_ok=True)
with open(state, "wb") as f, open(inbox + "/files.nul", "rb") as src:
    f.write(src.read())
"""


def load(
    container: Container, snapshot: Snapshot, base_patches: list[str], *, seal: bool = True
) -> None:
    """Put ``snapshot`` (plus ``base_patches``, e.g. a SWE-bench test_patch) at /repo and
    commit it as the base state; ``seal`` hands the work tree to the test user (not for
    environment builds, whose setup runs as root)."""
    container.put_files(
        INBOX,
        {
            "files.nul": snapshot.file_list_path.read_bytes(),
            "prune.py": _PRUNE_PY.encode(),
            **{f"base-{i}.diff": p.encode() for i, p in enumerate(base_patches)},
        },
    )
    pruned = container.run(f"python3 {INBOX}/prune.py || python {INBOX}/prune.py", 300, workdir="/")
    if not pruned.ok:
        raise SandboxError(f"could not prepare /repo in the sandbox: {_tail(pruned.output)}")
    with open(snapshot.tar_path, "rb") as tar:
        container.put_archive(REPO, tar)  # the engine unpacks it in place
    script = ["set -e", "rm -rf .git", "git init -q", "git add -A -f"]
    for i in range(len(base_patches)):
        script.append(f"git apply --whitespace=nowarn {INBOX}/base-{i}.diff")
        script.append("git add -A -f")
    script.append(f"{_GIT} commit -q --allow-empty --no-verify -m 'verifix: base'")
    if seal:
        script.append(f"python3 -I -S {CONTAINER_DIR}/supervise.py seal")
    result = container.run("\n".join(script), 600)
    if not result.ok:
        raise SandboxError(f"could not load the repo into the sandbox: {_tail(result.output)}")


def _tail(output: str, lines: int = 5) -> str:
    return " | ".join(output.strip().splitlines()[-lines:])
