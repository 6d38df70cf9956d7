"""The in-container supervisor: the only process that touches the base tree, the results and
what verifix prints, and the only one running as root while tests run.

Tests run as an unprivileged user that cannot write the repo's ``.git``, the installed
environment or verifix's files. Their results come back through a pipe whose read end only
this process holds (nothing a test writes can be rewritten or truncated once sent), read up
to a byte limit. This process alone writes stdout: a JSON header giving the length of each
result section, then the sections, so nothing the tests print can forge the framing.

Every check starts from the same state: no process of the test user alive, the scratch
directories it could write emptied of what it left, and ``/repo`` reset to the base commit
with untracked and ignored files removed (the base commit holds every file present at load,
generated ones included).

Runs as ``python3 -I -S`` (no site-packages, no repo code on the path) on any Python 3.6+,
with the standard library only.

Usage: supervise.py prepare | seal | check   (inputs for check come in VERIFIX_* variables)
"""

import contextlib
import json
import os
import pwd
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time

TESTER = "verifix-test"
TESTER_ID = 10001
HOME = "/home/" + TESTER
REPO = "/repo"
STATE = "/verifix/state"
INBOX = "/verifix/in"
SCRATCH_LIST = STATE + "/scratch.json"
GIT = ["git", "-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null"]
#: How long to wait for the pipe to close once every test process is killed.
_DRAIN_S = 10


def _tester():
    try:
        entry = pwd.getpwnam(TESTER)
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return TESTER_ID, TESTER_ID


def _run(args, **kw):
    return subprocess.call(args, cwd=REPO, stdout=2, stderr=2, **kw)


# ------------------------------------------------------------------ session start


def prepare():
    """Once per container: the test user, private verifix folders, the scratch list."""
    try:
        pwd.getpwnam(TESTER)
    except KeyError:
        with open("/etc/passwd", "a") as f:
            f.write(f"{TESTER}:x:{TESTER_ID}:{TESTER_ID}::{HOME}:/bin/sh\n")
        with open("/etc/group", "a") as f:
            f.write(f"{TESTER}:x:{TESTER_ID}:\n")
    uid, gid = _tester()
    for path in (INBOX, STATE, "/verifix/out"):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o700)
    os.chmod("/verifix", 0o755)
    os.chmod("/verifix/bin", 0o755)
    os.makedirs(HOME, exist_ok=True)
    os.chown(HOME, uid, gid)
    os.chmod(HOME, 0o700)
    # Tests that call git in /repo (owned by the test user, .git by root) need this.
    with open("/etc/gitconfig", "a") as f:
        f.write("[safe]\n\tdirectory = *\n")
    # Every place the test user could write outside /repo: world-writable folders are
    # scratch space (emptied of its files before each check); world-writable files in the
    # installed environment would let one check plant code for the next, so they lose it.
    found = subprocess.run(
        [
            "find",
            "/",
            "-xdev",
            "(",
            "-path",
            "/proc",
            "-o",
            "-path",
            "/sys",
            "-o",
            "-path",
            REPO,
            "-o",
            "-path",
            "/verifix",
            ")",
            "-prune",
            "-o",
            "-perm",
            "-0002",
            "!",
            "-type",
            "l",
            "-print0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ).stdout
    scratch = [HOME, "/dev/shm"]
    for raw in found.split(b"\0"):
        if not raw:
            continue
        path = raw.decode("utf-8", "surrogateescape")
        if os.path.isdir(path):
            scratch.append(path)
        else:
            with contextlib.suppress(OSError):
                os.chmod(path, os.lstat(path).st_mode & 0o7775)
    with open(SCRATCH_LIST, "w") as f:
        json.dump(sorted(set(p for p in scratch if os.path.isdir(p))), f)


def seal():
    """After the base commit: the work tree belongs to the test user, ``.git`` to root."""
    uid, gid = _tester()
    _chown_tree(uid, gid)
    subprocess.call(["chown", "-R", "0:0", REPO + "/.git"])
    subprocess.call(["chmod", "-R", "go-w", REPO + "/.git"])


def _chown_tree(uid, gid):
    """Give the test user whatever in the work tree it does not own yet (only those)."""
    subprocess.call(
        [
            "find",
            REPO,
            "-path",
            REPO + "/.git",
            "-prune",
            "-o",
            "!",
            "-user",
            str(uid),
            "-exec",
            "chown",
            "-h",
            f"{uid}:{gid}",
            "{}",
            "+",
        ],
        stdout=subprocess.DEVNULL,
    )


# ------------------------------------------------------------------ between checks


def _tester_pids(uid):
    """Live (not zombie) processes of the test user, from /proc."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat("/proc/" + name).st_uid != uid:
                continue
            with open("/proc/" + name + "/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            pids.append(int(name))
    return pids


def kill_tester():
    """SIGKILL every process of the test user until none is left. kill(-1) from the test
    user's own uid reaches exactly those (and cannot be dodged by changing process group);
    the container's init reaps them, so no zombie survives either."""
    uid, gid = _tester()
    for _ in range(200):
        if not _tester_pids(uid):
            return
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.005)


def clean_scratch():
    uid, _ = _tester()
    try:
        with open(SCRATCH_LIST) as f:
            folders = json.load(f)
    except (OSError, ValueError):
        folders = [HOME, "/tmp", "/var/tmp", "/dev/shm"]
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if st.st_uid != uid and folder != HOME:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)


