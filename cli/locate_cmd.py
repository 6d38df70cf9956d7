"""``verifix locate``: the files, and the functions and classes in them, an issue is about.
No model and no container: the work is ``agent.locate``; this parses and prints."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer
from verifix.agent import github, locate
from verifix.agent.sources import source_files
from verifix.sandbox.errors import UsageError

from . import exit_codes
from . import fix_options as o
from .common import local_issue
from .output import plain, stdout

Top = Annotated[int, typer.Option("--top", help="How many files to show.")]
LocateJson = Annotated[
    bool, typer.Option("--json", help=f"Print the ranking as JSON (schema {locate.SCHEMA}).")
]


def locate_cmd(
    target: o.Target = ".",
    issue_file: o.IssueFile = None,
    issue_text: o.IssueText = None,
    top: Top = 10,
    as_json: LocateJson = False,
    github_api_url: o.GitHubApiUrl = None,
) -> int:
    """Rank the files, and the functions and classes in them, that an issue is about.

    No model: BM25 over identifier-aware tokens, definitions the issue names (tree-sitter),
    paths and modules it mentions, traceback frames, and the import graph around those.
    Each file comes with the reasons it is there. The index is cached per file content in
    the user's cache folder (VERIFIX_CACHE_DIR moves it), so a second query is fast.
    """
    the_issue = local_issue(target, issue_file, issue_text)
    if top < 1:
        raise UsageError(f"--top must be at least 1, not {top}")
    repo = Path("." if the_issue is None else target)
    if the_issue is None:
        ref = github.parse_reference(target, repo)
        hub = github.GitHub(github_api_url)
        the_issue = hub.issue(ref, started=datetime.now(timezone.utc))
        if not github.origin_matches(repo, ref):
            repo = github.checkout(hub, ref, None)
    if not repo.is_dir():
        raise UsageError(f"{repo} is not a directory")
    files = source_files(repo)
    if not files:
        raise UsageError(f"{repo} has no Python files to rank")
    ranking = locate.Locator().locate(repo, the_issue.as_text(), files=files, top=top)
    if as_json:
        print(json.dumps(ranking.to_json(), indent=2))
    elif not ranking.files:
        stdout.print("no file matches the issue")
    elif plain():
        _print_plain(ranking)
    else:
        _print_table(ranking)
    return exit_codes.VERIFIED


def _print_plain(ranking: locate.Ranking) -> None:
    """One line per file (rank, score, path, reasons), one indented line per symbol."""
    for n, ranked in enumerate(ranking.files, 1):
        print(f"{n}. {ranked.path}  {ranked.score:.2f}  {'; '.join(ranked.reasons)}")
        for s in ranked.symbols:
            print(f"     {s.name} ({s.kind}, lines {s.line}-{s.end})  {'; '.join(s.reasons)}")


def _print_table(ranking: locate.Ranking) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("file / symbol")
    table.add_column("why")
    for n, ranked in enumerate(ranking.files, 1):
        table.add_row(
            str(n),
            f"{ranked.score:.2f}",
            f"[bold]{escape(ranked.path)}[/bold]",
            escape("; ".join(ranked.reasons)),
        )
        for s in ranked.symbols:
            where = f"  {s.name} [dim]({s.kind}, {s.line}-{s.end})[/dim]"
            table.add_row(
                "", "", where.replace(s.name, escape(s.name), 1), escape("; ".join(s.reasons))
            )
    stdout.print(table)
    stats = ranking.stats
    stdout.print(
        f"[dim]{stats.files} files indexed ({stats.parsed} parsed, {stats.cached} from the "
        f"cache) in {stats.seconds:.2f}s[/dim]"
    )
