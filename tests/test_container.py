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