def reset():
    """Back to exactly the base state: processes, scratch, the tree."""
    kill_tester()
    clean_scratch()
    if _run([*GIT, "reset", "-q", "--hard", "HEAD"]) != 0:
        return False
    return _run([*GIT, "clean", "-qffdx"]) == 0


def apply(patch_path):
    if _run([*GIT, "apply", "--whitespace=nowarn", patch_path]) == 0:
        return True
    subprocess.call(
        [*GIT, "apply", "--reject", "--whitespace=nowarn", patch_path],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sys.stderr.write("rejected hunks:\n")
    sys.stderr.flush()
    subprocess.call(
        [
            "find",
            ".",
            "-name",
            "*.rej",
            "-not",
            "-path",
            "./.git/*",
            "-exec",
            "sh",
            "-c",
            'echo "--- $1"; cat "$1"',
            "_",
            "{}",
            ";",
        ],
        cwd=REPO,
        stdout=2,
        stderr=2,
    )
    return False


# ------------------------------------------------------------------ running tests


def _tester_env():
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("VERIFIX_"))
    env.update(HOME=HOME, USER=TESTER, LOGNAME=TESTER, VERIFIX_REPORT_FD="3")
    return env


def run_tests(command, timeout_s, limit):
    """Run ``command`` as the test user with the results pipe on fd 3; read at most
    ``limit`` bytes of results. Returns a dict for the header and the result bytes."""
    uid, gid = _tester()
    read_end, write_end = os.pipe()

    def demote():
        os.dup2(write_end, 3)
        os.setsid()
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    started = time.monotonic()
    proc = subprocess.Popen(
        ["sh", "-c", command],
        cwd=REPO,
        env=_tester_env(),
        stdin=subprocess.DEVNULL,
        stdout=2,
        stderr=2,
        preexec_fn=demote,
        close_fds=False,
    )  # every fd Python opens is non-inheritable: only 0-2 and the dup2'd fd 3 pass
    os.close(write_end)
    data = bytearray()
    total = 0
    timed_out = False
    swept = False
    deadline = started + timeout_s
    drain_until = None
    while True:
        now = time.monotonic()
        if not swept and now >= deadline:
            timed_out = True
        if not swept and (timed_out or proc.poll() is not None):
            # The command ended (or ran out of time): whatever it left running goes, and the
            # pipe closes once nothing holds its write end.
            kill_tester()
            swept = True
            drain_until = time.monotonic() + _DRAIN_S
        if swept and time.monotonic() > drain_until:
            break
        ready, _, _ = select.select([read_end], [], [], 0.2)
        if not ready:
            continue
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            if swept:
                break
            continue
        total += len(chunk)
        room = limit - len(data)
        if room > 0:
            data += chunk[:room]
    os.close(read_end)
    code = proc.wait()
    if code < 0:
        code = 128 - code  # killed by a signal, as a shell reports it
    return {
        "exit": code,
        "timed_out": timed_out,
        "seconds": round(time.monotonic() - started, 3),
        "bytes": total,
        "truncated": total > limit,
    }, bytes(data)


def _targets_all_passed(raw, targets):
    """Cheap pre-check before a confirmation run: every target has a passing call record
    and none has a failing one (the host judges for real; this only saves time)."""
    passed = set()
    for line in raw.splitlines():
        try:
            rec = json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            continue
        if not isinstance(rec, dict) or rec.get("id") not in targets:
            continue
        if rec.get("outcome") == "failed":
            return False
        if rec.get("when") == "call" and rec.get("outcome") == "passed":
            passed.add(rec["id"])
    return passed >= set(targets)


#: Longest command line the kernel takes as one argument (MAX_ARG_STRLEN is 128 KiB).
_MAX_COMMAND = 100000


