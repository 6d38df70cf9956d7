"""A container outlives a command that runs out of time: the sweep that kills what the
command left must not kill the container's main process, or every later step of the run
(a build's next probe, a session's next check) finds the container gone."""

from __future__ import annotations

import pytest
from verifix.sandbox.container import Container, Limits

LIMITS = Limits(memory="512m", cpus=1.0, pids=256)


@pytest.mark.parametrize("user", ["", "65534:65534"], ids=["root", "unprivileged"])
def test_a_command_that_times_out_leaves_the_container_usable(docker_client, base_image, user):
    with Container.start(
        docker_client, base_image, network="none", limits=LIMITS, kind="test"
    ) as box:
        # The command leaves a process of its own outside its group: the sweep's to kill.
        hung = box.run("setsid sleep 300 & sleep 300", 2, workdir="/", user=user)
        after = box.run("echo alive; cat /proc/[0-9]*/cmdline | tr '\\0' ' '", 10, workdir="/")

    assert hung.timed_out
    assert after.ok and after.output.startswith("alive")
    assert "sleep 300" not in after.output  # what the command left is gone


def test_a_removal_already_under_way_elsewhere_is_not_an_error():
    """Ctrl-C during a batch: the exit backstop and a worker's own cleanup remove the same
    container at once; the engine answers the second with 409 "already in progress", which
    was a traceback in the worker's thread. A real engine's answer, replayed."""
    import requests
    from docker.errors import APIError

    class Engine:
        """Answers removals as an engine busy removing the container does."""

        def __init__(self, answers):
            self.answers = list(answers)
            self.timeout = 60

        def remove_container(self, name, force, v):
            answer = self.answers.pop(0)
            if answer is not None:
                raise answer

    def conflict(message):
        response = requests.Response()
        response.status_code = 409
        return APIError("409 Client Error: Conflict", response=response, explanation=message)

    busy = conflict("removal of container verifix-run-1 is already in progress")
    other = conflict("you cannot remove a running container: stop it first")

    class Client:
        def __init__(self, answers):
            self.api = Engine(answers)

    Container(Client([busy]), "verifix-run-1").remove()
    Container(Client([other, busy]), "verifix-run-1").remove()  # the retry sees it going
    with pytest.raises(APIError):
        Container(Client([other, other]), "verifix-run-1").remove()
