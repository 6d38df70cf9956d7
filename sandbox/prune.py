"""What ``verifix env prune`` removes: leftover containers of verifix runs and verifix's
images, found by label.

A container whose owner process (``verifix.pid``) is still alive on this machine belongs
to a run still going and is kept unless ``force``; so is one made from another machine
(``verifix.host``) sharing the engine, whose processes this machine cannot see. An image a
container still uses is kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .engine import LABEL, LABEL_KIND, LABEL_OWNER_HOST, LABEL_OWNER_PID, LABEL_SESSION
from .enginehost import client_name

if TYPE_CHECKING:
    import docker


@dataclass(frozen=True)
class PruneResult:
    removed_containers: int = 0
    #: Containers of verifix processes still running, left alone (no ``force``).
    kept_containers: int = 0
    removed_images: int = 0
    #: Images the engine refused to remove: a container still uses them.
    images_in_use: int = 0


def alive(pid: str | None) -> bool:
    """Whether process ``pid`` (a label's value) runs on this machine."""
    try:
        os.kill(int(pid or ""), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def owner_running(labels: dict[str, str]) -> bool:
    """Whether a container's owner may still be running: alive here, or on another machine
    (a label of before ``verifix.host`` is this machine's)."""
    if labels.get(LABEL_OWNER_HOST, client_name()) != client_name():
        return True
    return alive(labels.get(LABEL_OWNER_PID))


def prune(
    client: docker.DockerClient,
    *,
    all_images: bool = False,
    force: bool = False,
    session: str | None = None,
) -> PruneResult:
    """Remove verifix's containers (those of live owners only with ``force``) and its
    environment images (base images too with ``all_images``); with ``session``, only what
    was made under that ``VERIFIX_SESSION``."""
    from docker.errors import APIError

    scope = [LABEL]
    if session:
        scope.append(f"{LABEL_SESSION}={session}")
    removed_containers = kept = 0
    for container in client.containers.list(all=True, filters={"label": scope}):
        if not force and owner_running(container.labels):
            kept += 1
            continue
        container.remove(force=True, v=True)
        removed_containers += 1
    removed_images = in_use = 0
    for kind in ("env", "base") if all_images else ("env",):
        for image in client.images.list(filters={"label": [*scope, f"{LABEL_KIND}={kind}"]}):
            try:
                client.images.remove(image.id, force=False)
                removed_images += 1
            except APIError:
                in_use += 1
    return PruneResult(removed_containers, kept, removed_images, in_use)
