"""The options of ``verifix fix`` that no other command takes: the issue, the model, the
limits, delivery and GitHub. Defined here once, as typer ``Annotated`` aliases, so the
command's signature reads as a list of names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

MODEL_PANEL = "Model"
LIMITS_PANEL = "Limits"
GITHUB_PANEL = "GitHub"

Target = Annotated[
    str,
    typer.Argument(help="The repo (default: .), or a GitHub issue: URL, OWNER/REPO#N or '#N'."),
]
IssueFile = Annotated[
    Path | None, typer.Option("--issue-file", help="The issue as a markdown or text file.")
]
IssueText = Annotated[str | None, typer.Option("--issue-text", help="The issue as text.")]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON instead of the patch.")
]
ModelName = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="litellm model string (or VERIFIX_MODEL).",
        rich_help_panel=MODEL_PANEL,
    ),
]
ApiBase = Annotated[
    str | None,
    typer.Option(
        "--api-base",
        help="OpenAI-compatible endpoint (Ollama, vLLM, ...).",
        rich_help_panel=MODEL_PANEL,
    ),
]
PriceIn = Annotated[
    float | None,
    typer.Option(
        "--price-in",
        help="USD per million prompt tokens, if litellm lacks it.",
        rich_help_panel=MODEL_PANEL,
    ),
]
PriceOut = Annotated[
    float | None,
    typer.Option("--price-out", help="USD per million reply tokens.", rich_help_panel=MODEL_PANEL),
]
AcceptUnknownCost = Annotated[
    bool,
    typer.Option(
        "--accept-unknown-cost",
        help="Run a model with no known price.",
        rich_help_panel=MODEL_PANEL,
    ),
]
LocateWithModel = Annotated[
    bool,
    typer.Option(
        "--locate-with-model",
        help="Let the model choose the files and functions among the locator's top 10 "
        "(two calls, on the budget).",
        rich_help_panel=MODEL_PANEL,
    ),
]
MaxCost = Annotated[
    float | None,
    typer.Option(
        "--max-cost", help="Hard limit in USD [default: 1.00].", rich_help_panel=LIMITS_PANEL
    ),
]
MaxAttempts = Annotated[
    int | None,
    typer.Option(
        "--max-attempts", help="Patches to try [default: 5].", rich_help_panel=LIMITS_PANEL
    ),
]
Timeout = Annotated[
    int, typer.Option("--timeout", help="Wall-clock seconds.", rich_help_panel=LIMITS_PANEL)
]
Explore = Annotated[
    bool | None,
    typer.Option(
        "--explore/--no-explore",
        help="Let the model run shell commands (grep, sed -n, one test) in a scratch sandbox "
        "before it edits [default: on for models with 32k+ tokens of context].",
        rich_help_panel=LIMITS_PANEL,
        show_default=False,
    ),
]
MaxSteps = Annotated[
    int,
    typer.Option("--max-steps", help="Exploration commands in all.", rich_help_panel=LIMITS_PANEL),
]
StepTimeout = Annotated[
    int,
    typer.Option(
        "--step-timeout",
        help="Seconds one exploration command may run.",
        rich_help_panel=LIMITS_PANEL,
    ),
]
SEARCH_PANEL = "Search (test-time compute)"
Candidates = Annotated[
    int,
    typer.Option(
        "--candidates",
        help="Independent conversations side by side, each with --max-attempts.",
        rich_help_panel=SEARCH_PANEL,
    ),
]
StrategyName = Annotated[
    str,
    typer.Option(
        "--strategy",
        help="linear (one conversation), parallel (--candidates) or tree (best-first by "
        "the tests' process reward; --max-attempts nodes in all).",
        rich_help_panel=SEARCH_PANEL,
    ),
]
StopAt = Annotated[
    int | None,
    typer.Option(
        "--stop-at",
        help="Stop once this many candidates agree on one fix; with --strategy tree, search "
        "on after the first accepted patch until this many agree.",
        rich_help_panel=SEARCH_PANEL,
    ),
]
JudgeModel = Annotated[
    str | None,
    typer.Option(
        "--judge",
        help="A model that picks among distinct verified fixes ('same': the repair model); "
        "without one the largest vote wins, then the smallest patch.",
        rich_help_panel=SEARCH_PANEL,
    ),
]
ReasoningEffort = Annotated[
    str | None,
    typer.Option(
        "--reasoning-effort",
        help="low, medium or high, for models that reason (charged as output).",
        rich_help_panel=MODEL_PANEL,
    ),
]
Apply = Annotated[
    bool, typer.Option("--apply", help="Apply the verified patch to the working tree.")
]
Commit = Annotated[
    bool, typer.Option("--commit", help="Commit it on a new branch verifix/... (no checkout).")
]
AllowPath = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-path",
        help="Let the model edit files matching this glob that are refused by default "
        "(CI, hooks, build scripts, .verifix.toml); repeatable.",
    ),
]
NoRepro = Annotated[
    bool, typer.Option("--no-repro", help="On a green repo, accept a patch that breaks nothing.")
]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the patch here, not to stdout.")
]
GitHubApiUrl = Annotated[
    str | None,
    typer.Option(
        "--github-api-url",
        help="GitHub Enterprise API (or GITHUB_API_URL).",
        rich_help_panel=GITHUB_PANEL,
    ),
]
AllComments = Annotated[
    bool,
    typer.Option(
        "--all-comments",
        help="Read comments by anyone, not only collaborators.",
        rich_help_panel=GITHUB_PANEL,
    ),
]
Branch = Annotated[
    str | None,
    typer.Option(
        "--ref",
        help="Branch to fix when verifix clones the issue's repo.",
        rich_help_panel=GITHUB_PANEL,
    ),
]
OpenPr = Annotated[
    bool,
    typer.Option(
        "--pr",
        help="Push the verified patch and open a pull request (draft).",
        rich_help_panel=GITHUB_PANEL,
    ),
]
Ready = Annotated[
    bool,
    typer.Option(
        "--ready", help="Open the pull request ready for review.", rich_help_panel=GITHUB_PANEL
    ),
]
ProgressCommentOpt = Annotated[
    bool,
    typer.Option(
        "--progress-comment",
        help="Keep one issue comment updated while working.",
        rich_help_panel=GITHUB_PANEL,
    ),
]
Outputs = Annotated[
    Path | None,
    typer.Option(
        "--outputs",
        help="Append verdict=, pr-url=, cost= lines (GITHUB_OUTPUT).",
        rich_help_panel=GITHUB_PANEL,
    ),
]
CommentOpt = Annotated[
    bool,
    typer.Option(
        "--comment",
        help="When nothing is verified, say so on the issue.",
        rich_help_panel=GITHUB_PANEL,
    ),
]
