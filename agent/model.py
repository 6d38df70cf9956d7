"""Model calls through litellm, with a cost limit that holds.

The limit is a promise, kept by ``budget``: every request reserves its worst case before
it is sent and is charged at most that, whatever usage comes back; and a model whose price
is unknown does not run unless the user names a price or explicitly accepts not knowing.
Everything sent passes through ``redact`` first: a secret that reached a message (from a
file, an issue, a log) is not sent on.

litellm is imported on first use: it takes about two seconds, and ``verifix --help`` must
not pay for it.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from verifix.sandbox.errors import UsageError, VerifixError

from .budget import Budget, BudgetExhausted, charged_tokens, prompt_bound
from .redact import redact

__all__ = ["Budget", "BudgetExhausted", "Model", "ModelConfig", "ModelError", "Reply"]

#: Retried with backoff; everything else ends the run at once.
_TRANSIENT = (
    "RateLimitError",
    "APIConnectionError",
    "Timeout",
    "ServiceUnavailableError",
    "InternalServerError",
    "BadGatewayError",
)
#: Failures after which the provider may have run (and billed) the request without its
#: answer reaching us: charged at its worst case. An error the provider answered with
#: (429, 5xx) is a request it did not serve, and costs nothing.
_MAYBE_RAN = ("APIConnectionError", "Timeout")
_RETRIES = 6
#: Longest single wait, and longest total wait, for a provider that keeps saying "later":
#: enough to outlast a minute or two of rate limiting, never an unbounded hang.
_MAX_DELAY_S = 120.0
_MAX_WAITING_S = 300.0
#: Assumed for models litellm does not know (most local models offer at least this).
_DEFAULT_WINDOW = 16000
#: Reply tokens reserved on top of the answer's for each reasoning effort: litellm gives a
#: thinking budget of this size where the provider takes one (Anthropic), and providers
#: that count reasoning inside ``max_tokens`` (OpenAI) get the room for it.
REASONING_TOKENS = {"low": 2048, "medium": 4096, "high": 8192}
_MAX_CONTEXT_TOKENS = 30000


class ModelError(VerifixError):
    """The model provider failed (unreachable, refused, bad request): exit code 3."""


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
    #: ``low``, ``medium`` or ``high`` for models that reason (litellm's ``reasoning_effort``).
    reasoning_effort: str | None = None


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
    #: ``time.monotonic()`` past which no retry waits (the run's --timeout).
    deadline: float | None = None
    _prices: tuple[float, float] | None = field(default=None, init=False)
    _checked: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._prices = self._lookup_prices()
        if self._prices is None and not self.config.accept_unknown_cost:
            raise UsageError(
                f"the price of model {self.config.model} is unknown, so --max-cost cannot be "
                "kept: pass --price-in and --price-out (USD per million tokens) or "
                "--accept-unknown-cost"
            )

    def preflight(self) -> None:
        """Check, before any container starts, that a request could go out: the provider's
        key is set, a local server's port answers. Explicit, so that building a ``Model``
        (in a test, a batch) neither probes the network nor touches the environment."""
        if not self._checked:
            self._check_key()
            self._check_reachable()
            self._checked = True

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
        """USD per token: the configured prices, else litellm's."""
        if self.config.price_in is not None and self.config.price_out is not None:
            return self.config.price_in / 1e6, self.config.price_out / 1e6
        known = known_prices(self.config.model)
        return (known[0] / 1e6, known[1] / 1e6) if known else None

    def _check_key(self) -> None:
        """Fail before any container starts when the provider's key is not set."""
        if self.config.api_base:
            return  # local and self-hosted servers often need none
        litellm = _litellm()
        try:
            env = litellm.validate_environment(self.config.model)
        except Exception:
            return
        # litellm counts a variable that is set but empty as a key; it is none.
        empty = [k for k in _expected_keys(litellm, self.config.model) if os.environ.get(k) == ""]
        missing = list(dict.fromkeys([*(env.get("missing_keys") or []), *empty]))
        if missing:
            raise UsageError(
                f"model {self.config.model} needs {', '.join(missing)}: set it in the "
                "environment (it stays on this machine and never enters the sandbox)"
            )

    def window(self) -> int:
        """The model's input window in tokens, by litellm's table (a modest guess for a
        model it does not know: most local models offer at least that)."""
        try:
            info = _litellm().get_model_info(self.config.model)
            return int(info.get("max_input_tokens") or _DEFAULT_WINDOW)
        except Exception:  # unmapped model: litellm raises a bare Exception
            return _DEFAULT_WINDOW

    def context_budget(self) -> int:
        """Tokens of repo context for the first prompt: a quarter of the model's window
        (the rest is the issue, the feedback of later attempts and the replies), capped so
        a huge window does not mean a huge bill."""
        return max(2000, min(self.window() // 4, _MAX_CONTEXT_TOKENS))

    def _count(self, messages: list[dict[str, str]] | None = None, text: str = "") -> int:
        """Tokens by litellm's tokenizer for this model; without one, a generous guess
        for a prompt (2 characters a token) and a modest one for a reply (4)."""
        try:
            if messages is not None:
                return int(_litellm().token_counter(model=self.config.model, messages=messages))
            return int(_litellm().token_counter(model=self.config.model, text=text))
        except Exception:
            if messages is not None:
                return sum(len(m["content"]) for m in messages) // 2 + 8 * len(messages)
            return len(text) // 4

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        if self._prices is None:
            return 0.0  # only with --accept-unknown-cost
        return prompt_tokens * self._prices[0] + completion_tokens * self._prices[1]

    def max_tokens(self) -> int:
        """Reply tokens a request may take: the answer's, plus the thinking a reasoning
        effort allows (reasoning tokens are billed as output, so they are reserved too)."""
        effort = self.config.reasoning_effort
        return self.config.max_output_tokens + (REASONING_TOKENS[effort] if effort else 0)

    def worst_case(self, messages: list[dict[str, str]]) -> float:
        """The most one request with these messages may be charged."""
        bound = prompt_bound(self._count(messages))
        return self._cost(bound, self.max_tokens())

    def complete(self, messages: list[dict[str, str]], **sampling: float | int) -> Reply:
        """One chat completion, retried when the provider says "later"; every request
        sent reserves its worst case first and is charged at most that (see budget).
        ``sampling`` (``temperature``, ``seed``) is passed on; litellm drops what the
        provider does not take."""
        messages = [{**m, "content": redact(m["content"])} for m in messages]
        counted = self._count(messages)
        bound = prompt_bound(counted)
        max_tokens = self.max_tokens()
        worst = self._cost(bound, max_tokens)
        started = time.monotonic()
        waited = 0.0
        for attempt in range(_RETRIES + 1):
            self.budget.reserve(worst)
            try:
                response = self._send(messages, max_tokens, sampling)
            except Exception as exc:
                name = type(exc).__name__
                self.budget.settle(worst, worst if name in _MAYBE_RAN else 0.0)
                if name not in _TRANSIENT or attempt == _RETRIES:
                    raise ModelError(_explain(self.config, exc)) from exc
                delay = _delay(exc, attempt)
                if waited + delay > _MAX_WAITING_S or self._past_deadline(delay):
                    raise ModelError(
                        f"{_explain(self.config, exc)}; gave up after {attempt + 1} tries and "
                        f"{waited:.0f}s of waiting"
                    ) from exc
                self.sleep(delay)
                waited += delay
                continue
            text, reported_prompt, reported_completion = _read(response)
            prompt_tokens = charged_tokens(reported_prompt, counted, bound)
            completion_tokens = charged_tokens(
                reported_completion, self._count(text=text), max_tokens
            )
            if _count_of(reported_prompt) > bound or _count_of(reported_completion) > max_tokens:
                self.budget.clamped += 1
            cost = self.budget.settle(
                worst,
                self._cost(prompt_tokens, completion_tokens),
                prompt_tokens,
                completion_tokens,
            )
            return Reply(text, prompt_tokens, completion_tokens, cost, time.monotonic() - started)
        raise AssertionError("unreachable")

    def _past_deadline(self, delay: float) -> bool:
        return self.deadline is not None and time.monotonic() + delay > self.deadline

    def _send(
        self, messages: list[dict[str, str]], max_tokens: int, sampling: dict[str, float | int]
    ) -> Any:
        """One request; litellm's own retries are off, so every request sent is seen here."""
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "timeout": self.config.request_timeout_s,
            "num_retries": 0,
            "max_retries": 0,
            **sampling,
        }
        if self.config.reasoning_effort:
            kwargs["reasoning_effort"] = self.config.reasoning_effort
        if sampling or self.config.reasoning_effort:
            kwargs["drop_params"] = True  # a provider without seed, temperature or effort
        if self.config.api_base:
            kwargs["api_base"] = self.config.api_base
            kwargs["api_key"] = os.environ.get("VERIFIX_API_KEY") or "none"
        return _litellm().completion(**kwargs)


def _count_of(reported: object) -> int:
    """A usage count as a number, or 0 for anything else a provider may send (a string, a
    float, null): only to tell whether the report was clamped."""
    return reported if isinstance(reported, int) and not isinstance(reported, bool) else 0


def _expected_keys(litellm: Any, model: str) -> list[str]:
    """The environment variables holding ``model``'s key: what litellm would ask for with
    none of them set (read from its answer, so no variable is changed to find out)."""
    provider = model.split("/", 1)[0] if "/" in model else ""
    try:
        provider = provider or litellm.get_llm_provider(model)[1]
    except Exception:
        return []
    return [f"{provider.upper()}_API_KEY"] if provider else []


def _delay(exc: Exception, attempt: int) -> float:
    """The provider's Retry-After when it sends one, else exponential backoff; jittered so
    that parallel runs do not retry in step."""
    after = _retry_after(exc)
    if after is not None:
        return min(after, _MAX_DELAY_S) * random.uniform(1.0, 1.1)
    return min(2.0**attempt, 60.0) * random.uniform(0.5, 1.0)


def _retry_after(exc: Exception) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None) or getattr(exc, "headers", None)
    response = getattr(exc, "response", None)
    if not headers and response is not None:
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from model providers, and backoff is safe


def known_prices(model: str) -> tuple[float, float] | None:
    """litellm's prices for ``model`` in USD per million tokens (in, out), or None."""
    try:
        info = _litellm().get_model_info(model)
    except Exception:  # litellm raises a bare Exception for unmapped models
        return None
    price_in, price_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if price_in is None or price_out is None:
        return None
    return float(price_in) * 1e6, float(price_out) * 1e6


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
