"""Where the Docker engine runs: on this machine, or on another one.

What a setup container can reach depends on it. An engine on this machine puts setup
containers on an internal network whose only way out is the setup gateway, a proxy in the
verifix process listening on the engine's bridge address (gateway.py). An engine on another
machine (``DOCKER_HOST=ssh://...`` or ``tcp://...``) runs its containers on that machine's
networks, where no address reaches this process: setup there goes out through the engine
machine's own network and proxy, and this machine's proxy, index and CA settings, which
describe this machine's network, are not used (network.on_engine).

The address alone decides (no name is resolved, so the answer never depends on DNS):
a unix socket or a loopback host is this machine, any other host is another machine.
``VERIFIX_ENGINE=local|remote`` overrides it, for an address that says otherwise than
the truth (an ssh tunnel's ``tcp://127.0.0.1:2375`` to a remote engine, say).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .errors import UsageError

if TYPE_CHECKING:
    import docker

ENGINE_VAR = "VERIFIX_ENGINE"
DEFAULT_HOST = "unix:///var/run/docker.sock"
#: Schemes whose engine is reached over the network (docker-py's ``tcp`` becomes
#: ``http``/``https``); ``unix`` and ``npipe`` are always this machine.
_NETWORK_SCHEMES = ("tcp", "http", "https", "ssh")


@dataclass(frozen=True)
class EngineHost:
    """The engine's address, whether it is on another machine, and why verifix thinks so."""

    url: str
    remote: bool
    why: str


def locate(environ: Mapping[str, str] = os.environ) -> EngineHost:
    """Where the engine named by ``DOCKER_HOST`` runs, or as ``VERIFIX_ENGINE`` says."""
    url = environ.get("DOCKER_HOST") or DEFAULT_HOST
    forced = environ.get(ENGINE_VAR, "").strip().lower()
    if forced in ("local", "remote"):
        return EngineHost(url, forced == "remote", f"{ENGINE_VAR}={forced}")
    if forced not in ("", "auto"):
        raise UsageError(f"{ENGINE_VAR} is {forced!r}: set it to local, remote or auto")
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if parts.scheme not in _NETWORK_SCHEMES:
        return EngineHost(url, False, f"DOCKER_HOST is a {parts.scheme} socket")
    host = parts.hostname or ""
    if is_loopback(host):
        return EngineHost(url, False, f"DOCKER_HOST names this machine ({host or 'no host'})")
    return EngineHost(url, True, f"DOCKER_HOST names {host}")


def is_loopback(host: str) -> bool:
    """Whether ``host``, as written, is this machine: empty (docker's default), ``localhost``
    or a loopback address."""
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def client_name() -> str:
    """This machine's name, told apart from other clients of a shared engine: process ids
    and repository paths repeat across machines."""
    return socket.gethostname()


def engine_proxy(client: docker.DockerClient) -> dict[str, str]:
    """The proxy the engine's machine uses (the daemon's own ``HTTP(S)_PROXY``/``NO_PROXY``,
    as ``docker info`` reports them), in the keys of ``[sandbox] proxy``; empty ones left out."""
    info = client.info()
    named = {"http_proxy": "HttpProxy", "https_proxy": "HttpsProxy", "no_proxy": "NoProxy"}
    return {key: str(info[field]) for key, field in named.items() if info.get(field)}
