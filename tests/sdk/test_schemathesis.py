"""schemathesis: the official OpenAI OpenAPI spec drives `switchyard serve` (embedded simulator).

For each operation switchyard implements in the OpenAI shape, schemathesis generates requests
from the spec (Hypothesis, derandomized, bounded) and checks every response:

- no 5xx (`not_a_server_error`);
- every 4xx is JSON in the OpenAI error shape `{"error": {"message": str, "type": str, ...}}`;
- every 2xx is valid against the spec's response schema for that operation
  (`response_schema_conformance`) and has a documented content type (`content_type_conformance`).

Positive cases (valid per the spec's request schema) and negative ones (invalid) are both sent.
Most chat and embeddings requests get a configured model (`sim-cheap` mostly), so a good share
reach the simulator and come back 2xx; the rest keep the generated (random) model name and
exercise the 404/400 paths; every third positive chat request is streamed. Every distinct
failure is collected (not only the first) and reported with the request that reproduces it.
A last test prints the counts (cases, 2xx, 4xx per operation).

`GET /models/{model}` is not here: switchyard does not serve it (it answers 404 unknown_url).
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from conftest import openapi_spec, schema_validator

# (operation, generation mode) -> examples. Positive cases are valid against the spec's request
# schema; negative ones are not (each must be refused with a JSON 4xx, never a 5xx). The chat
# request schema is huge, so its cases cost the most (generation and the simulated answer).
RUNS = {
    ("POST /chat/completions", "positive"): 150,
    ("POST /chat/completions", "negative"): 50,
    ("POST /embeddings", "positive"): 80,
    ("POST /embeddings", "negative"): 40,
    ("GET /models", "positive"): 10,
}

# Generated requests mostly name a configured model; the rest keep the random name the spec
# generator produced (those are 404 unknown model, or 400 for an empty name).
KEEP = None
MODEL_CHOICES = ["sim-cheap"] * 6 + ["sim-premium", "auto"] + [KEEP] * 2
# `stream` is rarely drawn as `true` by the generator; force it on every STREAM_EVERY-th positive
# chat case so that streamed answers are validated too (each event against the chunk schema).
STREAM_EVERY = 3


def _patched_spec() -> dict:
    """The spec (with conftest's `nullable` rewrite), adapted where the spec is written for a
    reader rather than for a validator. Only what is listed here differs from the official text."""
    spec = copy.deepcopy(openapi_spec())  # from_dict mutates; conftest's copy is shared
    schemas = spec["components"]["schemas"]

    # Known spec gap (2): tool calls in a chat completion message are a `oneOf` of function and
    # custom tool calls with `discriminator: {propertyName: type}` and no `mapping`. Under the
    # OpenAPI rules an implicit mapping uses the schema *names* ("ChatCompletionMessageToolCall",
    # "ChatCompletionMessageCustomToolCall"), so a real `"type": "function"` tool call (what OpenAI
    # sends, what the SDK expects) fails the discriminator check. The `oneOf` itself tells the two
    # apart by their `type` enums; give the discriminator the mapping the spec obviously means.
    tool_calls = schemas["ChatCompletionMessageToolCalls"]["items"]
    assert tool_calls["discriminator"] == {"propertyName": "type"}, tool_calls["discriminator"]
    tool_calls["discriminator"]["mapping"] = {
        "function": "#/components/schemas/ChatCompletionMessageToolCall",
        "custom": "#/components/schemas/ChatCompletionMessageCustomToolCall",
    }

    # Not a gap, a convention: before OpenAPI 3.2's `itemSchema`, OpenAI documents a
    # `text/event-stream` response by the schema of each event's JSON `data`, while schemathesis
    # reads `schema` as the schema of each whole event ({event, data, id, retry}). Say the same
    # thing in 3.2 terms so that the streamed chunks are validated, and the `[DONE]` sentinel allowed.
    stream = spec["paths"]["/chat/completions"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    chunk_ref = stream.pop("schema")
    assert chunk_ref == {"$ref": "#/components/schemas/CreateChatCompletionStreamResponse"}, chunk_ref
    stream["itemSchema"] = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "anyOf": [
                    {"const": "[DONE]"},
                    {"contentMediaType": "application/json", "contentSchema": chunk_ref},
                ]
            }
        },
    }
    # Request side only (what gets generated, not how answers are judged): the spec's prose says
    # the embeddings `input` "cannot be an empty string", but its schema does not; without the
    # constraint a third of the generated embeddings requests are empty strings (rightly a 400).
    embedding_input = schemas["CreateEmbeddingRequest"]["properties"]["input"]["oneOf"]
    assert embedding_input[0]["type"] == "string" and embedding_input[1]["items"]["type"] == "string"
    embedding_input[0]["minLength"] = 1
    embedding_input[1]["items"]["minLength"] = 1
    return spec


# --- checks beyond schemathesis's built-ins -----------------------------------------------------


def openai_error_shape(ctx, response, case):
    """Every 4xx is a JSON body `{"error": {"message": <str>, "type": <str>, ...}}`, and valid
    against the spec's ErrorResponse."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.split(";")[0].strip() == "application/json", (
        f"{response.status_code} with content-type {content_type!r}, expected application/json"
    )
    try:
        body = json.loads(response.content)
    except ValueError as e:
        raise AssertionError(f"{response.status_code} body is not JSON ({e}): {response.content[:300]!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (
        f"{response.status_code} body has no `error` object: {body!r}"[:500]
    )
    err = body["error"]
    assert isinstance(err.get("message"), str) and err["message"], f"error.message missing or empty: {err!r}"
    assert isinstance(err.get("type"), str) and err["type"], f"error.type missing or empty: {err!r}"
    errors = list(schema_validator("ErrorResponse").iter_errors(body))
    assert not errors, f"not an ErrorResponse: {errors[0].message} in {body!r}"[:500]
    return None


