"""``verifix github ...``: helpers for running verifix from GitHub Actions."""

from __future__ import annotations

from typing import Annotated

import typer
from verifix.agent import github

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
