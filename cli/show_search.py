"""``verifix show`` for runs that searched: the candidates side by side, the tree of
attempts with their scores, and the vote, as whole lines (a log keeps them unbroken)."""

from __future__ import annotations

from typing import Any

from . import render


def _label(attempt: dict[str, Any]) -> str:
    verdict = attempt["verdict"]
    return render.status_label(verdict["status"]) if verdict else "UNUSABLE EDIT"


def candidates(attempts: list[dict[str, Any]]) -> list[str]:
    """One line per candidate: its attempts, how the last ended, what it spent."""
    numbers = sorted({a.get("candidate", 1) for a in attempts})
    if len(numbers) < 2:
        return []
    lines = []
    for number in numbers:
        mine = [a for a in attempts if a.get("candidate", 1) == number]
        spent = sum(a["cost"] for a in mine)
        ids = " ".join(a["id"] for a in mine)
        lines.append(f"candidate {number}: {ids} -> {_label(mine[-1])} (${spent:.4f})")
    return lines


def children(attempts: list[dict[str, Any]]) -> dict[str | None, list[dict[str, Any]]]:
    """Recorded attempts by the id of the attempt each continued (None: a root)."""
    kids: dict[str | None, list[dict[str, Any]]] = {}
    for attempt in attempts:
        kids.setdefault(attempt.get("parent"), []).append(attempt)
    return kids


def tree(attempts: list[dict[str, Any]], scores: dict[str, float]) -> list[str]:
    """The attempts as a tree under their parents, each with its score."""
    if not scores:
        return []
    kids = children(attempts)
    lines = ["search tree (score: share of target tests passing, less broken tests and errors):"]

    def draw(parent: str | None, depth: int) -> None:
        for attempt in kids.get(parent, []):
            score = scores.get(attempt["id"])
            shown = f"{score:+.2f}" if score is not None else "  -  "
            lines.append(
                f"{'   ' * depth}{'└─ ' if depth else ''}{attempt['id']}  {shown}  "
                f"{_label(attempt)}  ${attempt['cost']:.4f}"
            )
            draw(attempt["id"], depth + 1)

    draw(None, 0)
    return lines


def votes(selection: dict[str, Any] | None) -> list[str]:
    """The vote among accepted patches, the chosen one, and the judge's reason."""
    if not selection:
        return []
    lines = []
    for vote in selection["votes"]:
        chosen = " <- chosen" if selection.get("chosen") in vote["attempts"] else ""
        lines.append(f"vote {vote['count']}: {' '.join(vote['attempts'])}{chosen}")
    judge = selection.get("judge")
    if judge and judge.get("reason"):
        lines.append(f"the judge: {judge['reason']}")
    return lines
