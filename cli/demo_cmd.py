"""``verifix demo``: the whole guess-and-check loop on a bundled repo with a real bug, with a
bundled scripted model, so it needs no API key and no setup."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from verifix.agent import issue as issues
from verifix.agent import runner
from verifix.agent.engine import Limits
from verifix.agent.model import Budget, Model, ModelConfig
from verifix.sandbox import git, images
from verifix.sandbox.engine import connect

from . import run_report
from .example import ISSUE, REPO_DIR
from .example.replies import REPLIES
from .output import ProgressLog, stderr


def _keep_record(path: Path) -> Path:
    """The demo's repo is a temporary folder; its run record is kept in the user's cache so
    that ``verifix show --prompts`` can show what the model read."""
    import platformdirs

    folder = platformdirs.user_cache_path("verifix") / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / "last-run.json"
    shutil.copyfile(path, kept)
    return kept


def demo(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> int:
    """Fix the bundled example's bug with a scripted model: two attempts, one verified."""
    from .example.scripted_model import ScriptedModel  # an HTTP server: only for the demo

    progress = ProgressLog(quiet)
    images.ensure_any_base(connect(), progress.steps("environment"))
    the_issue = issues.from_file(ISSUE)
    stderr.print(f"[bold]The issue[/bold]: {escape(the_issue.title)}")
    with tempfile.TemporaryDirectory(prefix="verifix-demo-") as tmp:
        repo = Path(tmp) / "shop"
        shutil.copytree(REPO_DIR, repo, ignore=shutil.ignore_patterns("__pycache__"))
        git.init_commit(repo, "shop with a discount bug")
        with ScriptedModel(list(REPLIES)) as server:
            config = ModelConfig(
                "openai/verifix-demo", api_base=server.url, price_in=0, price_out=0
            )
            llm = Model(config, Budget(max_cost=1.0))
            request = runner.Request(repo, the_issue, lambda: llm, Limits(3, 600))
            result = runner.run(request, progress.event)
        assert result.record is not None  # a run that asked a model always keeps one
        kept = _keep_record(result.record)
    code = run_report.headline(result, None)
    stderr.print(f"Every prompt the model read: verifix show --prompts {kept}", soft_wrap=True)
    stderr.print(
        "\nOn your own repo: [bold]verifix fix --issue-file ISSUE.md --model MODEL[/bold] "
        "(any litellm model; --api-base for a local server)"
    )
    return code
