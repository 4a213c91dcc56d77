"""The official OpenAI Python SDK against the running `ondemand-proxy serve --demo`.

Run by scripts/test.sh, which starts the binary and sets OPENAI_BASE_URL / OPENAI_API_KEY.
"""

import json
import os

import openai
import pydantic
import pytest
from openai import OpenAI

BASE_URL = os.environ["OPENAI_BASE_URL"]
API_KEY = os.environ["OPENAI_API_KEY"]


@pytest.fixture(scope="module")
def client():
    return OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0)


def test_lists_models(client):
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o" in ids and "claude-3.7-sonnet" in ids and "deepseek-r1" in ids


def test_chat(client):
    r = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello from Python"}],
        temperature=0.5,
    )
    assert r.object == "chat.completion"
    assert r.model == "gpt-4o"
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content.startswith("[Simulated answer")
    assert r.choices[0].message.content.endswith("Hello from Python")
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0


def test_stream_with_usage(client):
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Stream to Python"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content.endswith("Stream to Python")
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_errors(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gpt-4o", n=2, messages=[{"role": "user", "content": "x"}])
    assert e.value.param == "n"
    bad = OpenAI(base_url=BASE_URL, api_key="wrong-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather now in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


def test_tool_round_trip(client):
    messages = [{"role": "user", "content": "What's the weather? Use get_weather."}]
    r = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER, TIME])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18°C and sunny"})
    r = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER, TIME])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content.endswith("get_weather returned: 18°C and sunny")


def test_tool_round_trip_streaming_with_parallel_calls(client):
    messages = [{"role": "user", "content": "Use get_weather and get_time."}]
    # The SDK's stream helper assembles the call deltas as an application would.
    with client.chat.completions.stream(model="gpt-4o", messages=messages, tools=[WEATHER, TIME]) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [c.function.name for c in choice.message.tool_calls] == ["get_weather", "get_time"]
    assert [json.loads(c.function.arguments) for c in choice.message.tool_calls] == [{"city": "Paris"}, {}]
    messages.append(choice.message.model_dump(exclude_none=True))
    for call, result in zip(choice.message.tool_calls, ["18°C", '{"time": "noon"}']):
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    stream = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER, TIME], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.endswith('get_weather returned: 18°C; get_time returned: {"time":"noon"}')


def test_tool_choice_forms_and_legacy_functions(client):
    ask = [{"role": "user", "content": "Hello"}]
    named = client.chat.completions.create(
        model="gpt-4o", messages=ask, tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert [c.function.name for c in named.choices[0].message.tool_calls] == ["get_time"]
    required = client.chat.completions.create(model="gpt-4o", messages=ask, tools=[WEATHER, TIME], tool_choice="required")
    assert required.choices[0].finish_reason == "tool_calls"
    none = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Use get_weather."}], tools=[WEATHER], tool_choice="none",
    )
    assert none.choices[0].finish_reason == "stop" and none.choices[0].message.tool_calls is None
    serial = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Use get_weather and get_time."}],
        tools=[WEATHER, TIME], parallel_tool_calls=False,
    )
    assert len(serial.choices[0].message.tool_calls) == 1
    legacy = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Use get_weather."}], functions=[WEATHER["function"]],
    )
    assert legacy.choices[0].finish_reason == "function_call"
    assert legacy.choices[0].message.function_call.name == "get_weather"


class Person(pydantic.BaseModel):
    name: str
    age: int


def test_structured_output_that_the_sdk_parses(client):
    for stream in (False, True):
        messages = [{"role": "user", "content": "Describe a person."}]
        if stream:
            with client.chat.completions.stream(model="gpt-4o", messages=messages, response_format=Person) as s:
                r = s.get_final_completion()
        else:
            r = client.chat.completions.parse(model="gpt-4o", messages=messages, response_format=Person)
        person = r.choices[0].message.parsed
        assert isinstance(person, Person), r
        assert person.age == 3 and person.name == "example"
    r = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Any JSON"}], response_format={"type": "json_object"},
    )
    assert json.loads(r.choices[0].message.content) == {"echo": "Any JSON"}


# ---- the Responses API -----------------------------------------------------------------

