"""The current Anthropic API through switchyard with the official `anthropic` SDK, unmodified:
extended thinking (signed blocks returned, sent back unchanged, verified by the upstream),
`anthropic-beta` headers and fields switchyard does not model (`context_management`,
`output_config`) passed through to an Anthropic upstream, and — when the request is translated
to another API — left behind with a note instead of failing, provider-bound thinking removed."""

from __future__ import annotations

import anthropic
import pytest

BETA = "context-management-2025-06-27"
THINK = {"type": "enabled", "budget_tokens": 1024}


def _client(gw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.base_url, api_key="sk-ant-test", max_retries=0, timeout=30)


@pytest.fixture(scope="module")
def native(anthropic_upstream_gateway):
    c = _client(anthropic_upstream_gateway)
    yield c
    c.close()


@pytest.fixture(scope="module")
def translated(gateway):
    c = _client(gateway)
    yield c
    c.close()


def _ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_thinking_is_returned_signed_and_accepted_back(native):
    first = native.messages.create(model="xsim", max_tokens=4000, thinking=THINK, messages=_ask("Why is the sky blue?"))
    kinds = [b.type for b in first.content]
    assert kinds[0] == "thinking" and "text" in kinds, kinds
    assert first.content[0].signature.startswith("sim-sig-")
    history = _ask("Why is the sky blue?") + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": "And at sunset?"},
    ]
    second = native.messages.create(model="xsim", max_tokens=4000, thinking=THINK, messages=history)
    assert second.content[-1].type == "text"
    # The upstream checks the signature: a changed block is refused, so it went back unchanged.
    tampered = [dict(m) for m in history]
    blocks = [dict(b) for b in tampered[1]["content"]]
    blocks[0]["thinking"] += " (edited)"
    tampered[1]["content"] = blocks
    with pytest.raises(anthropic.BadRequestError) as e:
        native.messages.create(model="xsim", max_tokens=4000, thinking=THINK, messages=tampered)
    assert "signature" in str(e.value)


def test_streamed_thinking_carries_its_signature(native):
    with native.messages.stream(model="xsim", max_tokens=4000, thinking=THINK,
                                messages=_ask("Explain tides briefly.")) as s:
        events = list(s)
        kinds = [e.type for e in events]
        final = s.get_final_message()
    # The prompt's size is known from the first event (clients show the context used).
    assert events[0].type == "message_start" and events[0].message.usage.input_tokens > 0
    assert "thinking" in kinds and "signature" in kinds, kinds
    assert final.content[0].type == "thinking" and final.content[0].signature.startswith("sim-sig-")
    again = native.messages.create(model="xsim", max_tokens=4000, thinking=THINK, messages=_ask("Explain tides briefly.") + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
        {"role": "user", "content": "Thanks. And waves?"}])
    assert again.content[-1].text


def test_betas_and_unmodelled_fields_reach_an_anthropic_upstream(native):
    raw = native.beta.messages.with_raw_response.create(
        model="xsim", max_tokens=500, betas=[BETA], messages=_ask("Hello."),
        context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
    )
    assert raw.http_response.status_code == 200
    assert "x-switchyard-dropped" not in raw.http_response.headers
    # Without the beta the upstream refuses the field: it is switchyard's request it judged.
    with pytest.raises(anthropic.BadRequestError) as e:
        native.messages.create(model="xsim", max_tokens=500, messages=_ask("Hello."),
                               extra_body={"context_management": {"edits": []}})
    assert BETA in str(e.value)


def test_translation_leaves_native_fields_behind_with_a_note(translated):
    raw = translated.beta.messages.with_raw_response.create(
        model="sim-cheap", max_tokens=4000, betas=[BETA], thinking=THINK, messages=_ask("Hello."),
        context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
        extra_body={"output_config": {"effort": "low"}},
    )
    assert raw.http_response.status_code == 200
    dropped = raw.http_response.headers["x-switchyard-dropped"]
    for name in ("thinking", "context_management", "output_config", "anthropic-beta"):
        assert name in dropped, dropped
    assert raw.parse().content[-1].text


def test_a_conversation_moved_to_another_api_drops_provider_bound_thinking(native, translated):
    first = native.messages.create(model="xsim", max_tokens=4000, thinking=THINK, messages=_ask("Name a colour."))
    history = _ask("Name a colour.") + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": "Another one?"},
    ]
    moved = translated.messages.create(model="sim-cheap", max_tokens=500, messages=history)
    assert moved.content[-1].text


def test_count_tokens_is_the_upstreams_when_it_speaks_anthropic(native, translated):
    msgs = _ask("How many tokens is this sentence, counted by whom?")
    up = native.messages.with_raw_response.count_tokens(model="xsim", messages=msgs)
    assert up.http_response.headers["x-switchyard-token-count"] == "upstream; anthropic-sim"
    assert up.parse().input_tokens > 0
    est = translated.messages.with_raw_response.count_tokens(model="sim-cheap", messages=msgs)
    assert est.http_response.headers["x-switchyard-token-count"] == "estimated; o200k_base"
    assert est.parse().input_tokens > 0


def test_mid_conversation_system_messages_reach_an_anthropic_upstream_in_place(native):
    # Claude Code's beta: the system message stays between the turns (the upstream accepts a
    # system role inside `messages` only with it), instead of joining the system prompt.
    raw = native.beta.messages.with_raw_response.create(
        model="xsim", max_tokens=200, betas=["mid-conversation-system-2026-04-07"],
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "and now?"},
        ],
    )
    assert raw.http_response.status_code == 200
    assert raw.parse().content[-1].text
