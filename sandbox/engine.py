"""The connection to the Docker engine and the labels that mark what verifix owns.

docker-py is imported here, lazily, so that commands which never touch Docker stay fast.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .enginehost import DEFAULT_HOST, client_name, locate
from .errors import EngineLost, EngineUnavailable

if TYPE_CHECKING:
    import docker

#: Every container, image and network verifix creates carries this label, so that
#: ``verifix env prune`` can find leftovers and nothing else is ever touched.
LABEL = "verifix"
LABEL_KIND = "verifix.kind"
LABEL_PYTHON = "verifix.python"
LABEL_KEY = "verifix.key"
LABEL_OWNER_PID = "verifix.pid"
#: The machine that process runs on: an engine on another machine may serve several.
LABEL_OWNER_HOST = "verifix.host"
#: Set from VERIFIX_SESSION, so a CI job (or a test session) can find exactly its own.
LABEL_SESSION = "verifix.session"
#: This process, unguessably: a pid alone repeats across machines and containers sharing
#: one engine, and the exit backstop below must never remove another run's container.
LABEL_PROCESS = "verifix.process"
PROCESS_ID = uuid.uuid4().hex

#: An ordinary engine call (create, start, inspect, upload, exec set-up) answers in seconds;
#: one that says nothing for this long is an engine that hung, and is reported as lost.
#: Test runs stream their output and are bounded by their own timeout (container.py).
CALL_TIMEOUT_S = 120
#: Calls that legitimately work for minutes before answering: committing an environment
#: image, importing a bootstrapped root filesystem, pulling a base image.
LONG_CALL_TIMEOUT_S = 1800
#: Removing a container at exit: short, because a Ctrl-C is waiting on it.
CLEANUP_TIMEOUT_S = 15


_CONNECT_TRIES = 3


def where() -> str:
    return os.environ.get("DOCKER_HOST", DEFAULT_HOST)


def connect() -> docker.DockerClient:
    """Return a client for the engine named by DOCKER_HOST (or the default socket).

    Every request it makes is bounded by ``CALL_TIMEOUT_S`` and a connection that breaks or
    goes silent becomes ``EngineLost``, so a lost engine is one line and exit 3 wherever the
    call was made, not a requests traceback.
    """
    import docker
    import requests
    from docker.errors import DockerException

    _check_settings()
    locate()  # a VERIFIX_ENGINE that means nothing is one line now, not mid-build
    for attempt in range(_CONNECT_TRIES):
        try:
            client = docker.from_env(timeout=CALL_TIMEOUT_S)
            client.ping()
            break
        except (DockerException, requests.ConnectionError) as exc:
            # A busy engine may drop a connection as it comes in: ask again, briefly.
            if attempt + 1 == _CONNECT_TRIES:
                raise EngineUnavailable(
                    f"no Docker engine answers at {where()}: {_advice()}"
                ) from exc
            time.sleep(0.5 * (attempt + 1))
    client.api.request = _losing_engine_raises(client.api.request)
    return client


def _check_settings() -> None:
    """Settings that cannot work (a malformed DOCKER_HOST, TLS files that are not there, ssh
    without its library) are one line naming them: retrying would not help, and "no engine
    answers" would send the user looking in the wrong place."""
    import docker
    from docker.errors import DockerException

    try:
        settings = docker.utils.kwargs_from_env()
        docker.utils.parse_host(where(), tls=bool(settings.get("tls")))
    except DockerException as exc:
        raise EngineUnavailable(
            f"the Docker settings cannot be used ({exc}): fix DOCKER_HOST, DOCKER_TLS_VERIFY "
            "or DOCKER_CERT_PATH"
        ) from exc
    if where().startswith("ssh://") and importlib.util.find_spec("paramiko") is None:
        raise EngineUnavailable(
            f"DOCKER_HOST is {where()}: docker-py reaches an engine over ssh with the paramiko "
            "package, which is not installed: pip install paramiko"
        )


def _advice() -> str:
    """What to do about an engine that does not answer: start it here, or reach it there."""
    if not locate().remote:
        return (
            "start one (Debian/Ubuntu: 'apt-get install docker.io && dockerd &') or set DOCKER_HOST"
        )
    if where().startswith("ssh://"):
        return "check that 'ssh HOST docker version' works from this machine"
    return (
        "check that it runs there and listens on that port, and that DOCKER_TLS_VERIFY and "
        "DOCKER_CERT_PATH match its TLS settings"
    )


