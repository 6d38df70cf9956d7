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
from verifix.sandbox.tomlfile import read_repo_table, read_table

from .model import ModelConfig

#: ``[model]``: the same keys in the user's file and in a repository's.
MODEL_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "api_base": str,
    "price_in": (int, float),
    "price_out": (int, float),
    "max_cost": (int, float),
    "max_attempts": int,
}
DEFAULT_MAX_COST = 1.0
DEFAULT_MAX_ATTEMPTS = 5


def user_config_path() -> Path:
    """The user-level file: ``VERIFIX_USER_CONFIG`` if set, else the platform's place."""
    named = os.environ.get("VERIFIX_USER_CONFIG")
    if named:
        return Path(named)
    import platformdirs

    return platformdirs.user_config_path("verifix") / "config.toml"


def user_model_table() -> dict[str, Any]:
    return read_table(user_config_path(), "model", MODEL_KEYS)


def repo_model_table(root: Path) -> dict[str, Any]:
    return read_repo_table(root, "model", MODEL_KEYS)


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


def _user_value(key: str, flag: Any, env: str | None, user: dict[str, Any]) -> tuple[Any, str]:
    if flag is not None:
        return flag, "command line"
    if env and os.environ.get(env):
        return (_env_float(env) if key.startswith("max_cost") else os.environ[env]), env
    if key in user:
        return user[key], str(user_config_path())
    return None, ""


def resolve(
    flags: Flags,
    repo: dict[str, Any],
    known_prices: Callable[[str], tuple[float, float] | None],
    user: dict[str, Any] | None = None,
) -> Resolved:
    """One run's model configuration and limits; ``known_prices(model)`` gives litellm's
    prices in USD per million tokens, or None for a model it does not know."""
    user = user_model_table() if user is None else user
    sources: dict[str, str] = {}
    name, where = _user_value("name", flags.model, "VERIFIX_MODEL", user)
    if name is None and "name" in repo:
        name, where = repo["name"], "repository config"
    if not name:
        raise UsageError(
            "no model configured: pass --model (any litellm model string, e.g. "
            "openai/gpt-4o-mini), set VERIFIX_MODEL, or name it in the user config "
            f"({user_config_path()}) or .verifix.toml [model]"
        )
    sources["name"] = where
    api_base, where = _user_value("api_base", flags.api_base, "VERIFIX_API_BASE", user)
    if api_base is None and "api_base" in repo:
        if os.environ.get("VERIFIX_API_KEY"):
            raise UsageError(
                f"the repository's config sends requests to {repo['api_base']}, and "
                "VERIFIX_API_KEY is set: pass --api-base to confirm the key may go there"
            )
        api_base, where = repo["api_base"], "repository config"
    sources["api_base"] = where

    price_in, price_out, sources["prices"] = _prices(flags, repo, user, known_prices(name))
    if (price_in is None) != (price_out is None):
        raise UsageError("--price-in and --price-out go together")

    limits = {}
    for key, flag, env, default in (
        ("max_cost", flags.max_cost, "VERIFIX_MAX_COST", DEFAULT_MAX_COST),
        ("max_attempts", flags.max_attempts, None, DEFAULT_MAX_ATTEMPTS),
    ):
        value, where = _user_value(key, flag, env, user)
        if value is None:
            value, where = default, "default"
        if key in repo and repo[key] < value:  # a repository may only tighten a limit
            value, where = repo[key], "repository config"
        limits[key], sources[key] = value, where
    if limits["max_cost"] <= 0 or limits["max_attempts"] < 1:
        raise UsageError("--max-cost must be above 0 and --max-attempts at least 1")
    config = ModelConfig(
        model=name,
        api_base=api_base,
        price_in=price_in,
        price_out=price_out,
        accept_unknown_cost=flags.accept_unknown_cost,
    )
    return Resolved(config, float(limits["max_cost"]), int(limits["max_attempts"]), sources)


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
        return user.get("price_in"), user.get("price_out"), str(user_config_path())
    if "price_in" in repo or "price_out" in repo:
        if known is None:
            return repo.get("price_in"), repo.get("price_out"), "repository config"
        price_in = max(float(repo.get("price_in", 0)), known[0])
        price_out = max(float(repo.get("price_out", 0)), known[1])
        if (price_in, price_out) != known:
            return price_in, price_out, "repository config (above litellm's prices)"
    return None, None, "litellm" if known else "unknown"