def confirm_targets(template, targets, timeout_s, limit):
    """Run the targets alone, in as few processes as the command-line limit allows; every
    one of them must exit 0."""
    chunks, current, size = [], [], len(template)
    for target in targets:
        grow = len(shlex.quote(target)) + 1
        if current and size + grow > _MAX_COMMAND:
            chunks.append(current)
            current, size = [], len(template)
        current.append(target)
        size += grow
    chunks.append(current)
    total = {"exit": 0, "timed_out": False, "seconds": 0.0, "bytes": 0, "truncated": False}
    data = bytearray()
    for chunk in chunks:
        run, out = run_tests(compose(template, chunk), timeout_s, max(limit - len(data), 0))
        total["exit"] = total["exit"] or run["exit"]
        total["timed_out"] = total["timed_out"] or run["timed_out"]
        total["seconds"] = round(total["seconds"] + run["seconds"], 3)
        total["bytes"] += run["bytes"]
        total["truncated"] = total["truncated"] or run["truncated"]
        data += out
    return total, bytes(data)


def compose(template, selection):
    quoted = " ".join(shlex.quote(s) for s in selection)
    if "{tests}" in template:
        return template.replace("{tests}", quoted)
    return (template + " " + quoted).strip()


def _load_ids(inline, path):
    if os.environ.get(path):
        with open(os.environ[path]) as f:
            return json.load(f)
    return json.loads(os.environ.get(inline) or "[]")


def _any_not_passing(raw, guarded, run):
    """Cheap pre-check before a control run: a guarded test has a failing record or no
    passing call, or the run timed out (the host judges for real; this only saves time)."""
    if run["timed_out"] or run["truncated"]:
        return True
    seen, passed = set(), set()
    for line in raw.splitlines():
        try:
            rec = json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            continue
        if not isinstance(rec, dict) or rec.get("id") not in guarded:
            continue
        seen.add(rec["id"])
        if rec.get("outcome") == "failed":
            return True
        if rec.get("when") == "call" and rec.get("outcome") == "passed":
            passed.add(rec["id"])
    return bool(seen - passed)


def check():
    """One stage of a check (VERIFIX_STAGE): ``full`` runs the test command and, when every
    target passed, the targets alone; ``targets`` runs only the targets alone; ``affected``
    runs the test command (a selection) and, when a guarded test did not pass, the same
    command on the base tree without the patch (the control)."""
    env = os.environ
    stage = env.get("VERIFIX_STAGE") or "full"
    timeout_s = float(env["VERIFIX_TEST_TIMEOUT"])
    limit = int(env["VERIFIX_REPORT_LIMIT"])
    patch_path = None
    if env.get("VERIFIX_PATCH"):
        patch_path = INBOX + "/patch.diff"
        with open(patch_path, "w") as f:
            f.write(env["VERIFIX_PATCH"])
    elif env.get("VERIFIX_PATCH_FILE"):
        patch_path = env["VERIFIX_PATCH_FILE"]
    uid, gid = _tester()
    header = {"applied": True, "sections": []}
    sections = []

    def prepared(with_patch=True):
        if not reset():
            header["error"] = "could not reset /repo to the base tree"
            return False
        if with_patch and patch_path and not apply(patch_path):
            header["applied"] = False
            return False
        _chown_tree(uid, gid)
        return True

    def add(name, run, raw):
        header[name] = run
        header["sections"].append(name)
        sections.append(raw)

    targets = _load_ids("VERIFIX_TARGETS", "VERIFIX_TARGETS_FILE")
    if prepared():
        template = env["VERIFIX_CONFIRM_TEMPLATE"]
        if stage == "targets":
            # The targets alone, in a fresh process from a fresh tree: its exit status is
            # read here, out of reach of the code it runs.
            add("main", *confirm_targets(template, targets, timeout_s, limit))
        else:
            main_run, main = run_tests(env["VERIFIX_TEST_COMMAND"], timeout_s, limit)
            add("main", main_run, main)
            guarded = set(_load_ids("VERIFIX_GUARD", "VERIFIX_GUARD_FILE"))
            if targets and _targets_all_passed(main, set(targets)) and prepared():
                add("confirm", *confirm_targets(template, targets, timeout_s, limit))
            elif guarded and _any_not_passing(main, guarded, main_run) and prepared(False):
                # The same selection without the patch: a test failing in both is not the
                # patch's doing, whatever it did in the baseline's full run.
                add("control", *run_tests(env["VERIFIX_TEST_COMMAND"], timeout_s, limit))
    kill_tester()
    header["lengths"] = [len(s) for s in sections]
    out = getattr(sys.stdout, "buffer", sys.stdout)
    out.write(json.dumps(header).encode() + b"\n")
    for section in sections:
        out.write(section)
    out.flush()


if __name__ == "__main__":
    {"prepare": prepare, "seal": seal, "check": check}[sys.argv[1]]()
