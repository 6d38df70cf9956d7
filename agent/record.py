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
from typing import Any

from verifix.sandbox import git
from verifix.sandbox.errors import UsageError

from .issue import Issue
from .loop import Attempt, Outcome
from .model import Model
from .redact import redact_data
from .repro import Reproduction

SCHEMA = "verifix.run/1"
RUNS_DIR = Path(".verifix") / "runs"


def build(
    issue: Issue,
    outcome: Outcome,
    model: Model,
    *,
    started: datetime,
    environment: dict[str, Any],
    baseline_counts: dict[str, int],
    reproduction: Reproduction | None = None,
) -> dict[str, Any]:
    attempts = [_attempt(a) for a in outcome.attempts]
    winner = outcome.verified
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "issue": asdict(issue),
        "model": {"name": model.config.model, "api_base": model.config.api_base},
        "limits": {"max_cost": model.budget.max_cost},
        "environment": environment,
        "baseline": baseline_counts,
        "outcome": {
            "stopped": outcome.stopped,
            "verified_attempt": winner.number if winner else None,
            "patch": winner.patch if winner else None,
            "cost": model.budget.spent,
            "calls": model.budget.calls,
            "prompt_tokens": model.budget.prompt_tokens,
            "completion_tokens": model.budget.completion_tokens,
            "usage_clamped": model.budget.clamped,
        },
        "attempts": attempts,
        "messages": outcome.messages,
    }
    if reproduction is not None:
        record["reproduction"] = {
            "stopped": reproduction.stopped,
            "patch": reproduction.patch,
            "test_ids": reproduction.test_ids,
            "attempts": [_attempt(a) for a in reproduction.attempts],
            "messages": reproduction.messages,
        }
    return record


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
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
    folder = repo / RUNS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stamp = record["started"].replace(":", "").replace("-", "").split("+")[0]
    path = folder / f"{stamp}.json"
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
