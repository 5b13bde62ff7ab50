"""Session fixtures for the official-SDK tests.

One `switchyard serve` process is started for the whole session, on a free loopback port,
with a config that uses the simulator embedded in the gateway (a `kind = "sim"` provider
without `base_url`). The binary comes from `SWITCHYARD_BIN` (default: `target/debug/switchyard`
relative to the repository root); build it first with `cargo build -p switchyard`.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENAPI_SPEC = REPO_ROOT.parent / "shared" / "specs" / "openai-openapi.yaml"

CONFIG = """
[[providers]]
name = "sim"
kind = "sim"            # no base_url: the simulator runs inside the gateway process

# The same embedded simulator, also serving OpenAI's Responses API: Responses clients are
# sent there natively (their reasoning state round-trips), chat clients through chat completions.
[[providers]]
name = "sim-responses"
kind = "sim"
responses_api = true

[[models]]
name = "sim-cheap"
provider = "sim"
tier = "basic"

[[models]]
name = "native"
provider = "sim-responses"
upstream = "sim-cheap"
price = { input = 0.15, output = 0.6 }

[[models]]
name = "sim-premium"
provider = "sim"
tier = "premium"

[[models]]
name = "flaky"               # the first request fails with a 500, later ones succeed
provider = "sim"
upstream = "sim-500-once"

[[models]]
name = "broken"              # always 503
provider = "sim"
upstream = "sim-503"

[[models]]
name = "broken-with-fallback"  # a model named directly, with configured fallbacks
provider = "sim"
upstream = "sim-503"
fallbacks = ["sim-cheap"]

[[models]]
name = "bad-request"         # always 400 context_length_exceeded (never retried)
provider = "sim"
upstream = "sim-ctx"

[[models]]
name = "cutter"              # streams: 5 tokens, then the upstream connection drops
provider = "sim"
upstream = "sim-cut-5"

[[models]]
name = "flexible"            # sells a flex tier at half price (the simulator serves it)
provider = "sim"
upstream = "sim-cheap"
price = { input = 0.2, output = 0.8, flex = { input = 0.1, output = 0.4 } }

[routing]
default = "auto"
baseline = "sim-premium"

[[routes]]
name = "auto"
strategy = "priority"
candidates = ["sim-cheap", "sim-premium"]

# The embedded sim-cheap breaks JSON on a fifth of requests (its `json` skill is 0.8): this
# cascade asks it first and escalates an answer that is not valid JSON to sim-premium.
[[routes]]
name = "checked-json"
strategy = "cascade"
candidates = ["sim-cheap", "sim-premium"]
evaluators = [{ kind = "json" }]
# The operator opted in to keeping this route's prompts and answers (the request page shows them).
capture = { retention = "1h" }

# Repeats of a temperature-0 request are answered from the response cache, at $0.
[[routes]]
name = "cached"
candidates = ["sim-cheap"]
cache = { ttl = "10m" }

