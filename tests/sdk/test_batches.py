"""The official `openai` SDK's Files and Batch APIs against the gateway: a client batch comes back
complete at batch prices through a gateway restart (the provider, a `switchyard sim` process, keeps
running, as a real one would)."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from openai import OpenAI

from conftest import Gateway, _free_port, _spawn, _stop, _wait_healthy

CONFIG = """
[ledger]
url = "sqlite://{ledger}"
[[providers]]
name = "sim"
kind = "sim"
base_url = "{sim}/v1"
[[models]]
name = "cheap"
provider = "sim"
upstream = "sim-cheap"
price = {{ input = 1, output = 4, batch_input = 0.5, batch_output = 2 }}
[[models]]
name = "premium"
provider = "sim"
upstream = "sim-premium"
price = {{ input = 10, output = 40, batch_input = 5, batch_output = 20 }}
[routing]
default = "auto"
baseline = "premium"
[[routes]]
name = "auto"
strategy = "cheapest"
candidates = ["premium", "cheap"]
"""


@pytest.fixture()
def slow_sim(tmp_path):
    """A simulator whose batches take 3 s."""
    cfg = tmp_path / "sim.toml"
    cfg.write_text('batch_delay = "3s"\n')
    port = _free_port()
    proc = _spawn(["sim", "--config", str(cfg), "--listen", f"127.0.0.1:{port}"], tmp_path, tmp_path / "sim.log")
    sim = Gateway(port, proc, tmp_path / "sim.log")
    try:
        _wait_healthy(sim)
        yield sim
    finally:
        _stop(proc)


def _serve(tmp_path, sim: Gateway, port: int) -> Gateway:
    config = tmp_path / "switchyard.toml"
    config.write_text(CONFIG.format(ledger=tmp_path / "ledger.db", sim=sim.base_url))
    proc = _spawn(["serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"], tmp_path, tmp_path / f"gw-{time.time()}.log")
    gw = Gateway(port, proc, tmp_path / "gw.log")
    _wait_healthy(gw)
    return gw


def test_a_batch_comes_back_complete_at_batch_prices_through_a_restart(tmp_path, slow_sim):
    port = _free_port()
    gw = _serve(tmp_path, slow_sim, port)
    client = OpenAI(base_url=gw.openai_base_url, api_key="sk-test", max_retries=0)
    lines = [
        {"custom_id": f"t{i}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "auto", "max_tokens": 16, "messages": [{"role": "user", "content": f"Tag ticket {i}."}]}}
        for i in range(4)
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(l) for l in lines) + "\n")
    with open(path, "rb") as f:
        uploaded = client.files.create(file=f, purpose="batch")
    assert uploaded.purpose == "batch"
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "in_progress"
    assert batch.request_counts.total == 4

    # The gateway submits the batch to the provider, then restarts before the provider is done.
    time.sleep(1.2)
    _stop(gw.proc)
    gw = _serve(tmp_path, slow_sim, port)

    for _ in range(200):
        batch = client.batches.retrieve(batch.id)
        if batch.status == "completed":
            break
        time.sleep(0.1)
    assert batch.status == "completed", batch
    assert batch.id in [b.id for b in client.batches.list(limit=10)]
    assert batch.request_counts.completed == 4 and batch.request_counts.failed == 0
    out = [json.loads(l) for l in client.files.content(batch.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in out] == [f"t{i}" for i in range(4)]
    for o in out:
        body = o["response"]["body"]
        assert body["model"] == "cheap"  # the cheapest at batch prices
        u = body["usage"]
        expected = (Decimal(u["prompt_tokens"]) * Decimal("0.5") + Decimal(u["completion_tokens"]) * 2) / Decimal(1_000_000)
        assert Decimal(body["switchyard"]["cost_usd"]) == expected
    _stop(gw.proc)


ANTHROPIC_CONFIG = """
[ledger]
url = "sqlite://{ledger}"
[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{sim}/v1"
[[providers]]
name = "sim"
kind = "sim"
base_url = "{sim}/v1"
[[models]]
name = "claude"
provider = "anthropic"
upstream = "sim-claude"
price = {{ input = 0.8, output = 4, batch_input = 0.4, batch_output = 2 }}
[[models]]
name = "premium"
provider = "sim"
upstream = "sim-premium"
price = {{ input = 10, output = 40, batch_input = 5, batch_output = 20 }}
[routing]
default = "auto"
baseline = "premium"
[[routes]]
name = "auto"
strategy = "cheapest"
candidates = ["premium", "claude"]
"""


def test_the_anthropic_sdk_sends_a_message_batch_and_reads_its_results(tmp_path, slow_sim):
    """`client.messages.batches` of the official `anthropic` SDK: the batch is routed like any
    (here to Anthropic's Message Batches upstream, the cheapest at batch prices) and its results
    come back as Anthropic messages, at batch prices."""
    from anthropic import Anthropic

    config = tmp_path / "switchyard.toml"
    config.write_text(ANTHROPIC_CONFIG.format(ledger=tmp_path / "ledger.db", sim=slow_sim.base_url))
    port = _free_port()
    proc = _spawn(["serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"], tmp_path, tmp_path / "gw.log")
    gw = Gateway(port, proc, tmp_path / "gw.log")
    try:
        _wait_healthy(gw)
        client = Anthropic(base_url=gw.base_url, api_key="sk-test", max_retries=0)
        batch = client.messages.batches.create(requests=[
            {"custom_id": f"r{i}", "params": {"model": "auto", "max_tokens": 16,
                                             "messages": [{"role": "user", "content": f"Tag ticket {i}."}]}}
            for i in range(3)
        ])
        assert batch.type == "message_batch"
        assert batch.processing_status == "in_progress"
        assert batch.request_counts.processing == 3
        for _ in range(200):
            batch = client.messages.batches.retrieve(batch.id)
            if batch.processing_status == "ended":
                break
            time.sleep(0.1)
        assert batch.processing_status == "ended", batch
        assert batch.request_counts.succeeded == 3
        assert batch.id in [b.id for b in client.messages.batches.list(limit=10)]
        results = list(client.messages.batches.results(batch.id))
        assert [r.custom_id for r in results] == ["r0", "r1", "r2"]
        for r in results:
            assert r.result.type == "succeeded", r
            msg = r.result.message
            assert msg.model == "claude"
            assert msg.content[0].type == "text" and msg.content[0].text
            cost = Decimal(msg.model_dump()["switchyard"]["cost_usd"])
            expected = (Decimal(msg.usage.input_tokens) * Decimal("0.4") + Decimal(msg.usage.output_tokens) * 2) / Decimal(1_000_000)
            assert cost == expected
        # A bad request is refused at once, Anthropic-shaped.
        import anthropic
        with pytest.raises(anthropic.BadRequestError):
            client.messages.batches.create(requests=[{"custom_id": "bad id!", "params": {"model": "auto", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}}])
    finally:
        _stop(proc)
