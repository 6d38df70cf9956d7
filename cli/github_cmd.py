"""``verifix github ...``: helpers for running verifix from GitHub Actions."""

from __future__ import annotations

import os
import re
from typing import Annotated

import typer
from verifix.agent import github
from verifix.sandbox.verdict import Status

from . import exit_codes
from .output import stderr, stdout

github_app = typer.Typer(help="Helpers for GitHub Actions.")


@github_app.command("can-trigger")
def can_trigger(
    repo: Annotated[str, typer.Option("--repo", help="OWNER/REPO.")],
    user: Annotated[str, typer.Option("--user", help="The GitHub login that asked.")],
    github_api_url: Annotated[
        str | None, typer.Option("--github-api-url", help="GitHub Enterprise API URL.")
    ] = None,
) -> int:
    """Exit 0 when USER has write access to REPO (the collaborator-permission API), else 1.

    author_association says how someone relates to a repo, not what they may do there; the
    permission API answers the question that matters before spending money on a run (and
    decides whose comments a run reads).
    """
    role = github.GitHub(github_api_url).permission(repo, user)
    if role in github.WRITERS:
        stdout.print(f"{user} has {role} access to {repo}")
        return exit_codes.VERIFIED
    stderr.print(
        f"{user} has {role} access to {repo}: verifix runs only for people with write access"
    )
    return exit_codes.NOT_VERIFIED


class ProgressComment:
    """One issue comment updated in place: started -> each attempt -> result."""

    _ATTEMPT = re.compile(r"^attempt \d+: (" + "|".join(s.label for s in Status) + "|unusable)")

    def __init__(self, hub: github.GitHub, ref: github.IssueRef, inner) -> None:
        self.hub, self.ref, self.inner = hub, ref, inner
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        run = os.environ.get("GITHUB_RUN_ID")
        repository = os.environ.get("GITHUB_REPOSITORY")
        self.link = f"{server}/{repository}/actions/runs/{run}" if run and repository else ""
        self.lines: list[str] = []
        self.id, _ = hub.comment_with_id(ref, self._body("started"))

    def _body(self, state: str) -> str:
        run = f" ([run]({self.link}))" if self.link else ""
        attempts = "\n".join(f"- {line}" for line in self.lines)
        return f"**verifix**: {state}{run}\n\n{attempts}".strip() + "\n"

    def __call__(self, message: str) -> None:
        self.inner(message)
        if self._ATTEMPT.match(message):
            self.lines.append(message)
            self.hub.update_comment(self.ref, self.id, self._body("working"))

    def finish(self, result: str) -> None:
        self.hub.update_comment(self.ref, self.id, self._body(result))