def base64_embeddings_conformance(ctx, response, case):
    """Known spec gap (1): with `encoding_format: "base64"` the real API (and switchyard) returns
    each `embedding` as a base64 string of little-endian float32s, while the spec only documents
    an array of numbers. For those responses `response_schema_conformance` is not run; instead
    each string must decode to whole float32s, and the response with the decoded arrays must be a
    valid CreateEmbeddingResponse."""
    if not 200 <= response.status_code < 300:
        return None
    body = json.loads(response.content)
    decoded = copy.deepcopy(body)
    for item in decoded.get("data") or []:
        if isinstance(item, dict) and isinstance(item.get("embedding"), str):
            try:
                raw = base64.b64decode(item["embedding"], validate=True)
            except ValueError as e:
                raise AssertionError(f"embedding is not valid base64: {e}") from None
            assert raw and len(raw) % 4 == 0, f"base64 embedding of {len(raw)} bytes is not float32s"
            item["embedding"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    errors = list(schema_validator("CreateEmbeddingResponse").iter_errors(decoded))
    assert not errors, f"base64 embeddings response invalid: {errors[0].message} at {list(errors[0].absolute_path)}"
    return None


def _is_base64_embeddings(case) -> bool:
    return (
        case.operation.path == "/embeddings"
        and isinstance(case.body, dict)
        and case.body.get("encoding_format") == "base64"
    )


def _checks_for(case) -> list:
    checks = [not_a_server_error, content_type_conformance, openai_error_shape]
    if _is_base64_embeddings(case):
        checks.append(base64_embeddings_conformance)
    else:
        checks.append(response_schema_conformance)
    return checks


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Stats:
    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    named_model: int = 0
    streamed: int = 0
    seconds: float = 0.0
    # (failure title, first line of its message) -> (count, reproducer)
    failures: dict = field(default_factory=dict)

    def share(self, lo: int, hi: int) -> int:
        return sum(n for s, n in self.statuses.items() if lo <= s < hi)


STATS: dict[str, Stats] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory):
    # Hypothesis keeps caches under ./.hypothesis even without an example database: put them in
    # pytest's temporary directory, not in the working tree.
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    try:
        # An explicit (empty) config: no schemathesis.toml is looked for in the working directory.
        yield schemathesis.openapi.from_dict(_patched_spec(), config=schemathesis.Config())
    finally:
        set_hypothesis_home_dir(None)


def _reproducer(case, response) -> str:
    request = f"{case.method} /v1{case.formatted_path}"
    if case.query:
        request += f" query={dict(case.query)!r}"
    if case.headers:
        request += f" headers={dict(case.headers)!r}"
    if isinstance(case.body, (dict, list)):
        request += " " + json.dumps(case.body, ensure_ascii=True)[:3000]
    elif case.body is not None and not isinstance(case.body, NotSet):
        request += f" (raw body) {case.body!r}"[:3000]
    answer = response.content[:600].decode("utf-8", "replace") if response is not None else ""
    status = response.status_code if response is not None else "-"
    return f"request: {request}\nanswer ({status}): {answer}"


