"""The connection to the Docker engine and the labels that mark what verifix owns.

docker-py is imported here, lazily, so that commands which never touch Docker stay fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .errors import EngineUnavailable

if TYPE_CHECKING:
    import docker

#: Every container, image and network verifix creates carries this label, so that
#: ``verifix env prune`` can find leftovers and nothing else is ever touched.
LABEL = "verifix"
LABEL_KIND = "verifix.kind"
LABEL_PYTHON = "verifix.python"
LABEL_KEY = "verifix.key"
LABEL_OWNER_PID = "verifix.pid"
#: Set from VERIFIX_SESSION, so a CI job (or a test session) can find exactly its own.
LABEL_SESSION = "verifix.session"

#: Commands are bounded by ``timeout`` inside the container, so the client must never give up
#: first: a silent test suite is not a dead engine.
_CLIENT_TIMEOUT_S = 24 * 3600


def connect() -> docker.DockerClient:
    """Return a client for the engine named by DOCKER_HOST (or the default socket)."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=_CLIENT_TIMEOUT_S)
        client.ping()
    except DockerException as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise EngineUnavailable(
            f"no Docker engine answers at {where}: start one (Debian/Ubuntu: "
            "'apt-get install docker.io && dockerd &') or set DOCKER_HOST"
        ) from exc
    return client


def owner_labels(kind: str, **extra: str) -> dict[str, str]:
    """Labels for a new container or image: ours, what it is, and (for containers) which
    process made it, so a leftover can be traced to the run that leaked it."""
    labels = {LABEL: "1", LABEL_KIND: kind}
    if kind in ("run", "build"):
        labels[LABEL_OWNER_PID] = str(os.getpid())
    if os.environ.get("VERIFIX_SESSION"):
        labels[LABEL_SESSION] = os.environ["VERIFIX_SESSION"]
    labels.update({f"verifix.{k}": v for k, v in extra.items()})
    return labels
