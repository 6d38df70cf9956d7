"""The words for a run's events on a terminal or in a log: one line per event.

The engine publishes typed events (``agent.events``); this is where they become English.
The GitHub progress comment and the terminal subscribe to the same events and pick what
they show, so neither parses the other's text.
"""

from __future__ import annotations

from verifix.agent.events import (
    AttemptStarted,
    Checking,
    Event,
    Explored,
    Judged,
    ProposalRefused,
    Step,
    Stopped,
)

_LIMITS = ("cost limit",)


def line(event: Event) -> str | None:
    """The progress line for ``event``, or None for an event shown only as status (spend)."""
    fix = getattr(event, "task", "") == "fix"
    if isinstance(event, Step):
        return event.message
    if isinstance(event, AttemptStarted):
        if fix:
            who = f" (candidate {event.candidate})" if event.candidate > 1 else ""
            return (
                f"attempt {event.number} of {event.limit}{who}: asking the model "
                f"(${event.spent:.4f}, {event.tokens} tokens so far)"
            )
        return f"reproduction {event.number} of {event.limit}: asking the model for a test"
    if isinstance(event, Checking):
        if fix:
            return f"attempt {event.number}: checking the patch in the sandbox"
        return f"reproduction {event.number}: running the proposed test on the unpatched code"
    if isinstance(event, ProposalRefused):
        if fix:
            return f"attempt {event.number}: unusable edit ({event.reason})"
        first = event.reason.splitlines()[0] if event.reason else ""
        return f"reproduction {event.number}: refused ({first})"
    if isinstance(event, Judged):
        if fix:
            return (
                f"attempt {event.number}: {event.status}, {event.passing}/{event.targets} "
                f"targets pass, {event.broken} broke ({event.reason})"
            )
        if event.accepted:
            return f"reproduction {event.number}: kept; it fails as it should ({event.reason})"
        return f"reproduction {event.number}: refused ({event.reason})"
    if isinstance(event, Explored):
        lines = event.command.strip().splitlines() or [""]
        shown = lines[0] + (" ..." if len(lines) > 1 else "")
        how = (
            f"timed out after {event.seconds:.0f}s"
            if event.timed_out
            else f"exit {event.exit_code}"
        )
        return f"step {event.number}: $ {shown} ({how}, {event.seconds:.1f}s)"
    if isinstance(event, Stopped) and event.reason in _LIMITS and event.detail:
        return f"stopping: {event.detail}"
    return None


def phase(event: Event) -> str:
    """The phase the live status names while ``event`` is the latest ("" keeps the last)."""
    if isinstance(event, Step):
        return event.phase
    if isinstance(event, AttemptStarted):
        return "model"
    if isinstance(event, Checking):
        return "tests"
    if isinstance(event, Explored):
        return "model"  # the next thing is the model reading the output
    return ""