def _failure_key(failure) -> tuple[str, str]:
    """Failures of one kind share a key (so each is reported once, with a count): schema
    violations by the schema path they break, others by their first line without numbers."""
    schema_path = getattr(failure, "schema_path", None)
    if schema_path is not None:
        return failure.title, "at schema path /" + "/".join(map(str, schema_path))
    lines = (failure.message or "").strip().splitlines()
    return failure.title, re.sub(r"\d+", "N", lines[0] if lines else "")


@pytest.mark.parametrize("label,mode", list(RUNS), ids=[f"{label} {mode}" for label, mode in RUNS])
def test_openai_spec_operation(api_schema, gateway, label, mode):
    method, path = label.split(" ", 1)
    operation = api_schema[path][method]
    examples = RUNS[(label, mode)]
    stats = STATS.setdefault(f"{label} ({mode})", Stats())
    generation_mode = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    is_chat = path == "/chat/completions"
    session = requests.Session()
    counter = itertools.count()

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same cases on every run
        database=None,  # no .hypothesis/ directory in the working tree
        phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are reported as found
        suppress_health_check=list(HealthCheck),  # the chat request schema is large and slow to draw
    )
    @given(
        case=operation.as_strategy(generation_mode=generation_mode),
    )
    def run(case):
        # The model and `stream` overrides cycle with a counter, not with Hypothesis draws: under
        # `derandomize` those favour their first choice so much that the shares would be lopsided.
        n = next(counter)
        if method == "POST" and isinstance(case.body, dict):
            model = MODEL_CHOICES[n % len(MODEL_CHOICES)]
            if model is not KEEP:
                case.body["model"] = model
                stats.named_model += 1
            if is_chat and mode == "positive" and n % STREAM_EVERY == 0:
                case.body["stream"] = True
        if isinstance(case.body, dict) and case.body.get("stream") is True:
            stats.streamed += 1
        response = None
        try:
            response = case.call(base_url=gateway.openai_base_url, session=session, timeout=60)
            stats.cases += 1
            stats.statuses[response.status_code] += 1
            case.validate_response(response, checks=_checks_for(case))
        except FailureGroup as group:
            # Collect every distinct failure (with one reproducer each) instead of stopping at
            # the first, so that one run reports all of them.
            for failure in group.exceptions:
                key = _failure_key(failure)
                count, repro = stats.failures.get(key, (0, None))
                repro = repro or f"{_reproducer(case, response)}\n{failure.message}"
                stats.failures[key] = (count + 1, repro)

    started = time.monotonic()
    try:
        run()
    finally:
        stats.seconds = time.monotonic() - started
        session.close()

    assert stats.cases >= examples // 2, f"{label} ({mode}): only {stats.cases} cases ran"
    if stats.failures:
        total = sum(count for count, _ in stats.failures.values())
        lines = [f"{label} ({mode}): {total} failing checks in {stats.cases} cases"]
        for (title, first), (count, repro) in stats.failures.items():
            lines.append(f"\n--- {title} ({count}x): {first}\n{repro}")
        pytest.fail("\n".join(lines)[:30000], pytrace=False)


def test_schemathesis_summary(capsys):
    """Runs after the operations above (pytest keeps file order): prints what they did, and holds
    positive cases to a 2xx floor so that a change that turns everything into 4xx is noticed."""
    ran = {key: s for key, s in STATS.items() if s.cases}
    if not ran:
        pytest.skip("no schemathesis operation ran")
    lines = [f"schemathesis {schemathesis.__version__}, OpenAI spec against switchyard serve:"]
    for key, s in ran.items():
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(s.statuses.items()))
        lines.append(
            f"  {key}: {s.cases} cases ({s.named_model} naming a configured model, {s.streamed} streamed): "
            f"2xx {s.share(200, 300)}, 4xx {s.share(400, 500)}, 5xx {s.share(500, 600)} [{codes}] "
            f"in {s.seconds:.1f}s"
        )
    total = sum(s.cases for s in ran.values())
    lines.append(
        f"  total: {total} cases, 2xx {sum(s.share(200, 300) for s in ran.values())}, "
        f"4xx {sum(s.share(400, 500) for s in ran.values())}, "
        f"5xx {sum(s.share(500, 600) for s in ran.values())}"
    )
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    for key, s in ran.items():
        if key.endswith("(positive)"):
            # A floor far below what the derandomized run gets (most cases name a configured model).
            ok = s.share(200, 300)
            assert ok >= s.cases // 5, f"{key}: only {ok} of {s.cases} cases were 2xx"
