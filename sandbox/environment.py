"""Environment images: a base image with the repo's dependencies installed, cached by content.

Docker 20.10 from Debian has no BuildKit, and Dockerfiles cannot pass a proxy's CA without
baking it in, so an environment is built by running the setup commands in a container and
committing it. The image tag is a hash of everything that changes what gets installed, so
a second verify on the same repo installs nothing.
"""

from __future__ import annotations

import hashlib
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import incontainer
from .config import EnvSpec, read_config_file, read_repo_config, resolve
from .container import Container, ExecResult, Limits
from .detect import PYTHON_RELEASES, WHEELS_LAG, dependency_files, detect
from .engine import LABEL_KEY, LONG_CALL_TIMEOUT_S, call_timeout, owner_labels
from .enginehost import EngineHost, client_name, engine_proxy, locate
from .envrepair import (
    MAX_REPAIRS,
    SetupAdvisor,
    SetupFailure,
    advised_argv,
    collect_repair_for,
    collect_repair_reason,
    evidence,
    recipe_path,
    refuse,
    repair_for,
    repair_reason,
    save_recipe,
)
from .errors import EngineLost, SandboxError, SetupFailed, UsageError
from .gateway import route
from .images import BaseImage, resolve_base
from .network import CONTAINER_CA_PATH, SetupNetwork, from_host, on_engine
from .snapshot import Snapshot
from .testrun import install_helpers
from .tree import load

if TYPE_CHECKING:
    import docker

Progress = Callable[[str], None]
ENV_REPOSITORY = "verifix-env"

#: Official slim images lack git, which the sandbox's tree handling needs.
_ENSURE_GIT = (
    "command -v git >/dev/null || "
    "(apt-get update -qq && apt-get install -y -qq --no-install-recommends git >/dev/null)"
)


@dataclass(frozen=True)
class Environment:
    """A ready environment image and how it came to be."""

    image: str
    base: BaseImage
    spec: EnvSpec
    key: str
    cached: bool
    build_s: float
    notes: tuple[str, ...]

    def run_env(self, scm_version: str | None) -> dict[str, str]:
        """Variables for every command in the sandbox: the configured ones, nothing from the
        host; setuptools-scm gets its version here because the sandbox has no tags."""
        env = dict(self.spec.env)
        if self.spec.uses_setuptools_scm and scm_version:
            env.setdefault("SETUPTOOLS_SCM_PRETEND_VERSION", scm_version)
        return env


def spec_for(snapshot: Snapshot, config: Path | None, overrides: dict[str, Any]) -> EnvSpec:
    """The environment a snapshot gets: detection, then the repo's configuration, then a
    ``--config`` file, then the flags the user passed (``overrides``), each over the last."""
    layers = read_repo_config(snapshot.root)
    if config is not None:
        layers.append(read_config_file(config))
    return resolve(detect(snapshot.root, snapshot.commit_date), layers, overrides)


def limits(spec: EnvSpec) -> Limits:
    return Limits(memory=spec.memory, cpus=spec.cpus, pids=spec.pids)


def dependency_digest(snapshot: Snapshot, spec: EnvSpec) -> str:
    """Hash of the dependency files, plus any repo file a setup command names."""
    root = snapshot.root
    files = set(dependency_files(root))
    for command in spec.setup:
        for word in shlex.split(command, posix=True) if _splittable(command) else []:
            candidate = root / word.split("[")[0]
            if word and candidate.is_file() and root in candidate.resolve().parents:
                files.add(candidate)
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _save_log(output: str) -> Path:
    """Keep a failed setup's output where the user can read it; the error stays one line."""
    with tempfile.NamedTemporaryFile(
        "w", prefix="verifix-setup-", suffix=".log", delete=False, encoding="utf-8"
    ) as log:
        log.write(output)
    return Path(log.name)


