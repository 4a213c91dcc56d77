"""The official OpenAI Python SDK against the running `ondemand-proxy serve --demo`.

Run by scripts/test.sh, which starts the binary and sets OPENAI_BASE_URL / OPENAI_API_KEY.
"""

import os

import openai
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
