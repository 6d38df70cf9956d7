"""The cost limit holds whatever the provider reports or does (issue 9, part 3).

Each test drives ``Model.complete`` against the local scripted server, so litellm's real
HTTP path runs; no model provider is called. Prices are $1 per million tokens in and
$2 out, so a dollar figure reads as a token count.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from verifix.agent import settings
from verifix.agent.budget import charged_tokens, prompt_bound
from verifix.agent.model import (
    REASONING_TOKENS,
    Budget,
    BudgetExhausted,
    Model,
    ModelConfig,
    ModelError,
)
from verifix.cli.example.scripted_model import ScriptedModel
from verifix.sandbox.errors import UsageError

MESSAGES = [
    {"role": "system", "content": "You fix bugs."},
    {"role": "user", "content": "The function add returns the wrong sum. " * 20},
]


def model(server: ScriptedModel, max_cost: float, **config: object) -> Model:
    base = {"max_output_tokens": 1000, "price_in": 1.0, "price_out": 2.0}
    return Model(
        ModelConfig("openai/scripted", api_base=server.url, **{**base, **config}),
        Budget(max_cost),
        sleep=lambda s: None,
    )


def test_a_reply_without_usage_is_charged_what_was_counted_never_zero():
    with ScriptedModel([{"text": "a reply of several words", "usage": False}]) as server:
        llm = model(server, 1.0)
        reply = llm.complete(MESSAGES)
    assert reply.prompt_tokens > 100  # the counted prompt, not litellm's zeros
    assert reply.completion_tokens > 0
    assert llm.budget.spent == pytest.approx(
        (reply.prompt_tokens * 1.0 + reply.completion_tokens * 2.0) / 1e6
    )


def test_zero_and_negative_usage_are_not_free():
    replies = [
        {"text": "fine", "usage": {"prompt_tokens": 0, "completion_tokens": 0}},
        {"text": "fine", "usage": {"prompt_tokens": -500, "completion_tokens": -9}},
    ]
    with ScriptedModel(replies) as server:
        llm = model(server, 1.0)
        first, second = llm.complete(MESSAGES), llm.complete(MESSAGES)
    for reply in (first, second):
        assert reply.prompt_tokens > 100 and reply.cost > 0


def test_absurd_usage_is_clamped_and_spend_never_passes_the_limit():
    absurd = {"text": "x", "usage": {"prompt_tokens": 10**12, "completion_tokens": 10**12}}
    with ScriptedModel([absurd] * 50) as server:
        llm = model(server, 0.02)
        with pytest.raises(BudgetExhausted):
            for _ in range(50):
                llm.complete(MESSAGES)
                assert llm.budget.spent <= 0.02
    assert llm.budget.spent <= 0.02
    assert llm.budget.clamped == llm.budget.calls > 0
    # Each request was charged its worst case, no more: the prompt bound and max_tokens.
    assert llm.budget.completion_tokens == 1000 * llm.budget.calls


def test_the_pre_call_check_bounds_the_reply_and_caps_max_tokens():
    with ScriptedModel(["ok"]) as server:
        llm = model(server, 0.0025)  # room for one worst case (<= 2000 + ~500 tokens), no more
        llm.complete(MESSAGES)
        with pytest.raises(BudgetExhausted, match="could cost"):
            llm.complete(MESSAGES)
    assert server.requests[0]["max_tokens"] == 1000
    assert len(server.requests) == 1


def test_a_request_that_times_out_is_charged_its_worst_case_and_so_is_the_retry():
    with ScriptedModel([{"text": "late", "delay": 3}, "on time"]) as server:
        llm = model(server, 1.0, request_timeout_s=1.0)
        reply = llm.complete(MESSAGES)
    assert reply.text == "on time"
    assert len(server.requests) == 2  # litellm retried nothing on its own
    worst = llm.worst_case(MESSAGES)
    assert llm.budget.calls == 2
    assert llm.budget.spent >= worst + reply.cost - 1e-12


def test_timeouts_never_spend_past_the_limit():
    with ScriptedModel([{"text": "late", "delay": 2}] * 10) as server:
        llm = model(server, 0.006, request_timeout_s=0.5)
        with pytest.raises((BudgetExhausted, ModelError)):
            llm.complete(MESSAGES)
    assert 0 < llm.budget.spent <= 0.006


def test_rate_limits_honour_retry_after_and_are_not_charged():
    waits: list[float] = []
    limited = {"status": 429, "headers": {"Retry-After": "7"}}
    with ScriptedModel([limited, limited, "done"]) as server:
        llm = model(server, 1.0)
        llm.sleep = waits.append
        reply = llm.complete(MESSAGES)
    assert reply.text == "done"
    assert len(waits) == 2 and all(7 <= w <= 7.7 for w in waits)
    assert llm.budget.spent == pytest.approx(reply.cost)


def test_backoff_gives_up_at_the_run_deadline():
    limited = {"status": 429, "headers": {"Retry-After": "60"}}
    with ScriptedModel([limited] * 3) as server:
        llm = model(server, 1.0)
        llm.deadline = 0.0  # already past: no wait fits
        with pytest.raises(ModelError, match="gave up after 1 tries"):
            llm.complete(MESSAGES)
    assert len(server.requests) == 1


def test_concurrent_requests_cannot_overspend_together():
    with ScriptedModel([{"text": "x", "delay": 0.3}] * 20) as server:
        llm = model(server, 0.01)
        worst = llm.worst_case(MESSAGES)
        refused: list[BaseException] = []

        def ask() -> None:
            try:
                llm.complete(MESSAGES)
            except BudgetExhausted as exc:
                refused.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert llm.budget.spent <= 0.01
    assert len(server.requests) <= int(0.01 / worst)  # only what fitted was ever sent
    assert refused


def test_charging_rules():
    assert charged_tokens(None, 120, prompt_bound(120)) == 120
    assert charged_tokens(0, 120, 200) == 120
    assert charged_tokens(-7, 120, 200) == 120
    assert charged_tokens(150, 120, 200) == 150  # another tokenizer may count more
    assert charged_tokens(10**15, 120, 200) == 200
    assert prompt_bound(1000) >= 2000


KNOWN = {"gpt-4o-mini": (0.15, 0.6)}


def known(name: str) -> tuple[float, float] | None:
    return KNOWN.get(name)


def resolve(repo: dict, flags: settings.Flags | None = None, user: dict | None = None):
    return settings.resolve(flags or settings.Flags(model="gpt-4o-mini"), repo, known, user or {})


def test_a_repository_cannot_lower_a_known_price_or_raise_a_limit():
    chosen = resolve({"price_in": 0, "price_out": 0, "max_cost": 50, "max_attempts": 99})
    assert (chosen.config.price_in, chosen.config.price_out) == (None, None)  # litellm's
    assert chosen.max_cost == settings.DEFAULT_MAX_COST
    assert chosen.max_attempts == settings.DEFAULT_MAX_ATTEMPTS
    tighter = resolve({"max_cost": 0.1, "max_attempts": 2, "price_in": 9, "price_out": 0})
    assert (tighter.max_cost, tighter.max_attempts) == (0.1, 2)
    assert (tighter.config.price_in, tighter.config.price_out) == (9, 0.6)  # only raised


def test_the_users_own_settings_set_the_limit_the_repository_may_only_tighten():
    user = {"max_cost": 3.0, "name": "gpt-4o-mini"}
    assert resolve({"max_cost": 5}, settings.Flags(), user).max_cost == 3.0
    assert resolve({"max_cost": 2}, settings.Flags(), user).max_cost == 2
    assert resolve({}, settings.Flags(max_cost=10), user).max_cost == 10
    unknown = resolve({"price_in": 0, "price_out": 0}, settings.Flags(model="local/x"))
    assert (unknown.config.price_in, unknown.config.price_out) == (0, 0)


def test_a_repository_cannot_send_the_users_key_to_a_server_of_its_choosing(monkeypatch):
    monkeypatch.setenv("VERIFIX_API_KEY", "sk-user-secret-key-000000000000000")
    with pytest.raises(UsageError, match="pass --api-base to confirm"):
        resolve({"api_base": "http://evil.example/v1"})
    chosen = resolve(
        {"api_base": "http://evil.example/v1"},
        settings.Flags(model="gpt-4o-mini", api_base="http://mine.example/v1"),
    )
    assert chosen.config.api_base == "http://mine.example/v1"


def test_the_user_config_file_is_read_and_typos_name_the_nearest_key(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    monkeypatch.setenv("VERIFIX_USER_CONFIG", str(path))
    path.write_text('[model]\nname = "gpt-4o-mini"\nmax_cost = 2.5\n')
    chosen = settings.resolve(settings.Flags(), {}, known)
    assert (chosen.config.model, chosen.max_cost) == ("gpt-4o-mini", 2.5)
    path.write_text("[model]\nmax_cots = 2.5\n")
    with pytest.raises(UsageError, match="did you mean 'max_cost'"):
        settings.resolve(settings.Flags(), {}, known)


def test_a_reasoning_effort_is_sent_and_its_thinking_reserved_as_output():
    with ScriptedModel(["thought it through", "again"]) as server:
        plain = model(server, 1.0)
        thinking = model(server, 1.0, reasoning_effort="high")
        extra = thinking.worst_case(MESSAGES) - plain.worst_case(MESSAGES)
        thinking.complete(MESSAGES)
        plain.complete(MESSAGES)

    assert extra == pytest.approx(REASONING_TOKENS["high"] * 2.0 / 1e6)
    sent_thinking, sent_plain = server.requests
    assert sent_thinking["reasoning_effort"] == "high"
    assert sent_thinking["max_tokens"] == 1000 + REASONING_TOKENS["high"]
    assert "reasoning_effort" not in sent_plain and sent_plain["max_tokens"] == 1000


def test_candidate_sampling_reaches_the_provider():
    with ScriptedModel(["one"]) as server:
        model(server, 1.0).complete(MESSAGES, temperature=0.7, seed=3)

    assert server.requests[0]["temperature"] == 0.7 and server.requests[0]["seed"] == 3


def test_usage_of_the_wrong_type_is_charged_what_was_counted_and_the_run_goes_on(monkeypatch):
    """A provider (or a proxy) that reports usage as strings or floats: charged what verifix
    counted, no crash, no reservation left behind."""
    reply = SimpleNamespace(
        choices=[SimpleNamespace(message=SimpleNamespace(content="fine"))],
        usage=SimpleNamespace(prompt_tokens="123", completion_tokens=4.5),
    )
    llm = Model(ModelConfig("openai/x", price_in=1.0, price_out=2.0), Budget(1.0))
    monkeypatch.setattr(llm, "_send", lambda *args: reply)

    first = llm.complete(MESSAGES)

    assert first.prompt_tokens > 0 and first.completion_tokens > 0 and first.cost > 0
    assert llm.budget.left() == pytest.approx(1.0 - llm.budget.spent)
