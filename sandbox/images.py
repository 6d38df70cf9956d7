"""Base images: the official ``python:X.Y-slim`` where a registry answers, otherwise images
verifix bootstraps itself from Debian with debootstrap (air-gapped machines, no registry).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .engine import LABEL_KIND, LABEL_PYTHON, LONG_CALL_TIMEOUT_S, call_timeout, owner_labels
from .errors import SandboxError, UsageError
from .network import from_host

if TYPE_CHECKING:
    import docker

Progress = Callable[[str], None]

BOOTSTRAP_REPOSITORY = "verifix-base"
#: Debian release whose python3 is that version.
DEBIAN_SUITES = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}
DEFAULT_MIRROR = "http://deb.debian.org/debian"
VENV = "/opt/venv"
_PACKAGES = "python3,python3-venv,python3-pip,git,ca-certificates"


@dataclass(frozen=True)
class BaseImage:
    ref: str
    id: str
    python: str | None
    note: str | None = None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def local_bases(client: docker.DockerClient) -> dict[str, str]:
    """Python version -> image reference, for every usable base image on this engine.

    Official images win over bootstrapped ones of the same version.
    """
    found: dict[str, str] = {}
    for image in client.images.list(filters={"label": f"{LABEL_KIND}=base"}):
        version = image.labels.get(LABEL_PYTHON)
        if version and image.tags:
            found[version] = image.tags[0]
    for image in client.images.list(name="python"):
        for tag in image.tags:
            match = re.fullmatch(r"python:(3\.\d+)(-slim(-\w+)?)?", tag)
            if match:
                found[match.group(1)] = tag
    return found


def _get(client: docker.DockerClient, ref: str, python: str | None, note: str | None = None):
    image = client.images.get(ref)
    return BaseImage(ref, image.id, image.labels.get(LABEL_PYTHON) or python, note)


def _try_pull(client: docker.DockerClient, version: str) -> str | None:
    from docker.errors import DockerException

    ref = f"python:{version}-slim"
    try:
        with call_timeout(client, LONG_CALL_TIMEOUT_S):
            client.images.pull("python", tag=f"{version}-slim")
    except DockerException:
        return None
    return ref


def resolve_base(
    client: docker.DockerClient,
    wanted: tuple[str, ...],
    explicit: str | None,
    progress: Progress,
    *,
    may_bootstrap: bool = True,
) -> BaseImage:
    """The base image for an environment: explicit, else the best acceptable Python.

    ``wanted`` lists acceptable versions best first. A local image of any of them wins; then
    a pull of the best one; then a bootstrap of the first one Debian ships when that is a
    better choice than any local image (``may_bootstrap``; ``env show`` only says it would);
    then the nearest local version, said out loud, because running a project on a Python it
    did not ask for can change test results.
    """
    from docker.errors import DockerException, ImageNotFound

    if explicit:
        try:
            return _get(client, explicit, None)
        except ImageNotFound:
            pass
        progress(f"pulling {explicit}")
        try:
            with call_timeout(client, LONG_CALL_TIMEOUT_S):
                client.images.pull(explicit)
            return _get(client, explicit, None)
        except DockerException as exc:
            raise SandboxError(
                f"image {explicit} is not on this engine and cannot be pulled: "
                "build or load it, or remove 'image' from the configuration"
            ) from exc
    local = local_bases(client)
    if wanted and wanted[0] in local:
        return _get(client, local[wanted[0]], wanted[0])
    if wanted:
        progress(f"pulling python:{wanted[0]}-slim")
        pulled = _try_pull(client, wanted[0])
        if pulled:
            return _get(client, pulled, wanted[0])
    # wanted is ordered best first (the era's Python, then the nearest): take the first
    # that is here, unless one before it can be built from Debian.
    have = next((v for v in wanted if v in local), None)
    buildable = next((v for v in wanted if v in DEBIAN_SUITES), None)
    if buildable and (have is None or wanted.index(buildable) < wanted.index(have)):
        why = _cannot_bootstrap() if may_bootstrap else "not now"
        if why == "not now" and have is not None:
            note = f"Python {wanted[0]} wanted; a run bootstraps {buildable} (nearer than {have})"
            return _get(client, local[have], have, note)
        if why is None:
            progress(
                f"Python {wanted[0]} wanted; no image for it, bootstrapping the nearest that "
                f"Debian ships, {buildable}" + (f" (nearer than the local {have})" if have else "")
            )
            try:
                built = bootstrap(client, buildable, progress)
                note = f"Python {wanted[0]} wanted; bootstrapped the nearest: {buildable}"
                return BaseImage(built.ref, built.id, built.python, note)
            except SandboxError as exc:
                progress(f"bootstrapping Python {buildable} failed: {exc}")
    if have is not None:
        note = None
        if have != wanted[0]:
            note = f"Python {wanted[0]} wanted; no image for it, using the nearest here: {have}"
        return _get(client, local[have], have, note)
    if local and wanted:
        target = _version_key(wanted[0])
        nearest = min(local, key=lambda v: (abs(_version_key(v)[1] - target[1]), v))
        note = f"Python {wanted[0]} wanted; no image for it, using the nearest: {nearest}"
        return _get(client, local[nearest], nearest, note)
    version = wanted[0] if wanted else "3.11"
    build = version if version in DEBIAN_SUITES else "3.11"
    raise SandboxError(
        f"no base image for Python {version} and no registry to pull python:{version}-slim "
        f"from: run 'verifix sandbox bootstrap --python {build}'"
    )


def _cannot_bootstrap() -> str | None:
    """Why this machine cannot bootstrap a base image now, or None if it can."""
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("debootstrap"):
        return "debootstrap is not installed"
    return None


def bootstrap_ref(python: str) -> str:
    return f"{BOOTSTRAP_REPOSITORY}:py{python}"


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise SandboxError(f"{what} failed: {' | '.join(tail)}")
    return proc.stdout


def ensure_any_base(client: docker.DockerClient, progress: Progress) -> None:
    """Make sure some Python base image exists: a local or pulled one, else bootstrap 3.11
    (the demo must run on an engine with no image and no registry)."""
    try:
        resolve_base(client, ("3.11", "3.13", "3.9"), None, progress)
    except SandboxError:
        progress("no Python base image on this engine: bootstrapping one (about a minute)")
        bootstrap(client, "3.11", progress)


def bootstrap(
    client: docker.DockerClient,
    python: str,
    progress: Progress,
    mirror: str = DEFAULT_MIRROR,
    workdir: Path | None = None,
) -> BaseImage:
    """Build ``verifix-base:pyX.Y`` from Debian packages alone: debootstrap, then import.

    The image carries a virtualenv at /opt/venv first on PATH, so ``python`` and ``pip``
    behave as in the official images (Debian's own Python refuses pip installs, PEP 668).
    """
    if python not in DEBIAN_SUITES:
        known = ", ".join(DEBIAN_SUITES)
        raise UsageError(f"no Debian release ships Python {python}; choose one of {known}")
    if os.geteuid() != 0:
        raise UsageError("bootstrapping an image runs debootstrap, which needs root: use sudo")
    if not shutil.which("debootstrap"):
        raise SandboxError("debootstrap is not installed: apt-get install debootstrap")
    suite = DEBIAN_SUITES[python]
    tmp = Path(tempfile.mkdtemp(prefix="verifix-bootstrap-", dir=workdir))
    rootfs = tmp / "rootfs"
    try:
        progress(f"debootstrap {suite} (Python {python}) from {mirror}")
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={_PACKAGES}",
                suite,
                str(rootfs),
                mirror,
            ],
            "debootstrap",
        )
        progress(f"creating the virtualenv {VENV}")
        _run(["chroot", str(rootfs), "python3", "-m", "venv", VENV], "python3 -m venv")
        _upgrade_pip(rootfs, progress)
        actual = _run(
            [
                "chroot",
                str(rootfs),
                f"{VENV}/bin/python",
                "-c",
                "import sys; print('%d.%d' % sys.version_info[:2])",
            ],
            "checking the Python version",
        ).strip()
        for junk in (
            "var/cache/apt/archives",
            "var/lib/apt/lists",
            "usr/share/doc",
            "usr/share/man",
        ):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        progress("importing the root filesystem into Docker")
        tarball = tmp / "rootfs.tar"
        _run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], "tar")
        labels = owner_labels("base", python=actual)
        changes = [
            f"ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"ENV VIRTUAL_ENV={VENV}",
            "ENV LANG=C.UTF-8",
            'CMD ["/bin/bash"]',
            *[f'LABEL {k}="{v}"' for k, v in labels.items()],
        ]
        repository, tag = bootstrap_ref(actual).split(":")
        with call_timeout(client, LONG_CALL_TIMEOUT_S):
            client.api.import_image_from_file(
                str(tarball), repository=repository, tag=tag, changes=changes
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _get(client, bootstrap_ref(actual), actual)


def _upgrade_pip(rootfs: Path, progress: Progress) -> None:
    """Best effort: old Debian pips cannot do PEP 660 editable installs; offline, keep them."""
    network = from_host()
    # Only what the chroot needs: the host's other variables name host paths (CA bundles,
    # find-links, constraints) that mean something else, or nothing, inside the chroot.
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    env.update(network.host_env())
    env["PIP_CONFIG_FILE"] = os.devnull
    if network.ca_bundle is not None:
        shutil.copyfile(network.ca_bundle, rootfs / "tmp" / "ca.pem")
        env["PIP_CERT"] = "/tmp/ca.pem"
    progress("upgrading pip in the virtualenv (skipped if offline)")
    proc = subprocess.run(
        [
            "chroot",
            str(rootfs),
            f"{VENV}/bin/python",
            "-m",
            "pip",
            "install",
            "-q",
            "-U",
            "pip",
            "wheel",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        progress("pip could not be upgraded (no index reachable); keeping Debian's pip")
    (rootfs / "tmp" / "ca.pem").unlink(missing_ok=True)
