"""Official Node clients, unmodified, against the running gateway: the `openai` SDK and the
Vercel AI SDK's default OpenAI provider over the Responses API, and `@anthropic-ai/sdk` over
/v1/messages. The tests themselves are `tests/node/*.test.mjs` (Node's built-in runner); their
packages are pinned in `tests/node/package-lock.json` and installed by `.ci/run` (`npm ci`)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT

NODE_DIR = REPO_ROOT / "tests" / "node"


def _node() -> str:
    node = shutil.which("node")
    installed = (NODE_DIR / "node_modules").is_dir()
    if node and installed:
        return node
    why = "node is not on PATH" if not node else "run `npm ci --prefix tests/node` first"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Node client tests are required under CI=true: {why}")
    pytest.skip(why)


@pytest.mark.parametrize("suite", ["responses.test.mjs", "anthropic.test.mjs"])
def test_node_clients(gateway, anthropic_upstream_gateway, suite):
    env = dict(os.environ)
    env["SWITCHYARD_BASE_URL"] = gateway.openai_base_url
    env["SWITCHYARD_ORIGIN"] = gateway.base_url
    env["SWITCHYARD_ANTHROPIC_ORIGIN"] = anthropic_upstream_gateway.base_url
    out = subprocess.run(
        [_node(), "--test", "--test-reporter=tap", suite],
        cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "# fail 0" in out.stdout
