"""Where a run comes from and where its patch goes: a GitHub issue in; the working tree, a
branch, a pull request or an issue comment out, each only when asked.

``runner.run`` does the work; this module is what ``fix`` does around it for a GitHub
issue (read it, check out its repository, keep a progress comment) and for delivery
(``--apply``, ``--commit``, ``--pr``, ``--comment``, the Action's step outputs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from verifix.sandbox import git

from . import deliver, github, record
from .events import Event, Events, Judged, ProposalRefused, Step
from .issue import Issue
from .runner import Run


@dataclass(frozen=True)
class Handover:
    """What to do with a verified patch (nothing, by default: it goes to stdout)."""

    apply: bool = False
    commit: bool = False
    pr: bool = False
    draft: bool = True
    #: When nothing is verified, say so on the issue.
    comment: bool = False


@dataclass
class Source:
    """A GitHub issue to fix, and how to read it."""

    hub: github.GitHub
    ref: github.IssueRef
    all_comments: bool = False
    branch: str | None = None

    def skip_reason(self) -> str | None:
        """Why not to work on an issue that is closed, locked, or already has a verifix PR."""
        state = self.hub.issue_state(self.ref)
        if state.get("state") == "closed":
            return f"{self.ref} is closed"
        if state.get("locked"):
            return f"{self.ref} is locked"
        existing = self.hub.open_verifix_pr(self.ref)
        return (
            f"{self.ref} already has an open verifix pull request: {existing}" if existing else None
        )

    def fetch(self, repo: Path, started: datetime, events: Events) -> tuple[Issue, Path]:
        """The issue (comments by trusted people, as of ``started``) and the repository to
        work in: ``repo`` when it is a checkout of the issue's repository, else a clone."""
        issue = self.hub.issue(self.ref, started=started, all_comments=self.all_comments)
        events(Step(f"issue {self.ref}: {issue.title} ({len(issue.comments)} comments read)"))
        if not github.origin_matches(repo, self.ref):
            repo = github.checkout(self.hub, self.ref, self.branch)
        return issue, repo


class ProgressComment:
    """One issue comment updated in place: started, then each judged fix attempt, then the
    result. It subscribes to the run's events."""

    def __init__(self, source: Source) -> None:
        self.hub, self.ref = source.hub, source.ref
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        run = os.environ.get("GITHUB_RUN_ID")
        repository = os.environ.get("GITHUB_REPOSITORY")
        self.link = f"{server}/{repository}/actions/runs/{run}" if run and repository else ""
        self.lines: list[str] = []
        self.id, _ = self.hub.comment_with_id(self.ref, self._body("started"))

    def _body(self, state: str) -> str:
        run = f" ([run]({self.link}))" if self.link else ""
        attempts = "\n".join(f"- {line}" for line in self.lines)
        return f"**verifix**: {state}{run}\n\n{attempts}".strip() + "\n"

    def __call__(self, event: Event) -> None:
        if isinstance(event, Judged) and event.task == "fix":
            self.lines.append(
                f"attempt {event.number}: {event.status}, {event.passing}/{event.targets} "
                f"targets pass, {event.broken} broke"
            )
        elif isinstance(event, ProposalRefused) and event.task == "fix":
            self.lines.append(f"attempt {event.number}: unusable edit")
        else:
            return
        self.hub.update_comment(self.ref, self.id, self._body("working"))

    def finish(self, result: str) -> None:
        self.hub.update_comment(self.ref, self.id, self._body(result))


def nothing_done() -> dict[str, Any]:
    """What ``hand_over`` reports when it did nothing."""
    return {"applied": False, "branch": None, "pull_request": None}


def hand_over(
    run: Run, handover: Handover, source: Source | None, events: Events
) -> dict[str, Any]:
    """Apply, commit, open the pull request, or comment on the issue, as asked; returns
    what was done (``applied``, ``branch``, ``pull_request``) for ``--json``."""
    done = nothing_done()
    patch, winner, issue = run.patch, run.winner, run.issue
    if patch and winner is not None and issue is not None:
        if handover.commit:
            done["branch"] = deliver.commit_to_branch(run.repo, patch, issue, winner.explanation())
            events(Step(f"committed on branch {done['branch']} (git switch {done['branch']})"))
        if handover.apply:
            deliver.apply_to_worktree(run.repo, patch)
            done["applied"] = True
            events(Step(f"applied to {run.repo}"))
        if handover.pr and source is not None:
            done["pull_request"] = _open_pr(run, source, handover.draft)
            events(Step(f"pull request: {done['pull_request']}"))
    elif handover.comment and source is not None:
        best = run.best()
        why = (best.error or (best.verdict.reason if best.verdict else "")) if best else "none"
        attempts = len(run.fix.attempts) if run.fix else 0
        body = github.failure_comment(run.stopped, attempts, why)
        events(Step(f"commented: {source.hub.comment(source.ref, body)}"))
    return done


def _open_pr(run: Run, source: Source, draft: bool) -> str:
    """Commit on a fresh verifix/issue-N branch, push it, open the pull request."""
    hub, ref, winner, issue, patch = source.hub, source.ref, run.winner, run.issue, run.patch
    assert winner is not None and winner.verdict is not None and issue and patch
    base = git.current_branch(run.repo)
    taken = github.remote_branches(run.repo, f"verifix/issue-{ref.number}", hub, ref)
    explanation = winner.explanation()
    branch = deliver.commit_to_branch(run.repo, patch, issue, explanation, taken)
    github.push(run.repo, branch, hub, ref)
    title = f"Fix #{ref.number}: {issue.title}"
    body = github.pr_body(issue, explanation, winner.verdict)
    return hub.open_pull_request(ref, branch, base or "main", title, body, draft)


def beside_the_work(run: Run, label: str) -> tuple[Path, str | None]:
    """The hook's hand-over: a verified fix for what was pushed (or staged) goes next to the
    user's work, never into it: a patch file under .verifix/ and, for a commit, a branch on
    top of it. Returns the patch file and the branch (None for staged changes)."""
    winner, issue, patch = run.winner, run.issue, run.patch
    assert winner is not None and patch and issue is not None
    staged = label == "staged changes"
    short = "staged" if staged else label[:8]
    record.exclude_verifix_dir(run.repo)
    patch_file = run.repo / ".verifix" / f"hook-{short}.patch"
    patch_file.parent.mkdir(parents=True, exist_ok=True)
    patch_file.write_text(patch)
    if staged:
        return patch_file, None
    branch = deliver.commit_to_branch(
        run.repo,
        patch,
        issue,
        winner.explanation(),
        parent=label,
        branch=f"verifix/hook-{short}",
    )
    return patch_file, branch


def write_outputs(path: Path | None, *, verdict: str, pr_url: str, cost: float) -> None:
    """GitHub Actions' step outputs: ``key=value`` lines appended to $GITHUB_OUTPUT."""
    if path is not None:
        with path.open("a") as out:
            out.write(f"verdict={verdict}\npr-url={pr_url}\ncost={cost:.4f}\n")
