"""Model calls through litellm, with a cost limit that holds.

The limit is a promise: before each call the worst case of that call (the prompt's tokens
plus the most the reply may cost) must fit in what is left; every call is charged, even
one whose reply cannot be used; a reply that reports no usage is charged at its worst
case; and a model whose price is unknown does not run unless the user names a price or
explicitly accepts not knowing.

litellm is imported on first use: it takes about two seconds, and ``verifix --help`` must
not pay for it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from verifix.sandbox.errors import UsageError, VerifixError

#: Retried with backoff; everything else ends the run at once.
_TRANSIENT = (
    "RateLimitError",
    "APIConnectionError",
    "Timeout",
    "ServiceUnavailableError",
    "InternalServerError",
    "BadGatewayError",
)
_RETRIES = 3
#: Assumed for models litellm does not know (most local models offer at least this).
_DEFAULT_WINDOW = 16000
_MAX_CONTEXT_TOKENS = 30000


class ModelError(VerifixError):
    """The model provider failed (unreachable, refused, bad request): exit code 3."""


class BudgetExhausted(Exception):
    """The next call could cost more than is left of --max-cost; the loop stops cleanly."""


@dataclass(frozen=True)
class ModelConfig:
    model: str
    api_base: str | None = None
    max_output_tokens: int = 4096
    #: USD per million tokens, overriding litellm's price table.
    price_in: float | None = None
    price_out: float | None = None
    accept_unknown_cost: bool = False
    request_timeout_s: float = 300.0


@dataclass
class Budget:
    max_cost: float
    spent: float = 0.0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def left(self) -> float:
        return self.max_cost - self.spent


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    seconds: float


@dataclass
class Model:
    """One model, its prices and the budget every call is charged to."""

    config: ModelConfig
    budget: Budget
    sleep: Callable[[float], None] = time.sleep
    _prices: tuple[float, float] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._prices = self._lookup_prices()
        if self._prices is None and not self.config.accept_unknown_cost:
            raise UsageError(
                f"the price of model {self.config.model} is unknown, so --max-cost cannot be "
                "kept: pass --price-in and --price-out (USD per million tokens) or "
                "--accept-unknown-cost"
            )
        self._check_key()
        self._check_reachable()

    def _check_reachable(self) -> None:
        """A closed port at --api-base is found in milliseconds, before containers start."""
        if not self.config.api_base:
            return
        url = urlsplit(self.config.api_base)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname or "localhost", port), timeout=5).close()
        except OSError as exc:
            raise ModelError(
                f"cannot reach model {self.config.model} at {self.config.api_base}: {exc} "
                "(is the server running? check --api-base)"
            ) from exc

    def _lookup_prices(self) -> tuple[float, float] | None:
        if self.config.price_in is not None and self.config.price_out is not None:
            return self.config.price_in / 1e6, self.config.price_out / 1e6
        litellm = _litellm()

        try:
            info = litellm.get_model_info(self.config.model)
        except Exception:  # litellm raises a bare Exception for unmapped models
            return None
        price_in, price_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
        if price_in is None or price_out is None:
            return None
        return float(price_in), float(price_out)

    def _check_key(self) -> None:
        """Fail before any container starts when the provider's key is not set."""
        if self.config.api_base:
            return  # local and self-hosted servers often need none
        litellm = _litellm()
        for name in [k for k, v in os.environ.items() if not v and k.endswith("_KEY")]:
            del os.environ[name]  # an empty key is no key; litellm would count it as set
        try:
            env = litellm.validate_environment(self.config.model)
        except Exception:
            return
        missing = env.get("missing_keys") or []
        if missing:
            raise UsageError(
                f"model {self.config.model} needs {', '.join(missing)}: set it in the "
                "environment (it stays on this machine and never enters the sandbox)"
            )

    def context_budget(self) -> int:
        """Tokens of repo context for the first prompt: a quarter of the model's window
        (the rest is the issue, the feedback of later attempts and the replies), capped so
        a huge window does not mean a huge bill."""
        window = _DEFAULT_WINDOW
        try:
            info = _litellm().get_model_info(self.config.model)
            window = int(info.get("max_input_tokens") or window)
        except Exception:  # unmapped model: litellm raises a bare Exception
            pass
        return max(2000, min(window // 4, _MAX_CONTEXT_TOKENS))

    def worst_case(self, messages: list[dict[str, str]]) -> float:
        if self._prices is None:
            return 0.0
        litellm = _litellm()

        try:
            prompt = litellm.token_counter(model=self.config.model, messages=messages)
        except Exception:
            prompt = sum(len(m["content"]) for m in messages) // 2  # generous: ~2 chars/token
        return prompt * self._prices[0] + self.config.max_output_tokens * self._prices[1]

    def complete(self, messages: list[dict[str, str]]) -> Reply:
        """One chat completion, charged to the budget whatever comes back."""
        estimate = self.worst_case(messages)
        if self.budget.spent + estimate > self.budget.max_cost:
            raise BudgetExhausted(
                f"the next call could cost ${estimate:.4f}, and ${self.budget.left():.4f} "
                f"of --max-cost ${self.budget.max_cost:.2f} is left"
            )
        started = time.monotonic()
        response = self._call_with_retries(messages)
        self.budget.calls += 1
        text, prompt_tokens, completion_tokens = _read(response)
        if prompt_tokens is None or completion_tokens is None or self._prices is None:
            cost = estimate  # no usage reported: charge the worst case, never less
            prompt_tokens = prompt_tokens or 0
            completion_tokens = completion_tokens or 0
        else:
            cost = prompt_tokens * self._prices[0] + completion_tokens * self._prices[1]
        self.budget.spent += cost
        self.budget.prompt_tokens += prompt_tokens
        self.budget.completion_tokens += completion_tokens
        return Reply(text, prompt_tokens, completion_tokens, cost, time.monotonic() - started)

    def _call_with_retries(self, messages: list[dict[str, str]]) -> Any:
        litellm = _litellm()

        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": self.config.max_output_tokens,
            "timeout": self.config.request_timeout_s,
            "num_retries": 0,
        }
        if self.config.api_base:
            kwargs["api_base"] = self.config.api_base
            kwargs.setdefault("api_key", os.environ.get("VERIFIX_API_KEY") or "none")
        for attempt in range(_RETRIES + 1):
            try:
                return litellm.completion(**kwargs)
            except Exception as exc:
                name = type(exc).__name__
                if name in _TRANSIENT and attempt < _RETRIES:
                    self.sleep(min(30.0, 2.0**attempt))
                    continue
                raise ModelError(_explain(self.config, exc)) from exc
        raise AssertionError("unreachable")


def _litellm() -> Any:
    """litellm, imported on first use, with no price-list download and no banners."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _read(response: Any) -> tuple[str, int | None, int | None]:
    try:
        text = response.choices[0].message.content or ""
    except (AttributeError, IndexError, TypeError):
        text = ""
    usage = getattr(response, "usage", None)
    prompt = getattr(usage, "prompt_tokens", None) if usage else None
    completion = getattr(usage, "completion_tokens", None) if usage else None
    return text, prompt, completion


def _explain(config: ModelConfig, exc: Exception) -> str:
    name = type(exc).__name__
    detail = str(exc).splitlines()[0][:200] if str(exc) else name
    where = config.api_base or "the provider"
    if name == "APIConnectionError" or name == "Timeout":
        return f"cannot reach model {config.model} at {where}: {detail} (check --api-base)"
    if name in ("AuthenticationError", "PermissionDeniedError"):
        return f"model {config.model} refused the API key: {detail}"
    if name == "ContextWindowExceededError":
        return f"the prompt is too long for {config.model}: {detail}"
    if name == "NotFoundError":
        return f"model {config.model} was not found at {where}: {detail}"
    return f"model {config.model} failed ({name}): {detail}"
