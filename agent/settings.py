"""Model settings and limits, from the places a user and a repository may set them, with
who may set what.

The user's own settings come from flags, ``VERIFIX_*`` variables and the user-level file
(``config.toml`` under the platform's config folder, ``~/.config/verifix`` on Linux). A
repository's ``[model]`` table (``.verifix.toml`` or ``[tool.verifix.model]``) is written
by whoever committed it, so it is trusted less: it may pick the model and lower the limits,
but never raise a limit above the user's own (or the default), never lower the price of a
model whose price litellm knows (that would make ``--max-cost`` a lie), and never send the
user's ``VERIFIX_API_KEY`` to a server of its choosing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verifix.sandbox.errors import UsageError
from verifix.sandbox.settings import Layer, Schema, Setting, Value, user_config_path

from .model import ModelConfig

#: ``[model]``: the same keys in the user's file and in a repository's.
MODEL = Schema(
    "model",
    (
        Setting(
            "name",
            str,
            help="Any litellm model string (`--model`, `VERIFIX_MODEL`)",
            shown="none: a run needs one",
        ),
        Setting(
            "api_base",
            str,
            help="An OpenAI-compatible endpoint (`--api-base`, `VERIFIX_API_BASE`); a "
            "repository's is refused while `VERIFIX_API_KEY` is set, unless `--api-base` is given",
            shown="the provider's",
        ),
        Setting(
            "price_in",
            float,
            help="USD per million prompt tokens (`--price-in`); a repository's counts only for "
            "a model litellm has no price for, or where it is higher than litellm's",
            shown="litellm's",
        ),
        Setting(
            "price_out",
            float,
            help="USD per million reply tokens (`--price-out`), as `price_in`",
            shown="litellm's",
        ),
        Setting(
            "max_cost",
            float,
            1.0,
            "Hard limit in USD per run (`--max-cost`, `VERIFIX_MAX_COST`); a repository may "
            "only lower it",
            limit=True,
        ),
        Setting(
            "max_attempts",
            int,
            5,
            "Patches to try (`--max-attempts`); a repository may only lower it",
            limit=True,
        ),
    ),
)
DEFAULT_MAX_COST: float = MODEL["max_cost"].default
DEFAULT_MAX_ATTEMPTS: int = MODEL["max_attempts"].default

#: ``[hook]``: what ``verifix hook`` does; the user's file sets it too, and a repository
#: may lower its limits, never raise them.
HOOK = Schema(
    "hook",
    (
        Setting(
            "stage",
            str,
            "pre-push",
            "What `verifix hook install` installs by default",
            choices=("pre-push", "pre-commit"),
        ),
        Setting(
            "max_cost",
            float,
            0.25,
            "USD per hook run; a repository may only lower it",
            limit=True,
        ),
        Setting(
            "max_attempts",
            int,
            3,
            "Patches to try per hook run; a repository may only lower it",
            limit=True,
        ),
        Setting("fix", bool, True, "`false`: report failing tests only, never call a model"),
        Setting("tests", list, [], "Test paths to run; none: the whole suite"),
    ),
)


def hook_settings(repo: Path) -> dict[str, Value]:
    """``[hook]`` for ``repo``: the defaults, the repository's table, then the user's (which
    wins); the limits are the user's (or the defaults), lowered by the repository's."""
    user = HOOK.user_layer()
    return HOOK.resolve([*HOOK.repo_layers(repo), *([user] if user else [])])


def user_model_table() -> dict[str, Any]:
    return MODEL.user_table()


def repo_model_table(root: Path) -> dict[str, Any]:
    return MODEL.repo_table(root)


def model_named(repo: dict[str, Any]) -> bool:
    """Whether any place names a model (a hook asks before it spends anything)."""
    named = os.environ.get("VERIFIX_MODEL") or user_model_table().get("name")
    return bool(named or repo.get("name"))


@dataclass(frozen=True)
class Flags:
    """What the user passed on the command line for one run (None: not given)."""

    model: str | None = None
    api_base: str | None = None
    price_in: float | None = None
    price_out: float | None = None
    accept_unknown_cost: bool = False
    max_cost: float | None = None
    max_attempts: int | None = None


@dataclass(frozen=True)
class Resolved:
    config: ModelConfig
    max_cost: float
    max_attempts: int
    #: Where each value came from, for messages and records.
    sources: Mapping[str, str]


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a number") from None


def _layers(table: Mapping[str, Any], kind: str, source: str) -> list[Layer]:
    """``table`` as layers, one per place its keys came from (a table read by the schema
    knows them; a plain dict is one place, ``source``)."""
    sources = getattr(table, "sources", {})
    by_source: dict[str, dict[str, Any]] = {}
    for key, value in table.items():
        by_source.setdefault(sources.get(key, source), {})[key] = value
    return [Layer(where, values, kind) for where, values in by_source.items()]


def _user_layers(flags: Flags, user: Mapping[str, Any]) -> list[Layer]:
    """The user's own places, in rising precedence: the file, variables, flags."""
    layers = _layers(user, "user", str(user_config_path()))
    for key, env in (
        ("name", "VERIFIX_MODEL"),
        ("api_base", "VERIFIX_API_BASE"),
        ("max_cost", "VERIFIX_MAX_COST"),
    ):
        if os.environ.get(env):
            value = _env_float(env) if key == "max_cost" else os.environ[env]
            layers.append(Layer(env, {key: value}, "env"))
    given = {
        "name": flags.model,
        "api_base": flags.api_base,
        "max_cost": flags.max_cost,
        "max_attempts": flags.max_attempts,
    }
    layers.append(Layer("command line", {k: v for k, v in given.items() if v is not None}))
    return layers