[[routes]]
name = "resilient"
strategy = "priority"
candidates = ["broken", "sim-cheap"]
max_attempts = 4
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary() -> Path:
    path = Path(os.environ.get("SWITCHYARD_BIN", "target/debug/switchyard"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.exists():
        pytest.exit(f"switchyard binary not found at {path}; run `cargo build -p switchyard` "
                    f"or set SWITCHYARD_BIN", returncode=2)
    return path


class Gateway:
    """A running `switchyard serve` process."""

    def __init__(self, port: int, proc: subprocess.Popen, log_path: Path):
        self.port = port
        self.proc = proc
        self.log_path = log_path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _wait_healthy(gw: Gateway, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    last_err: Exception | None = None
    while time.monotonic() < deadline:
        if gw.proc.poll() is not None:
            raise RuntimeError(f"switchyard exited with {gw.proc.returncode}:\n{gw.log()}")
        try:
            with urllib.request.urlopen(f"{gw.base_url}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last_err = e
        time.sleep(0.05)
    raise RuntimeError(f"switchyard did not answer /healthz within {timeout_s}s ({last_err}):\n{gw.log()}")


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("switchyard")
    config = tmp / "switchyard.toml"
    config.write_text(CONFIG)
    log_path = tmp / "gateway.log"
    port = _free_port()
    env = dict(os.environ)
    env.setdefault("SWITCHYARD_LOG", "info")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(_binary()), "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
            cwd=tmp,  # never pick up a ./switchyard.toml or write a ledger into the repo
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    gw = Gateway(port, proc, log_path)
    try:
        _wait_healthy(gw)
        yield gw
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def openai_client(gateway: Gateway):
    from openai import OpenAI

    # max_retries=0: the tests look at what the gateway does, not at the SDK's own retries.
    client = OpenAI(base_url=gateway.openai_base_url, api_key="sk-test", max_retries=0, timeout=30)
    yield client
    client.close()


@functools.lru_cache(maxsize=1)
def openapi_spec() -> dict:
    if not OPENAPI_SPEC.exists():
        pytest.skip(f"OpenAI OpenAPI spec not found at {OPENAPI_SPEC}")
    with open(OPENAPI_SPEC, "rb") as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return _nullable_to_json_schema(spec)


def _nullable_to_json_schema(node):
    """The spec says `openapi: 3.1.0` but still marks many schemas with the OpenAPI 3.0 keyword
    `nullable: true`, which JSON Schema 2020-12 ignores. Rewrite each such schema `S` as
    `anyOf: [S, {type: null}]` so that `null` is accepted where the spec means it."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_json_schema(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.lru_cache(maxsize=None)
def schema_validator(component: str):
    """A Draft 2020-12 validator for `#/components/schemas/<component>`, with every `$ref`
    resolved against the whole OpenAPI document."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = openapi_spec()
    uri = "urn:openai-openapi"
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource(uri, resource)
    schema = {"$ref": f"{uri}#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=registry)


@pytest.fixture(scope="session")
def validate_schema():
    def check(component: str, instance: dict) -> None:
        validator = schema_validator(component)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:20]]
            raise AssertionError(f"response does not match {component}:\n" + "\n".join(lines))

    return check


UPSTREAM_CONFIG = """
[[providers]]
name = "{kind}-sim"
kind = "{kind}"               # the {kind} adapter, against a separately started `switchyard sim`
base_url = "{base_url}"
api_key_env = "SWITCHYARD_TEST_UPSTREAM_KEY"

[[models]]
name = "xsim"
provider = "{kind}-sim"
upstream = "sim-cheap"

[[models]]
name = "xsim3"               # a thinking model: signs its function calls, wants them back
provider = "{kind}-sim"
upstream = "sim-gemini-3"

[routing]
default = "auto"

[[routes]]
name = "auto"
strategy = "priority"
candidates = ["xsim"]
"""


def _spawn(args: list[str], tmp: Path, log_path: Path, env: dict | None = None) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [str(_binary()), *args], cwd=tmp, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env=env or dict(os.environ),
        )


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def sim_server(tmp_path_factory: pytest.TempPathFactory):
    """A `switchyard sim` process (OpenAI, Anthropic and Gemini wire formats)."""
    tmp = tmp_path_factory.mktemp("sim")
    port = _free_port()
    proc = _spawn(["sim", "--listen", f"127.0.0.1:{port}"], tmp, tmp / "sim.log")
    sim = Gateway(port, proc, tmp / "sim.log")
    try:
        _wait_healthy(sim)
        yield sim
    finally:
        _stop(proc)


def _upstream_gateway(tmp_path_factory: pytest.TempPathFactory, sim: Gateway, kind: str, path: str):
    """`switchyard serve` whose only model (`xsim`) is served by a provider of this kind."""
    tmp = tmp_path_factory.mktemp(f"switchyard-{kind}")
    config = tmp / "switchyard.toml"
    config.write_text(UPSTREAM_CONFIG.format(kind=kind, base_url=f"{sim.base_url}{path}"))
    port = _free_port()
    env = dict(os.environ, SWITCHYARD_TEST_UPSTREAM_KEY="sk-upstream-test")
    env.setdefault("SWITCHYARD_LOG", "info")
    proc = _spawn(["serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"], tmp, tmp / "gateway.log", env)
    gw = Gateway(port, proc, tmp / "gateway.log")
    try:
        _wait_healthy(gw)
        yield gw
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def anthropic_upstream_gateway(tmp_path_factory: pytest.TempPathFactory, sim_server: Gateway):
    """`switchyard serve` whose only model is served by a `kind = "anthropic"` provider."""
    yield from _upstream_gateway(tmp_path_factory, sim_server, "anthropic", "/v1")


@pytest.fixture(scope="session")
def gemini_upstream_gateway(tmp_path_factory: pytest.TempPathFactory, sim_server: Gateway):
    """`switchyard serve` whose only model is served by a `kind = "gemini"` provider."""
    yield from _upstream_gateway(tmp_path_factory, sim_server, "gemini", "/v1beta")
