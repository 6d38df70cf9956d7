"""The run record: everything a ``verifix fix`` run did, enough to audit it and to replay
it without a model.

Records live in the repo at ``.verifix/runs/<timestamp>.json``, kept out of git through
``.git/info/exclude`` (the user's own ``.gitignore`` is never touched).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verifix.sandbox import git
from verifix.sandbox.errors import UsageError

from .engine import Attempt, Outcome
from .redact import redact_data

if TYPE_CHECKING:
    from .runner import Run

SCHEMA = "verifix.run/1"
RUNS_DIR = Path(".verifix") / "runs"


def build(run: Run) -> dict[str, Any]:
    """The record of ``run``: the issue, the model, the environment, every attempt of both
    tasks with its verdict and cost, every message, and the patch ``fix`` handed over."""
    model = run.model
    winner = run.winner
    fix = run.fix or Outcome()
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "started": run.started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "issue": asdict(run.issue) if run.issue else None,
        "model": {
            "name": getattr(getattr(model, "config", None), "model", None),
            "api_base": getattr(getattr(model, "config", None), "api_base", None),
        },
        "limits": {"max_cost": model.budget.max_cost if model else None},
        "environment": run.environment,
        "baseline": run.baseline,
        "phases": run.phases,
        "outcome": {
            "stopped": run.stopped,
            "verified_attempt": winner.number if winner else None,
            "patch": run.patch,
            **run.spend(),
        },
        "attempts": [_attempt(a) for a in fix.attempts],
        "steps": [asdict(step) for step in fix.steps],
        "messages": fix.messages,
    }
    if fix.conversations:
        record["conversations"] = fix.conversations
    if fix.votes:
        record["selection"] = {
            "votes": fix.votes,
            "chosen": fix.chosen.id if fix.chosen else None,
            "judge": {"reason": fix.judged, "messages": run.judging} if run.judging else None,
        }
    if fix.scores:
        record["tree"] = {"scores": fix.scores}
        if run.judging and not fix.votes:  # the judge estimated nodes; no vote followed
            record["tree"]["judge"] = {"messages": run.judging}
    if run.localization:
        record["localization"] = {"messages": run.localization}
    repro = run.reproduction
    if repro is not None:
        kept = repro.accepted
        record["reproduction"] = {
            "stopped": repro.stopped,
            "patch": kept.patch if kept else None,
            "test_ids": kept.tests if kept else [],
            "attempts": [_attempt(a) for a in repro.attempts],
            "steps": [asdict(step) for step in repro.steps],
            "messages": repro.messages,
        }
    return record


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "id": attempt.id,
        "parent": attempt.parent,
        "candidate": attempt.candidate,
        "reply": attempt.reply,
        "patch": attempt.patch,
        "error": attempt.error,
        "verdict": attempt.verdict.to_json() if attempt.verdict else None,
        "accepted": attempt.accepted,
        "cost": attempt.cost,
        "prompt_tokens": attempt.prompt_tokens,
        "completion_tokens": attempt.completion_tokens,
        "seconds": round(attempt.seconds, 2),
    }


def exclude_verifix_dir(repo: Path) -> None:
    """Keep .verifix/ out of git through .git/info/exclude, once."""
    git.add_exclude(repo, "/.verifix/")


def write(repo: Path, record: dict[str, Any]) -> Path:
    """The record as JSON under .verifix/runs, with every secret it may hold redacted (a
    test log or a model reply can carry one)."""
    exclude_verifix_dir(repo)
    stamp = record["started"].replace(":", "").replace("-", "").split("+")[0]
    return write_to(repo / RUNS_DIR / f"{stamp}.json", record)


def write_to(path: Path, record: dict[str, Any]) -> Path:
    """The record as JSON at ``path`` (a batch keeps one per instance), redacted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(redact_data(record), indent=1))
    return path


def find(repo: Path, run: str | None) -> Path:
    """A run by path, by (a prefix of) its timestamp, or the latest."""
    if run and Path(run).is_file():
        return Path(run)
    folder = repo / RUNS_DIR
    runs = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if run:
        runs = [p for p in runs if p.stem.startswith(run)]
    if not runs:
        raise UsageError(f"no verifix run {run or ''} recorded in {folder}".replace("  ", " "))
    return runs[-1]
