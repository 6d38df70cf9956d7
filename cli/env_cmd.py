"""``verifix env show|build|prune`` and ``verifix sandbox bootstrap``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from verifix.sandbox import envcheck, environment, images, snapshot
from verifix.sandbox.config import SCHEMA
from verifix.sandbox.engine import connect
from verifix.sandbox.envrepair import load_recipe, recipe_path
from verifix.sandbox.errors import SandboxError
from verifix.sandbox.prune import prune as prune_images

from . import render
from .common import NO_ENV_OPTIONS, EnvOptions, RepoArg, env_options
from .output import ProgressLog, plain, stdout

env_app = typer.Typer(help="Inspect, build and prune environment images.")
sandbox_app = typer.Typer(help="Base images for the sandbox.")


@env_app.command("show")
@env_options
def show(
    repo: RepoArg = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    envopts: EnvOptions = NO_ENV_OPTIONS,
) -> int:
    """Print the environment verifix would use, and where each value came from."""
    with snapshot.of_worktree(repo) as snap:
        spec = envopts.spec(snap)
        rows: dict[str, tuple[object, str]] = {
            setting.name: (getattr(spec, setting.name), spec.sources.get(setting.name, ""))
            for setting in SCHEMA
        }
        try:
            client = connect()
            plan = environment.plan(client, snap, spec, lambda _m: None, may_bootstrap=False)
            built = bool(client.images.list(name=plan.tag))
            rows["base image"] = (plan.base.ref, plan.base.note or f"Python {plan.base.python}")
            rows["packages as of"] = (str(plan.packages_as_of or "today"), plan.packages_reason)
            rows["environment image"] = (plan.tag, "built (cached)" if built else "not built yet")
            recipe = load_recipe(plan.key)
            if recipe:
                rows["repaired setup"] = (recipe.strip(), str(recipe_path(plan.key)))
        except SandboxError as exc:
            rows["base image"] = ("?", str(exc))
    if as_json:
        stdout.print_json(
            json.dumps({k: {"value": v, "source": s} for k, (v, s) in rows.items()}, default=list)
        )
        return 0
    lines: list[tuple[str, str, str]] = []
    for name, (value, source) in rows.items():
        if name == "python":
            value = ", ".join(value) + ("  (acceptable, best first)" if len(value) > 1 else "")
        elif name == "image" and value is None:
            value = "(chosen from the Python version)"
        elif isinstance(value, tuple | list):
            value = "\n".join(str(v) for v in value)
        lines.append((name, str(value), source))
    render.settings(f"Environment for {snap.repo}", lines)
    return 0


@env_app.command("build")
@env_options
def build(
    repo: RepoArg = Path("."),
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build even if cached.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    envopts: EnvOptions = NO_ENV_OPTIONS,
) -> int:
    """Build (or find cached) the environment image for the repo, ahead of time."""
    progress = ProgressLog(quiet)
    with snapshot.of_worktree(repo) as snap:
        spec = envopts.spec(snap)
        result = environment.prepare(
            connect(), snap, spec, progress.steps("environment"), rebuild=rebuild
        )
    how = "cached" if result.cached else f"built in {result.build_s:.0f}s"
    stdout.print(f"{result.image} ({how}, base {result.base.ref})")
    for note in result.notes:
        stdout.print(f"[yellow]note:[/yellow] {escape(note)}")
    return 0


@env_app.command("check")
@env_options
def check(
    repo: RepoArg = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    rev: Annotated[
        str | None,
        typer.Option("--rev", help="Check this commit instead of the working tree (mirrors too)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="A model that may repair a failed setup step (any litellm model); no model: "
            "rules only.",
        ),
    ] = None,
    api_base: Annotated[
        str | None, typer.Option("--api-base", help="The model's OpenAI-compatible URL.")
    ] = None,
    price_in: Annotated[
        float | None, typer.Option("--price-in", help="USD per million input tokens.")
    ] = None,
    price_out: Annotated[
        float | None, typer.Option("--price-out", help="USD per million output tokens.")
    ] = None,
    max_cost: Annotated[
        float, typer.Option("--max-cost", help="USD the model may spend on repairs.")
    ] = 0.25,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    envopts: EnvOptions = NO_ENV_OPTIONS,
) -> int:
    """Build (or reuse) the environment and run the suite once: can verifix test this repo?

    A setup step that fails is repaired by rules, then, with --model, by the model (within
    --max-cost), and retried. Exit 0 when the suite runs, 1 when setup fails or the suite
    produces no results (the reason and a log are printed), 3 when no engine answers.
    """
    progress = ProgressLog(quiet or as_json)
    advisor = None
    if model:
        from verifix.agent.envadvice import ModelAdvisor
        from verifix.agent.model import Budget, Model
        from verifix.agent.settings import Flags, for_repo

        chosen = for_repo(None, Flags(model, api_base, price_in, price_out, max_cost=max_cost))
        llm = Model(chosen.config, Budget(chosen.max_cost))
        llm.preflight()  # a missing key or a closed port: before any container starts
        advisor = ModelAdvisor(llm, progress)
    snap = snapshot.of_commit(repo, rev) if rev else snapshot.of_worktree(repo)
    with snap:
        spec = envopts.spec(snap)
        result = envcheck.check(connect(), snap, spec, progress.steps("environment"), advisor)
    if as_json:
        stdout.print_json(json.dumps(result.to_json()))
        return 0 if result.ok else 1
    label = "[bold green]SUITE RUNS[/]" if result.ok else "[bold red]SUITE DOES NOT RUN[/]"
    stdout.print(f"{label}  {escape(result.reason)}")
    rows = [
        ("python", str(result.python or "?"), result.python_source),
        ("image", str(result.image or "-"), "cached" if result.cached else ""),
        ("setup", "\n".join(result.setup), result.setup_source),
        ("tests", str(result.test_command), result.test_source),
    ]
    if result.counts:
        rows.append(("counts", ", ".join(f"{n} {k}" for k, n in result.counts.items()), ""))
    render.settings(None, rows, header=False)
    if result.slowest and plain():
        stdout.print("Slowest tests:")
        for row in result.slowest:
            stdout.print(f"{escape(row['id'])}  {row['seconds']:.2f}s")
    elif result.slowest:
        slow = Table(title="Slowest tests", title_justify="left")
        slow.add_column("test", overflow="fold")
        slow.add_column("seconds", justify="right")
        for row in result.slowest:
            slow.add_row(escape(row["id"]), f"{row['seconds']:.2f}")
        stdout.print(slow)
    for note in result.notes:
        stdout.print(f"[yellow]note:[/yellow] {escape(note)}")
    if result.log:
        stdout.print(f"log: {result.log}")
    return 0 if result.ok else 1


@env_app.command("prune")
def prune(
    all_images: Annotated[
        bool, typer.Option("--all", help="Also remove bootstrapped base images.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also remove containers of verifix runs still going.")
    ] = False,
) -> int:
    """Remove leftover containers of verifix runs and verifix's environment images.

    Containers of runs still going on this machine, and those made from another machine
    sharing the engine, are kept unless --force. With
    VERIFIX_SESSION set, only what that session made is touched.
    """
    result = prune_images(
        connect(),
        all_images=all_images,
        force=force,
        session=os.environ.get("VERIFIX_SESSION"),
    )
    stdout.print(
        f"removed {result.removed_containers} containers and {result.removed_images} images"
    )
    if result.kept_containers or result.images_in_use:
        stdout.print(
            f"kept {result.kept_containers} containers of running verifix processes and "
            f"{result.images_in_use} images in use (--force removes those containers)"
        )
    return 0


@sandbox_app.command("bootstrap")
def bootstrap(
    python: Annotated[
        str, typer.Option("--python", help="3.9 (bullseye), 3.11 (bookworm) or 3.13 (trixie).")
    ] = "3.11",
    mirror: Annotated[
        str, typer.Option("--mirror", help="Debian mirror URL.")
    ] = images.DEFAULT_MIRROR,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if the image exists.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> int:
    """Build a minimal Debian base image (Python, pip, venv, git) without a registry.

    debootstrap, then docker import: for air-gapped machines and engines with no registry.
    """
    client = connect()
    ref = images.bootstrap_ref(python)
    if not force and client.images.list(name=ref):
        stdout.print(f"{ref} exists (use --force to rebuild)")
        return 0
    base = images.bootstrap(client, python, ProgressLog(quiet), mirror=mirror)
    stdout.print(f"{base.ref} built (Python {base.python})")
    return 0