def _splittable(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:
        return False
    return True


def image_tag(key: str) -> str:
    return f"{ENV_REPOSITORY}:{key[:24]}"


#: Commits younger than this install today's packages.
_RECENT = timedelta(days=30)


@dataclass(frozen=True)
class Plan:
    """What an environment will be, before anything is built."""

    base: BaseImage
    key: str
    tag: str
    packages_as_of: date | None  # pip's --uploaded-prior-to for setup; None: today's
    packages_reason: str
    network: SetupNetwork
    engine: EngineHost


def packages_cutoff(
    setting: str, commit_date: date | None, python: str | None
) -> tuple[date | None, str]:
    """The date setup installs packages as of, and why.

    An old commit's tests ran against the packages of its day; today's releases break them
    (NumPy 2 removed ``np.Inf``, pytest 8 dropped nose). pip's ``--uploaded-prior-to``
    replays that era. The cutoff is never before the chosen Python had wheels, or nothing
    would install.
    """
    if setting == "latest":
        return None, "configured: latest"
    if setting != "commit":
        return date.fromisoformat(setting), "configured"
    if commit_date is None or commit_date > date.today() - _RECENT:
        return None, "latest (the commit is recent)"
    floor = PYTHON_RELEASES.get(python or "", date.min) + WHEELS_LAG
    if floor > commit_date:
        return (
            floor,
            f"Python {python} + {WHEELS_LAG.days} days (the commit, {commit_date}, is older)",
        )
    # The first of the next month: the packages of the commit's month, and one environment
    # for every commit of that month instead of one per commit.
    month_end = date(commit_date.year + commit_date.month // 12, commit_date.month % 12 + 1, 1)
    return month_end, f"the month of the commit ({commit_date})"


def plan(
    client: docker.DockerClient,
    snapshot: Snapshot,
    spec: EnvSpec,
    progress: Progress,
    *,
    may_bootstrap: bool = True,
) -> Plan:
    """Which base image, which package era, which cache key and tag an environment has."""
    if spec.test_command is None:
        raise UsageError(
            f"no tests found in {snapshot.repo}: add tests (test_*.py) or set test_command "
            "in .verifix.toml [sandbox]"
        )
    base = resolve_base(client, spec.python, spec.image, progress, may_bootstrap=may_bootstrap)
    cutoff, reason = packages_cutoff(spec.packages_as_of, snapshot.commit_date, base.python)
    engine = locate()
    if engine.remote:
        network = on_engine(dict(spec.proxy), engine_proxy(client), engine)
    else:
        network = from_host(dict(spec.proxy))
    # Only the helpers setup runs change an image; the reporter and the supervisor are
    # copied into every session's container afresh.
    helpers = hashlib.sha256(incontainer.INSTALL_REQUIREMENTS.read_bytes()).hexdigest()
    index = {**network.cache_relevant(), "as_of": str(cutoff)}
    # The repository's identity is in the key: an image holds files generated from one
    # repository's code (egg-info, build outputs), which another repository must never see.
    index["repo"] = str(snapshot.repo.resolve())
    if engine.remote:  # a shared engine: the same path on two machines is two repositories
        index["client"] = client_name()
    key = spec.cache_key(base.id, dependency_digest(snapshot, spec), index, helpers)
    return Plan(base, key, image_tag(key), cutoff, reason, network, engine)


ADVISED = "proposed by the model"


def _repairs(
    output: str,
    done: list[str],
    command: str,
    snapshot: Snapshot,
    base: BaseImage,
    advisor: SetupAdvisor | None,
) -> tuple[list[str], str]:
    """Commands to run before a failed step is retried: a rule's, else the advisor's (its
    commands checked against what an advisor may run), and why."""
    rule = repair_for(output, done)
    if rule is not None:
        return [rule], repair_reason(output)
    if advisor is None:
        return [], ""
    failure = SetupFailure(
        command, output[-6000:], tuple(done), base.python, evidence(snapshot.root)
    )
    proposed = [c for c in advisor.propose(failure) or [] if c not in done]
    refused = [f"{c!r}: {refuse(c)}" for c in proposed if refuse(c) is not None]
    if refused:
        return [], "; ".join(refused)
    return proposed, ADVISED


#: The collection probe runs as nobody: repo code (conftest hooks) must leave nothing in
#: the image, and nobody cannot write root's files; what it wrote elsewhere is removed.
_NOBODY = 65534
_AS_NOBODY = (
    f"import os, sys; os.setgroups([]); os.setgid({_NOBODY}); os.setuid({_NOBODY}); "
    "os.execvp('sh', ['sh', '-c', sys.argv[1]])"
)
_FORGET_NOBODY = (
    f'python -c "import os; os.setgid({_NOBODY}); os.setuid({_NOBODY}); os.kill(-1, 9)" '
    f"2>/dev/null; find / -xdev -uid {_NOBODY} -not -path '/proc/*' -exec rm -rf {{}} + "
    "2>/dev/null; rm -rf /tmp/verifix-probe; true"
)


#: The longest the collection probe may take. Collecting takes seconds, a minute for the
#: largest suites; one that runs longer is waiting on something (a suite that downloads
#: its data at import, retrying with back-off offline) and counts as collecting, since
#: its test run will show what is wrong, so a longer wait only delays the build.
PROBE_TIMEOUT_S = 180

#: Proxy variables a setup command gets and the collection probe does not.
_PROXY_NAMES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


#: A name server that refuses at once. Cut from its network, a container still asks
#: Docker's embedded one, which then answers nothing for 10 s a lookup; a test run (no
#: network at all) is refused at once.
_NO_DNS = (
    "cp /etc/resolv.conf /tmp/verifix-resolv.conf && "
    "printf 'nameserver 127.0.0.1\\n' > /etc/resolv.conf"
)
_DNS_BACK = "cat /tmp/verifix-resolv.conf > /etc/resolv.conf && rm -f /tmp/verifix-resolv.conf"


@contextmanager
def _offline(client: docker.DockerClient, box: Container, network: str) -> Iterator[None]:
    """``box`` cut from its setup network for a while (its name server refusing), then
    connected again. The host's own network cannot be cut from one container: there only
    the proxy is withheld."""
    if network in ("none", "host"):
        yield
        return
    net = client.networks.get(network)
    net.disconnect(box.id)
    dns = box.run(_NO_DNS, 60, workdir="/").ok
    try:
        yield
    finally:
        if dns:
            box.run(_DNS_BACK, 60, workdir="/")
        net.connect(box.id)


def _collect(
    client: docker.DockerClient, box: Container, network: str, spec: EnvSpec, env: dict[str, str]
) -> ExecResult | None:
    """A pytest suite's collection in the build container: the failed result when it
    cannot collect, else None (a suite not run by pytest is not probed). It runs as an
    unprivileged user and what that user left is removed before the image is saved."""
    if not spec.test_command or "pytest" not in spec.test_command:
        return None
    collect = f"{spec.test_command} --collect-only -q -p no:cacheprovider"
    # Collected as the tests will run: with no network. A suite whose modules fetch data
    # at import (pydicom's test files download from GitHub) would otherwise wait on the
    # setup network's refusals (or its DNS timeouts) file after file, holding the build
    # for the probe's whole timeout; offline, each fetch fails at once, as in a test run.
    probe_env = {
        **{k: v for k, v in env.items() if k.lower() not in _PROXY_NAMES},
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": "/tmp/verifix-probe",
        "TMPDIR": "/tmp/verifix-probe",
    }
    box.run("mkdir -p /tmp/verifix-probe && chmod 777 /tmp/verifix-probe", 60, workdir="/")
    with _offline(client, box, network):
        result = box.run(
            ["python", "-c", _AS_NOBODY, collect],
            min(spec.test_timeout, PROBE_TIMEOUT_S),
            env=probe_env,
        )
    box.run(_FORGET_NOBODY, 300, workdir="/")
    return None if result.exit_code in (0, 5) or result.timed_out else result


def prepare(
    client: docker.DockerClient,
    snapshot: Snapshot,
    spec: EnvSpec,
    progress: Progress,
    *,
    rebuild: bool = False,
    advisor: SetupAdvisor | None = None,
) -> Environment:
    """Return the environment for ``snapshot``, building it only if no cached image matches.

    A failed setup step is repaired by rules, then by ``advisor`` (a model) if one is given,
    and retried; what worked is saved as a recipe and the image cached under the key of
    the setup as detected, so the next run repeats nothing.
    """
    from docker.errors import ImageNotFound

    the_plan = plan(client, snapshot, spec, progress)
    base, key, tag = the_plan.base, the_plan.key, the_plan.tag
    notes = tuple(n for n in (base.note,) if n)
    if recipe_path(key).is_file():
        notes += (f"this environment's setup was repaired once; what worked: {recipe_path(key)}",)
    if not rebuild:
        try:
            client.images.get(tag)
            return Environment(tag, base, spec, key, True, 0.0, notes)
        except ImageNotFound:
            pass
    started = time.monotonic()
    network = the_plan.network
    progress(f"building the environment on {base.ref} (Python {base.python or '?'})")
    mode, bind = route(client, spec.setup_network, the_plan.engine.remote)
    gate = network.gateway(bind) if bind else None
    with (
        gate or nullcontext(),
        Container.start(client, base.ref, network=mode, limits=limits(spec), kind="build") as box,
    ):
        setup_env = {**network.container_env(gate), **spec.env}
        if spec.uses_setuptools_scm and snapshot.scm_version:
            setup_env["SETUPTOOLS_SCM_PRETEND_VERSION"] = snapshot.scm_version
        if network.ca_bundle is not None:
            box.put_files(
                str(Path(CONTAINER_CA_PATH).parent), {"ca.pem": network.ca_bundle.read_bytes()}
            )
        git = box.run(_ENSURE_GIT, spec.setup_timeout, env=setup_env, workdir="/")
        if not git.ok:
            raise SetupFailed(
                f"the base image {base.ref} has no git and it could not be installed", git.output
            )
        install_helpers(box)
        load(box, snapshot, [], seal=False)
        if the_plan.packages_as_of is not None:
            # Only a recent pip knows --uploaded-prior-to; best effort (Python 3.6-3.8 pips
            # stop short of it, and then today's packages install).
            box.run("python -m pip install -q -U pip", spec.setup_timeout, env=setup_env)
            setup_env["PIP_UPLOADED_PRIOR_TO"] = the_plan.packages_as_of.isoformat()
            progress(f"packages as of {the_plan.packages_as_of} ({the_plan.packages_reason})")
        done: list[str] = []  # the setup as it actually ran, repairs included
        repairs: list[str] = []
        refused = ""
        for command in spec.setup:
            progress(f"setup: {command}")
            result = box.run(command, spec.setup_timeout, env=setup_env)
            while not result.ok and not result.timed_out and len(repairs) < MAX_REPAIRS:
                fixes, why = _repairs(result.output, done, command, snapshot, base, advisor)
                if not fixes:
                    if why:
                        refused = f"; a repair was refused: {why}"
                        progress(f"setup repair refused: {why}")
                    break
                progress(f"setup failed; repair ({why}): {'; '.join(fixes)}, then the step again")
                runs = [advised_argv(f) if why == ADVISED else f for f in fixes]
                if not all(box.run(r, spec.setup_timeout, env=setup_env).ok for r in runs):
                    break
                done.extend(fixes)
                repairs += [f"{fix} (before {command!r}: {why})" for fix in fixes]
                result = box.run(command, spec.setup_timeout, env=setup_env)
            if not result.ok:
                why = "timed out" if result.timed_out else f"exited with {result.exit_code}"
                last = result.output.strip().splitlines()[-1:] or [""]
                if gate is not None and gate.refused:
                    refused += f"; the setup gateway refused: {gate.refused[-1]}"
                log = _save_log(result.output)
                raise SetupFailed(
                    f"setup command {command!r} {why}: {last[0][:300]} (full output: {log}; "
                    f"fix it or set 'setup' in .verifix.toml [sandbox]){refused}",
                    result.output,
                )
            done.append(command)
        # A suite that cannot even collect (a plugin its options need, a pytest too old for
        # its plugins, a module its conftest imports) is repaired here, while the network
        # is up, and the repaired image cached.
        while len(repairs) < MAX_REPAIRS:
            collected = _collect(client, box, mode, spec, setup_env)
            fix = collect_repair_for(collected.output, done) if collected else None
            if fix is None:
                break
            why = collect_repair_reason(collected.output)
            progress(f"the suite cannot collect ({why}): {fix}, then collect again")
            if not box.run(fix, spec.setup_timeout, env=setup_env).ok:
                break
            done.append(fix)
            repairs.append(f"{fix} (the suite could not collect: {why})")
        if repairs:
            saved = save_recipe(key, done, repairs)
            notes += tuple(f"setup repaired: {r}" for r in repairs)
            notes += (f"the setup that worked is in {saved} (copy it to .verifix.toml)",)
        # The image keeps what setup generated, never the snapshot's history: each session
        # makes its own /repo/.git, and the next snapshot's load removes these sources.
        box.run(f"rm -rf {Path(CONTAINER_CA_PATH).parent} /repo/.git", 60, workdir="/")
        labels = owner_labels("env", repo=snapshot.repo.name, base=base.ref)
        labels[LABEL_KEY] = key
        repository, image_tag_part = tag.split(":")
        try:
            with call_timeout(client, LONG_CALL_TIMEOUT_S):  # a big image takes minutes
                client.api.commit(
                    box.id, repository=repository, tag=image_tag_part, conf={"Labels": labels}
                )
        except EngineLost:
            raise
        except Exception as exc:  # docker.errors.APIError, disk full, ...
            raise SandboxError(f"could not save the environment image: {exc}") from exc
    return Environment(
        tag, base, spec, key, False, time.monotonic() - started, notes + network.notes
    )
