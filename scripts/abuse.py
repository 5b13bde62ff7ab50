#!/usr/bin/env python3
"""Soak and abuse run against a local `switchyard serve` (loopback only, bounded in time).

While a steady client sends one chat completion every 50 ms, hostile and careless clients
hold the gateway: slowloris connections (headers trickled byte by byte), stalled bodies
(headers with `Content-Length: 100`, then one byte), thousands of idle connections, and
streams abandoned after their first chunk. At the end it prints the steady client's success
rate and p99 latency, and the gateway's resident memory.

    python3 scripts/abuse.py [--bin target/release/switchyard] [--seconds 30] [--idle 10000]

Exit status 1 if the steady client's success rate is below 99.9%. Nothing here talks to
anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """
[server]
header_read_timeout = "2s"
body_read_timeout = "2s"
max_connections = 30000

[ledger]
enabled = false

[[providers]]
name = "sim"
kind = "sim"

[[models]]
name = "sim-cheap"
provider = "sim"

[[models]]
name = "trickle"
provider = "sim"
upstream = "sim-cheap-tps-20-len-200"
"""

BODY = json.dumps({"model": "sim-cheap", "messages": [{"role": "user", "content": "ping"}]}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def request(port: int, body: bytes = BODY, path: str = "/v1/chat/completions") -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body
        )
        await writer.drain()
        status = await reader.readline()
        await reader.read()  # to the end of the answer
        return int(status.split()[1])
    finally:
        writer.close()


async def steady(port: int, until: float, out: list[tuple[bool, float]]) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            status = await asyncio.wait_for(request(port), timeout=10)
            out.append((status == 200, time.monotonic() - started))
        except Exception:  # noqa: BLE001 — any failure counts against the steady client
            out.append((False, time.monotonic() - started))
        await asyncio.sleep(max(0.0, 0.05 - (time.monotonic() - started)))


async def slowloris(port: int, until: float) -> None:
    """Trickle a header byte by byte, reconnecting whenever the gateway closes on us."""
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    while time.monotonic() < until:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for b in head:
                writer.write(bytes([b]))
                await writer.drain()
                await asyncio.sleep(0.5)
                if time.monotonic() >= until:
                    break
            writer.close()
        except (ConnectionError, OSError):
            await asyncio.sleep(0.2)


async def stalled_body(port: int, until: float) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: 100\r\n\r\n{"
            )
            await writer.drain()
            await asyncio.wait_for(reader.read(), timeout=max(0.1, until - time.monotonic()))
            writer.close()
        except (asyncio.TimeoutError, ConnectionError, OSError):
            await asyncio.sleep(0.2)


async def idle(port: int, n: int, until: float) -> int:
    """Open `n` connections that send nothing; return how many the gateway accepted."""
    conns = []
    for _ in range(n):
        try:
            conns.append(await asyncio.open_connection("127.0.0.1", port))
        except OSError:
            break
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    for _, w in conns:
        w.close()
    return len(conns)


async def abandoned_streams(port: int, until: float) -> None:
    body = json.dumps(
        {"model": "trickle", "stream": True, "messages": [{"role": "user", "content": "tell me"}]}
    ).encode()
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n".encode() + body
            )
            await writer.drain()
            await asyncio.wait_for(reader.read(512), timeout=5)  # the first chunk, then go
            writer.close()
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        await asyncio.sleep(0.1)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/switchyard")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--idle", type=int, default=10_000)
    args = ap.parse_args()
    raise_fd_limit(args.idle + 4096)
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="switchyard-abuse-"))
    (tmp / "switchyard.toml").write_text(CONFIG)
    log = open(tmp / "gateway.log", "w")
    gw = subprocess.Popen(
        [args.bin, "serve", "--config", str(tmp / "switchyard.toml"), "--listen", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=lambda: raise_fd_limit(args.idle + 4096),
    )
    try:
        for _ in range(100):
            try:
                if await asyncio.wait_for(request(port, b"", "/healthz"), 1) in (200, 404, 405):
                    break
            except Exception:  # noqa: BLE001 — not up yet
                await asyncio.sleep(0.1)
        rss_start = rss_mb(gw.pid)
        until = time.monotonic() + args.seconds
        results: list[tuple[bool, float]] = []
        tasks = [asyncio.create_task(steady(port, until, results))]
        tasks += [asyncio.create_task(slowloris(port, until)) for _ in range(200)]
        tasks += [asyncio.create_task(stalled_body(port, until)) for _ in range(200)]
        tasks += [asyncio.create_task(abandoned_streams(port, until)) for _ in range(20)]
        idle_task = asyncio.create_task(idle(port, args.idle, until))
        await asyncio.gather(*tasks, return_exceptions=True)
        opened = await idle_task
        ok = sum(1 for good, _ in results if good)
        lat = sorted(t for _, t in results)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
        rate = ok / len(results) if results else 0.0
        print(f"steady client: {ok}/{len(results)} ok ({rate:.4%}), p99 {p99:.1f} ms")
        print(f"idle connections opened (the gateway closes silent ones after header_read_timeout): {opened}; abusers: 200 slowloris, 200 stalled bodies, 20 abandoned streams")
        print(f"gateway RSS: {rss_start:.1f} MB at start, {rss_mb(gw.pid):.1f} MB at the end")
        return 0 if rate >= 0.999 else 1
    finally:
        gw.terminate()
        try:
            gw.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gw.kill()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