def _losing_engine_raises(request: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the API client's one door to the engine so transport failures say what happened."""
    import requests

    transport = (requests.ConnectionError, requests.Timeout, *_ssh_errors())

    @functools.wraps(request)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return request(*args, **kwargs)
        except transport as exc:
            raise lost(exc) from exc

    return guarded


def _ssh_errors() -> tuple[type[BaseException], ...]:
    """What an ``ssh://`` engine's transport (paramiko) raises when the session is gone:
    its own exceptions, which requests does not translate."""
    if "paramiko" not in sys.modules:
        return ()
    return (sys.modules["paramiko"].SSHException, EOFError)


def lost(exc: BaseException) -> EngineLost:
    """The one-line error for an engine that stopped answering or went away mid-run."""
    from requests import Timeout

    global _engine_gone
    _engine_gone = True
    why = "stopped answering" if isinstance(exc, (Timeout, TimeoutError)) else "went away"
    check = "running and reachable from here" if locate().remote else "running"
    return EngineLost(
        f"the Docker engine at {where()} {why} mid-run: check that it is {check}, then run "
        "'verifix env prune' to remove what this run left"
    )


def loss_behind(exc: BaseException) -> EngineLost | None:
    """``EngineLost`` for a transport error that escaped the guard from inside docker-py (a
    stream's body read after the request returned), None for anything else: a broken
    connection elsewhere (GitHub, the model) is not the engine's."""
    transport = (ConnectionError, TimeoutError)
    if "requests" in sys.modules:
        transport += (sys.modules["requests"].RequestException,)
    if "urllib3" in sys.modules:
        transport += (sys.modules["urllib3"].exceptions.HTTPError,)
    if not isinstance(exc, transport + _ssh_errors()):
        return None
    frames = traceback.walk_tb(exc.__traceback__)
    if any(f.f_globals.get("__name__", "").startswith("docker.") for f, _ in frames):
        return lost(exc)
    return None


@contextlib.contextmanager
def call_timeout(client: docker.DockerClient, seconds: float) -> Iterator[None]:
    """Give the calls made inside a bound of their own (docker-py takes none per call)."""
    before = client.api.timeout
    client.api.timeout = seconds
    try:
        yield
    finally:
        client.api.timeout = before


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then raise KeyboardInterrupt.

    For engine calls whose result must be bound before an interrupt may land: a container
    the engine created while the reply was still on its way has no name in Python to be
    removed by. The block must be short and bounded (a timed engine call): a handler that
    does not raise lets the interrupted system call resume (PEP 475), so nothing is lost.
    Only the main thread can change handlers; elsewhere no signal arrives anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    if caught:
        raise KeyboardInterrupt


_made_containers = False
#: Set once the engine was lost: the exit backstop then asks it nothing, which would only
#: wait out another timeout on an engine that hung.
_engine_gone = False
_closing = False


def _remove_own_containers(client: docker.DockerClient) -> None:
    """The backstop at exit: remove any container this process made that is still there.

    Every container is removed where it was made; this catches one an interrupt hit in
    the instant between the engine answering and the code that would remove it.
    """
    from docker.errors import DockerException

    global _closing
    _closing = True  # from now on no thread of this process starts a container
    if _engine_gone:
        return
    with contextlib.suppress(DockerException, EngineLost), call_timeout(client, CLEANUP_TIMEOUT_S):
        for leftover in client.containers.list(
            all=True, filters={"label": f"{LABEL_PROCESS}={PROCESS_ID}"}
        ):
            with contextlib.suppress(DockerException):
                leftover.remove(force=True, v=True)


def closing() -> bool:
    """Whether the process is ending (the exit backstop has begun): a thread still working
    (a batch's worker, a candidate) must start no container the backstop would miss."""
    return _closing


def remove_at_exit(client: docker.DockerClient) -> None:
    """Arm the exit backstop once, when this process first makes a container."""
    global _made_containers
    if not _made_containers:
        _made_containers = True
        atexit.register(_remove_own_containers, client)


def owner_labels(kind: str, **extra: str) -> dict[str, str]:
    """Labels for a new container or image: ours, what it is, and (for containers) which
    process made it, so a leftover can be traced to the run that leaked it."""
    labels = {LABEL: "1", LABEL_KIND: kind}
    if kind in ("run", "build"):
        labels[LABEL_OWNER_PID] = str(os.getpid())
        labels[LABEL_OWNER_HOST] = client_name()
        labels[LABEL_PROCESS] = PROCESS_ID
    if os.environ.get("VERIFIX_SESSION"):
        labels[LABEL_SESSION] = os.environ["VERIFIX_SESSION"]
    labels.update({f"verifix.{k}": v for k, v in extra.items()})
    return labels
