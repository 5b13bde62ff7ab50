"""The dashboard in a real browser: headless Chromium (Debian's `chromium` package, installed by
`.ci/run`) loads `/dashboard` and a request's page from the running gateway, and the charts must
have rendered with the traffic this test sent. Screenshots are kept in `target/ci-artifacts/`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import REPO_ROOT

ARTIFACTS = REPO_ROOT / "target" / "ci-artifacts"


def _chromium() -> str:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI") == "true":
        pytest.fail("headless Chromium is required under CI=true (apt-get install chromium)")
    pytest.skip("no chromium on PATH")


def _browser(url: str, *extra: str) -> str:
    out = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1400,2600", "--virtual-time-budget=10000", *extra, url],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def _ledger_row(gateway, rid: str) -> dict:
    deadline = time.monotonic() + 10
    while True:
        try:
            return _get(f"{gateway.base_url}/dashboard/api/requests/{rid}")
        except urllib.error.HTTPError as e:
            if e.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_dashboard_renders_real_traffic_in_a_browser(gateway, openai_client):
    ids = []
    for i in range(6):
        raw = openai_client.chat.completions.with_raw_response.create(
            model="checked-json" if i % 2 else "auto",
            messages=[{"role": "user", "content": f"dashboard check {i}: answer in JSON"}],
            response_format={"type": "json_object"} if i % 2 else None,
        )
        ids.append((raw.headers["x-switchyard-request-id"], raw.headers["x-switchyard-cost-usd"],
                    int(raw.headers["x-switchyard-attempts"])))
    # The API behind the charts tells each request's cost exactly as its response did.
    for rid, cost, attempts in ids:
        row = _ledger_row(gateway, rid)
        assert Decimal(row["cost_usd"]) == Decimal(cost), row
        assert len(row["attempts"]) == attempts
    o = _get(f"{gateway.base_url}/dashboard/api/overview?window=1h")
    assert o["totals"]["requests"] >= len(ids)
    assert Decimal(o["totals"]["cost_usd"]) >= sum(Decimal(c) for _, c, _ in ids)
    assert sum(Decimal(p["cost_usd"]) for p in o["series"]) == Decimal(o["totals"]["cost_usd"])

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    dom = _browser(f"{gateway.base_url}/dashboard?window=1h", "--dump-dom")
    assert 'data-ready="1"' in dom, dom[-3000:]
    points = int(re.search(r'data-chart="spend" data-points="(\d+)"', dom).group(1))
    assert points >= 1
    assert re.search(r"<path d=\"M[\d.]+ [\d.]+ L", dom), "the spend line was not drawn"
    for chart in ("provider-cost", "provider-success", "latency-route"):
        bars = int(re.search(rf'data-chart="{chart}" data-bars="(\d+)"', dom).group(1))
        assert bars >= 1, chart
    assert ids[0][0] in dom, "recent requests list the request just sent"
    _browser(f"{gateway.base_url}/dashboard?window=1h", f"--screenshot={ARTIFACTS / 'dashboard.png'}")
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000

    rid, _, attempts = ids[1]
    page = _browser(f"{gateway.base_url}/dashboard/requests/{rid}", "--dump-dom")
    assert 'data-ready="1"' in page, page[-3000:]
    assert f'data-chart="attempts" data-bars="{attempts}"' in page
    assert "checked-json" in page
    # The route captures: the prompt and the answer served are on the page, as text.
    assert "dashboard check 1: answer in JSON" in page
    assert 'data-capture="answer"' in page
    _browser(f"{gateway.base_url}/dashboard/requests/{rid}",
             f"--screenshot={ARTIFACTS / 'dashboard-request.png'}")


def test_dashboard_assets_are_embedded_and_locked_down(gateway):
    with urllib.request.urlopen(f"{gateway.base_url}/dashboard", timeout=10) as r:
        html = r.read().decode()
        csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    # Nothing from another origin: no CDN, no external fonts.
    assert not re.search(r"(src|href)=\"https?://", html)
    for asset in ("dashboard.js", "dashboard.css"):
        with urllib.request.urlopen(f"{gateway.base_url}/dashboard/assets/{asset}", timeout=10) as r:
            body = r.read().decode()
        assert "http://" not in body.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in body
    try:
        urllib.request.urlopen(f"{gateway.base_url}/dashboard/api/requests/no-such-id", timeout=10)
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404
        assert "no request" in json.load(e)["error"]["message"]
