"""The official Anthropic Python SDK against the running `ondemand-proxy serve --demo`.

Run by scripts/test.sh, which starts the binary and sets ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY.
Model ids are the ones Claude Code sends: the proxy's patterns resolve them.
"""

import os

import anthropic
import pytest
from anthropic import Anthropic

MODEL = "claude-sonnet-5-5"
WEATHER = {
    "name": "get_weather",
    "description": "The weather now in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def client():
    return Anthropic(
        base_url=os.environ["ANTHROPIC_BASE_URL"], api_key=os.environ["ANTHROPIC_API_KEY"], max_retries=0
    )


def test_message(client):
    r = client.messages.create(
        model=MODEL,
        max_tokens=256,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Hello from Python"}],
        # This SDK version takes no sampling parameters; the API still does.
        extra_body={"temperature": 0.5},
        metadata={"user_id": "sdk-test"},
    )
    assert r.type == "message" and r.role == "assistant" and r.model == MODEL
    assert r.id.startswith("msg_")
    assert r.stop_reason == "end_turn"
    assert r.content[0].type == "text" and r.content[0].text.endswith("Hello from Python")
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.cache_read_input_tokens == 0
    assert r._request_id.startswith("req_")


def test_stream(client):
    with client.messages.stream(
        model="claude-haiku-4-5-20251001",
        max_tokens=256,
        messages=[{"role": "user", "content": "Stream to Python"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.endswith("Stream to Python")
    assert final.stop_reason == "end_turn"
    assert final.content[-1].text == text
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


def test_thinking(client):
    with client.messages.stream(
        model="claude-opus-5-5",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "Think, then answer"}],
    ) as stream:
        final = stream.get_final_message()
    kinds = [block.type for block in final.content]
    assert kinds[0] == "thinking" and "text" in kinds, kinds
    assert final.content[0].thinking


@pytest.mark.parametrize("streamed", [False, True])
def test_tool_round_trip(client, streamed):
    messages = [{"role": "user", "content": "Please use get_weather for me"}]
    ask = dict(model=MODEL, max_tokens=512, tools=[WEATHER], tool_choice={"type": "auto"}, messages=messages)
    if streamed:
        with client.messages.stream(**ask) as stream:
            first = stream.get_final_message()
    else:
        first = client.messages.create(**ask)
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.id.startswith("toolu_") and call.name == "get_weather" and call.input == {"city": "Paris"}
    messages += [
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18°C and sunny"}]},
    ]
    second = client.messages.create(model=MODEL, max_tokens=512, tools=[WEATHER], messages=messages)
    assert second.stop_reason == "end_turn"
    assert "get_weather returned: 18°C and sunny" in second.content[0].text


def test_count_tokens(client):
    plain = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "How many tokens?"}])
    with_tools = client.messages.count_tokens(
        model=MODEL, tools=[WEATHER], messages=[{"role": "user", "content": "How many tokens?"}]
    )
    assert 0 < plain.input_tokens < with_tools.input_tokens


def test_errors(client):
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[{"role": "user", "content": [
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a letter"}}
            ]}],
        )
    assert "document" in e.value.message
    bad = Anthropic(base_url=os.environ["ANTHROPIC_BASE_URL"], api_key="sk-not-a-token", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as e:
        bad.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert e.value.request_id.startswith("req_")


# A 1×1 PNG; the demo's image agent describes it by its size and a fingerprint of its bytes.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="


def test_a_base64_image_block_is_described(client):
    import base64
    import hashlib

    data = base64.b64decode(PIXEL)
    described = f"A PNG picture of {len(data)} bytes whose fingerprint is {hashlib.sha256(data).hexdigest()[:12]}."
    r = client.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
                ],
            }
        ],
    )
    assert r.content[0].text.endswith(f"{described} [End of image 1]")
