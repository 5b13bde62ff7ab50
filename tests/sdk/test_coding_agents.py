"""The coding agents people route through gateways, unmodified, completing a one-turn prompt
through switchyard serving the simulator: Claude Code (`claude -p`, Anthropic Messages) and
Codex CLI (`codex exec`, the Responses API) — each both when the upstream speaks the agent's own
API family and when switchyard translates to another. Installed from npm by `.ci/run`
(`tests/node/package-lock.json`); each runs in its own empty directory and home."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT

BIN = REPO_ROOT / "tests" / "node" / "node_modules" / ".bin"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _agent(name: str) -> str:
    path = BIN / name
    if shutil.which("node") and path.exists():
        return str(path)
    if os.environ.get("CI") == "true":
        pytest.fail(f"`{name}` is required under CI=true: run `npm ci --prefix tests/node`")
    pytest.skip(f"{name} is not installed (npm ci --prefix tests/node)")


def _requests(gw, ingress: str) -> int:
    """How many requests of this ingress the gateway has logged."""
    text = ANSI.sub("", Path(gw.log_path).read_text(errors="replace"))
    return sum(1 for line in text.splitlines() if " request " in line and f"ingress={ingress}" in line)


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    return out


# (gateway fixture, model): the embedded simulator speaks OpenAI's wire format; the other
# gateway's only model is served by an Anthropic-format upstream.
OPENAI_WIRE = ("gateway", "sim-cheap")
ANTHROPIC_WIRE = ("anthropic_upstream_gateway", "xsim")


@pytest.mark.parametrize("upstream", [ANTHROPIC_WIRE, OPENAI_WIRE], ids=["same-api", "translated"])
def test_claude_code_completes_a_prompt(request, tmp_path, upstream):
    claude = _agent("claude")
    gw = request.getfixturevalue(upstream[0])
    before = _requests(gw, "anthropic")
    env = dict(os.environ, HOME=str(tmp_path / "home"), ANTHROPIC_BASE_URL=gw.base_url,
               ANTHROPIC_API_KEY="sk-ant-test", ANTHROPIC_MODEL=upstream[1],
               ANTHROPIC_SMALL_FAST_MODEL=upstream[1], CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
               DISABLE_AUTOUPDATER="1", DISABLE_TELEMETRY="1")
    (tmp_path / "home").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    out = _run([claude, "-p", "Say hello in one word."], work, env)
    assert out.stdout.strip(), out.stderr
    assert _requests(gw, "anthropic") > before, "the agent's requests went through switchyard"


# Codex's own API: a model whose upstream serves the Responses API, spoken natively.
RESPONSES_WIRE = ("gateway", "native")


@pytest.mark.parametrize("upstream", [RESPONSES_WIRE, ANTHROPIC_WIRE], ids=["same-api", "translated"])
def test_codex_completes_a_prompt(request, tmp_path, upstream):
    codex = _agent("codex")
    gw = request.getfixturevalue(upstream[0])
    before = _requests(gw, "responses")
    home = tmp_path / "codex-home"
    home.mkdir()
    # Codex speaks only the Responses API to a custom provider; its built-in web search cannot
    # run on a translated upstream (switchyard refuses it by name), so it is turned off.
    (home / "config.toml").write_text(f"""
model = "{upstream[1]}"
model_provider = "switchyard"
web_search = "disabled"

[model_providers.switchyard]
name = "switchyard"
base_url = "{gw.openai_base_url}"
wire_api = "responses"
env_key = "SWITCHYARD_API_KEY"
""")
    env = dict(os.environ, HOME=str(tmp_path), CODEX_HOME=str(home), SWITCHYARD_API_KEY="sk-test")
    work = tmp_path / "work"
    work.mkdir()
    out = _run([codex, "exec", "--skip-git-repo-check", "Say hello in one word."], work, env)
    assert out.stdout.strip(), out.stderr
    assert _requests(gw, "responses") > before, "the agent's requests went through switchyard"