def resolve(
    flags: Flags,
    repo: dict[str, Any],
    known_prices: Callable[[str], tuple[float, float] | None],
    user: dict[str, Any] | None = None,
) -> Resolved:
    """One run's model configuration and limits; ``known_prices(model)`` gives litellm's
    prices in USD per million tokens, or None for a model it does not know."""
    user = user_model_table() if user is None else user
    repo_layers = _layers(repo, "repo", "repository config")
    chosen = MODEL.resolve([*repo_layers, *_user_layers(flags, user)])
    from_repo = {layer.source for layer in repo_layers}
    sources: dict[str, str] = {}
    name = chosen["name"].value if "name" in chosen else None
    if not name:
        raise UsageError(
            "no model configured: pass --model (any litellm model string, e.g. "
            "openai/gpt-4o-mini), set VERIFIX_MODEL, or name it in the user config "
            f"({user_config_path()}) or .verifix.toml [model]"
        )
    sources["name"] = chosen["name"].source
    api_base, sources["api_base"] = None, ""
    if "api_base" in chosen:
        api_base, sources["api_base"] = chosen["api_base"].value, chosen["api_base"].source
        if sources["api_base"] in from_repo and os.environ.get("VERIFIX_API_KEY"):
            raise UsageError(
                f"the repository's config sends requests to {api_base}, and "
                "VERIFIX_API_KEY is set: pass --api-base to confirm the key may go there"
            )

    price_in, price_out, sources["prices"] = _prices(flags, repo, user, known_prices(name))
    if (price_in is None) != (price_out is None):
        raise UsageError("--price-in and --price-out go together")

    max_cost, max_attempts = chosen["max_cost"], chosen["max_attempts"]
    sources["max_cost"], sources["max_attempts"] = max_cost.source, max_attempts.source
    if max_cost.value <= 0 or max_attempts.value < 1:
        raise UsageError("--max-cost must be above 0 and --max-attempts at least 1")
    config = ModelConfig(
        model=name,
        api_base=api_base,
        price_in=price_in,
        price_out=price_out,
        accept_unknown_cost=flags.accept_unknown_cost,
    )
    return Resolved(config, float(max_cost.value), int(max_attempts.value), sources)


EFFORTS = ("low", "medium", "high")


def check_effort(effort: str | None) -> None:
    """``--reasoning-effort`` is one litellm knows, or a one-line usage error."""
    if effort is not None and effort not in EFFORTS:
        raise UsageError(f"--reasoning-effort {effort}: choose {', '.join(EFFORTS)}")


def for_repo(repo: Path | None, flags: Flags) -> Resolved:
    """A run's model and limits: the user's settings, and the repository's where it may set
    them (``repo`` None: a repository verifix has not checked out yet, so none)."""
    from verifix.sandbox.snapshot import repo_root

    from .model import known_prices  # litellm's price table: only when a run resolves

    table = repo_model_table(repo_root(repo)) if repo is not None else {}
    return resolve(flags, table, known_prices)


def _prices(
    flags: Flags,
    repo: dict[str, Any],
    user: dict[str, Any],
    known: tuple[float, float] | None,
) -> tuple[float | None, float | None, str]:
    """The user's prices win; a repository's apply to a model litellm does not price, and
    to a priced one only where they are higher (a repository cannot make spend look
    smaller than it is)."""
    if flags.price_in is not None or flags.price_out is not None:
        return flags.price_in, flags.price_out, "command line"
    if "price_in" in user or "price_out" in user:
        where = getattr(user, "sources", {}).get("price_in" if "price_in" in user else "price_out")
        return user.get("price_in"), user.get("price_out"), where or str(user_config_path())
    if "price_in" in repo or "price_out" in repo:
        if known is None:
            return repo.get("price_in"), repo.get("price_out"), "repository config"
        price_in = max(float(repo.get("price_in", 0)), known[0])
        price_out = max(float(repo.get("price_out", 0)), known[1])
        if (price_in, price_out) != known:
            return price_in, price_out, "repository config (above litellm's prices)"
    return None, None, "litellm" if known else "unknown"
