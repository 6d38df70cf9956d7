"""Does anything outlive a fault? ``verify`` and ``fix`` runs, each hit at a random moment.

Every run works on a fresh copy of a small buggy repo; ``fix`` runs talk to the scripted
model server; the engine is reached through a proxy socket this script owns, so cutting or
stalling "the engine" never touches the shared daemon. One fault per run, at a random
moment of the run: SIGINT, SIGTERM, the engine's socket cut, the engine stalled (then
Ctrl-C, as a user would), a provider error, a malformed reply, an oversized reply. After
each run (and the engine back), it counts what the promises say must be zero:

- containers left: containers of this run still on the engine once the run has ended;
- temp folders left: ``/tmp/verifix-*`` folders made during the run and still there;
- repo bytes changed: the user's working tree, index, refs and stash, byte for byte;
- runs without a record: ``fix`` runs that called the model and wrote no run record;
- spend over limit: ``fix`` runs whose record spent more than ``--max-cost``;
- hung: runs still alive 60 s after their fault (then killed).

    python benchmarks/faults.py --runs 100

Containers of a run whose engine was cut or hung are counted in their own column: that run
cannot reach the engine to remove them (``verifix env prune`` does, later), and they are
removed before the next run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import docker
from verifix.cli.example.scripted_model import ScriptedModel

VERIFIX = str(Path(sys.executable).parent / "verifix")
REAL_SOCKET = "/var/run/docker.sock"
MAX_COST = 0.05
BUGGY = "def add(a, b):\n    return a - b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
RIGHT = (
    "Fix.\n\ncalc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n"
    ">>>>>>> REPLACE\n"
)
WRONG = RIGHT.replace("a + b", "a * b")
FAULTS = (
    "sigint",
    "sigterm",
    "engine-cut",
    "engine-stall",
    "provider-error",
    "malformed-reply",
    "oversized-reply",
)
MODEL_FAULTS = ("provider-error", "malformed-reply", "oversized-reply")


class EngineProxy:
    """A unix socket that forwards to the real engine, and can be cut or stalled."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(64)
        self.stalled = threading.Event()
        self.cut = threading.Event()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(REAL_SOCKET)
            self.pairs.append((client, engine))
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.stalled.is_set() and not self.cut.is_set():
                    time.sleep(0.05)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def do_cut(self) -> None:
        self.cut.set()
        for client, engine in self.pairs:
            for sock in (client, engine):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.cut.clear()
        self.stalled.clear()
        self.pairs.clear()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "calc.py").write_text(BUGGY)
    (repo / "tests" / "test_calc.py").write_text(TESTS)
    (repo / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    (repo / ".verifix.toml").write_text('[sandbox]\nsetup = ["python -m pip install -q pytest"]\n')
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    (repo / "notes.txt").write_text("uncommitted work of the user\n")
    return repo


def repo_state(repo: Path) -> dict[str, bytes]:
    """Everything of the user's: working-tree files (not verifix's own .verifix/), the
    index, HEAD, refs and the stash."""
    state: dict[str, bytes] = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and not rel.startswith((".verifix/", ".git/")):
            state[rel] = path.read_bytes()
    for rel in (".git/index", ".git/HEAD"):
        path = repo / rel
        state[rel] = path.read_bytes() if path.exists() else b""
    state["refs"] = git(repo, "show-ref").encode() + git(repo, "stash", "list").encode()
    return state


def changed_bytes(before: dict[str, bytes], after: dict[str, bytes]) -> int:
    total = 0
    for key in set(before) | set(after):
        a, b = before.get(key, b""), after.get(key, b"")
        if a != b:
            total += max(len(a), len(b))
    return total


def replies(fault: str) -> list:
    if fault == "provider-error":
        return [WRONG] + [{"status": 500}] * 20
    if fault == "malformed-reply":
        return [
            {"text": "<<<<<<< SEARCH\nnot a block", "usage": {"prompt_tokens": -5}},
            {"raw": '{"choices": [{"message": '},
        ]
    if fault == "oversized-reply":
        return [{"text": "x" * 5_000_000}, WRONG, RIGHT]
    return [WRONG, WRONG, RIGHT]


def _temp_folders(tmp: Path) -> set[Path]:
    """verifix's temporary folders (its kept setup logs are files, for the user to read)."""
    return {p for p in tmp.glob("verifix-*") if p.is_dir()}


def one_run(
    client: docker.DockerClient, number: int, command: str, fault: str, delay: float
) -> dict:
    session = f"faults-{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        root = Path(tmp)
        own_tmp = root / "tmp"  # the run's TMPDIR: only its own folders are counted
        own_tmp.mkdir()
        repo = make_repo(root)
        proxy = EngineProxy(root / "engine.sock")
        env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{root / 'engine.sock'}",
            "VERIFIX_SESSION": session,
            "XDG_CACHE_HOME": str(root / "cache"),
            "TMPDIR": str(own_tmp),
        }
        before = repo_state(repo)
        issue = root / "issue.md"
        issue.write_text("# add() subtracts\n\n`add(2, 3)` gives -1, not 5.\n")
        patch = root / "fix.patch"
        patch.write_text(
            "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n"
            "-    return a - b\n+    return a + b\n"
        )
        with ScriptedModel(replies(fault)) as model:
            if command == "verify":
                argv = [VERIFIX, "verify", str(repo), "--patch", str(patch)]
            else:
                argv = [
                    *(VERIFIX, "fix", str(repo), "--issue-file", str(issue)),
                    *("--model", "openai/scripted", "--api-base", model.url),
                    *("--price-in", "1", "--price-out", "2", "--max-cost", str(MAX_COST)),
                    *("--max-attempts", "3"),
                ]
            started = time.monotonic()
            proc = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            hung = False
            landed = fault in MODEL_FAULTS
            if fault not in MODEL_FAULTS:
                try:
                    proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    landed = True
                    if fault == "sigint":
                        proc.send_signal(signal.SIGINT)
                    elif fault == "sigterm":
                        proc.send_signal(signal.SIGTERM)
                    elif fault == "engine-cut":
                        proxy.do_cut()
                    elif fault == "engine-stall":
                        proxy.stalled.set()
                        time.sleep(5)
                        proc.send_signal(signal.SIGINT)  # the user gives up on a hung engine
            try:
                _, err = proc.communicate(timeout=60 if fault not in MODEL_FAULTS else 600)
            except subprocess.TimeoutExpired:
                hung = True
                proc.kill()
                _, err = proc.communicate()
            seconds = time.monotonic() - started
            calls = len(model.requests)
        proxy.restore()
        mine = {"label": f"verifix.session={session}"}
        left = client.containers.list(all=True, filters=mine)
        for container in left:  # the engine may still be removing it: that is fine too
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        runs = sorted((repo / ".verifix" / "runs").glob("*.json"))
        spent = json.loads(runs[-1].read_text())["outcome"]["cost"] if runs else 0.0
        after = repo_state(repo)
        proxy.server.close()
        temp_left = _temp_folders(own_tmp)
    return {
        "run": number,
        "command": command,
        "fault": fault,
        "delay_s": round(delay, 2),
        "landed": landed,
        "seconds": round(seconds, 1),
        "exit": proc.returncode,
        "containers_left": len(left),
        "temp_left": len(temp_left),
        "repo_bytes_changed": changed_bytes(before, after),
        "no_record": command == "fix" and calls > 0 and not runs,
        "over_limit": spent > MAX_COST + 1e-9,
        "hung": hung,
        "last_line": (err.strip().splitlines() or [""])[-1][:160],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-delay", type=float, default=0.9, help="latest fault, as a share of a clean run"
    )
    parser.add_argument("--out", type=Path, help="JSONL of every run")
    parser.add_argument(
        "--fault", action="append", choices=FAULTS, help="only these faults (repeatable)"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    client = docker.from_env()
    rows = []
    # How long a run takes with no fault: faults land somewhere inside that.
    clean = {c: one_run(client, 0, c, "none", 3600)["seconds"] for c in ("verify", "fix")}
    print(f"clean runs: {clean}", flush=True)
    for number in range(1, args.runs + 1):
        command = rng.choice(("verify", "fix"))
        kinds = [f for f in FAULTS if command == "fix" or f not in MODEL_FAULTS]
        fault = rng.choice([f for f in kinds if f in (args.fault or kinds)] or kinds)
        delay = rng.uniform(0.1, args.max_delay * clean[command])
        row = one_run(client, number, command, fault, delay)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with args.out.open("a") as out:
                out.write(json.dumps(row) + "\n")
    lost = [r for r in rows if r["fault"] in ("engine-cut", "engine-stall")]
    others = [r for r in rows if r not in lost]
    columns = {
        "containers left": sum(r["containers_left"] for r in others),
        "containers left (engine lost)": sum(r["containers_left"] for r in lost),
        "temp folders left": sum(r["temp_left"] for r in rows),
        "repo bytes changed": sum(r["repo_bytes_changed"] for r in rows),
        "runs without a record": sum(r["no_record"] for r in rows),
        "spend over limit": sum(r["over_limit"] for r in rows),
        "hung": sum(r["hung"] for r in rows),
    }
    landed = sum(r["landed"] for r in rows)
    kinds = dict(Counter(r["fault"] for r in rows))
    print(f"\n{len(rows)} runs ({landed} hit while running): {kinds}")
    for name, value in columns.items():
        print(f"  {name:30} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