RESPONSE_TOOLS = [
    {"type": "function", "name": "get_weather", "description": "The weather now in a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    {"type": "custom", "name": "exec", "description": "Run JavaScript"},
]


def test_responses_whole_continued_retrieved_and_deleted(client):
    first = client.responses.create(model="gpt-5.6-luna", instructions="Be brief.", input="My name is Ada")
    assert first.id.startswith("resp_") and first.status == "completed"
    assert first.output_text.endswith("My name is Ada")
    assert first.usage.input_tokens > 0 and first.usage.output_tokens_details.reasoning_tokens >= 0
    second = client.responses.create(model="gpt-5.6-luna", input="And again?", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.output_text.endswith("And again?")
    assert client.responses.retrieve(first.id).output_text == first.output_text
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_responses_stream(client):
    with client.responses.stream(model="gpt-5.6-luna", input="Stream a response") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text
    assert final.output_text.endswith("Stream a response")


@pytest.mark.parametrize("streamed", [False, True])
def test_responses_function_and_custom_tool_round_trip(client, streamed):
    ask = "Use get_weather, then exec to run `text(6 * 7)`"
    if streamed:
        with client.responses.stream(model="gpt-5.6-luna", input=ask, tools=RESPONSE_TOOLS) as stream:
            first = stream.get_final_response()
    else:
        first = client.responses.create(model="gpt-5.6-luna", input=ask, tools=RESPONSE_TOOLS)
    calls = {item.type: item for item in first.output if item.type in ("function_call", "custom_tool_call")}
    assert json.loads(calls["function_call"].arguments) == {"city": "Paris"}
    assert calls["custom_tool_call"].input == "text(6 * 7)"
    results = [
        {"type": "function_call_output", "call_id": calls["function_call"].call_id, "output": "18°C"},
        {"type": "custom_tool_call_output", "call_id": calls["custom_tool_call"].call_id, "output": "42"},
    ]
    second = client.responses.create(
        model="gpt-5.6-luna", tools=RESPONSE_TOOLS, previous_response_id=first.id, input=results
    )
    assert second.output_text.endswith("get_weather returned: 18°C; exec returned: 42")


def test_responses_parse_with_a_schema(client):
    r = client.responses.parse(model="gpt-5.6-luna", input="Describe a person.", text_format=Person)
    assert isinstance(r.output_parsed, Person) and r.output_parsed.age == 3


def test_responses_errors(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-5.6-luna", input="x", tools=[{"type": "web_search"}])
    assert e.value.param == "tools[0].type"
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.create(model="gpt-5.6-luna", input="x", previous_response_id="resp_missing")
    assert e.value.param == "previous_response_id"


def test_legacy_completions(client):
    r = client.completions.create(model="gpt-4o-mini", prompt="Once upon a time", max_tokens=16)
    assert r.object == "text_completion" and r.choices[0].finish_reason == "stop"
    assert r.choices[0].text.endswith("Once upon a time")
    text = "".join(c.choices[0].text for c in client.completions.create(
        model="gpt-4o-mini", prompt="Stream it", stream=True) if c.choices)
    assert text.endswith("Stream it")


# A 1×1 PNG. The demo's image agent describes an image by its size and a fingerprint of its
# bytes (the first 12 hex digits of their SHA-256); the description closes the query, so the
# demo's echo of the query's last line shows it reached the upstream.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="


def described(b64):
    import base64
    import hashlib

    data = base64.b64decode(b64)
    return f"A PNG picture of {len(data)} bytes whose fingerprint is {hashlib.sha256(data).hexdigest()[:12]}."


def test_an_image_url_part_is_described(client):
    r = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}", "detail": "low"}},
                ],
            }
        ],
    )
    assert r.choices[0].message.content.endswith(f"{described(PIXEL)} [End of image 1]")


def test_a_responses_input_image_is_described(client):
    r = client.responses.create(
        model="gpt-4o",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is in this picture?"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PIXEL}", "detail": "auto"},
                ],
            }
        ],
        store=False,
    )
    assert r.output_text.endswith(f"{described(PIXEL)} [End of image 1]")


def test_an_image_that_is_not_png_or_jpeg_is_refused_by_name(client):
    gif = "R0lGODlhAQABAAAAACw="
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/gif;base64,{gif}"}}]}],
        )
    assert caught.value.body["param"] == "messages[0].content[0]"
    assert "a GIF" in caught.value.body["message"]
