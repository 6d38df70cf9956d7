"""What a run reports as it goes: typed events, not progress strings.

The engine and the use case publish these; a subscriber is any callable taking one event.
The terminal's progress lines, the GitHub progress comment and (later) a batch table each
subscribe and choose their own words, so nothing downstream parses text to learn what
happened. ``Step`` carries the sandbox's own progress messages (environment builds, test
runs) with the phase they belong to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: The phases a live status names: where the time of a step goes.
PHASES = ("environment", "model", "tests")


@dataclass(frozen=True)
class Step:
    """A step of the run in words: a sandbox message, a note, a decision."""

    message: str
    phase: str = ""  # one of PHASES, or "" for "the phase before it"


@dataclass(frozen=True)
class AttemptStarted:
    """An attempt asks the model for a proposal."""

    task: str  # "fix" or "reproduction"
    attempt: str  # its id, unique in the run
    parent: str | None
    number: int
    limit: int
    spent: float
    tokens: int
    candidate: int = 1


@dataclass(frozen=True)
class Checking:
    """A usable proposal goes to the sandbox."""

    task: str
    attempt: str
    number: int


@dataclass(frozen=True)
class ProposalRefused:
    """A reply that could not become a usable proposal, or a test the task refused."""

    task: str
    attempt: str
    number: int
    reason: str


@dataclass(frozen=True)
class Judged:
    """The sandbox's verdict on a proposal."""

    task: str
    attempt: str
    number: int
    accepted: bool
    status: str  # a verdict status label (VERIFIED, NOT_VERIFIED, ...) or REPRODUCED
    passing: int  # target tests passing with the proposal
    targets: int
    broken: int
    reason: str


@dataclass(frozen=True)
class Explored:
    """The model ran one exploration command in the scratch container."""

    task: str
    step: str  # its id, unique in the run
    number: int
    command: str
    exit_code: int
    timed_out: bool
    seconds: float


@dataclass(frozen=True)
class Spend:
    """Money and tokens after a model call: the running totals of the whole run."""

    spent: float
    tokens: int
    calls: int


@dataclass(frozen=True)
class Stopped:
    """A task's attempts ended: solved, or a limit."""

    task: str
    reason: str  # verified, reproduced, max attempts, cost limit, timeout
    detail: str = ""


Event = Step | AttemptStarted | Checking | ProposalRefused | Judged | Explored | Spend | Stopped
Events = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """A subscriber that wants nothing (tests, library callers)."""


def fan_out(*subscribers: Events) -> Events:
    """One subscriber that hands each event to all of ``subscribers`` in order."""

    def publish(event: Event) -> None:
        for subscriber in subscribers:
            subscriber(event)

    return publish


def steps(events: Events, phase: str = "") -> Callable[[str], None]:
    """The sandbox's ``progress(message)`` callback, as ``Step`` events of ``phase``."""
    return lambda message: events(Step(message, phase))
