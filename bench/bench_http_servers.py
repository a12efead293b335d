"""The CPU an HTTP server spends answering a request, without the hook: aiohttp's
low-level server against the hook's own protocol (``asyncaction_hook.httpserver``).

Both serve the same handler (read the body, answer a small JSON object) in a process of
their own on loopback, under the same load as the hook's benchmarks (``hookload``:
keep-alive connections from asyncio processes, signed report bodies). The server
process's CPU is read from ``time.process_time`` when it stops, so the client's CPU is
not counted; the kernel's share of the server's sends and receives is. The two servers
run interleaved, ``--rounds`` times each, since the host's speed moves by a quarter
between runs minutes apart (``docs/performance.md``): compare within a round.

This is why the hook serves on its own protocol: aiohttp's request, payload, URL,
response and writer objects, and the task and loop turns it spends on each request, cost
about as much as the hook's own checks.

    .venv/bin/python bench/bench_http_servers.py [N] [CONNECTIONS] [--rounds R]
        (default 20000 64, 3 rounds)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hookload import run_load

KINDS = ("aiohttp", "httpserver")


async def _aiohttp(port: int, ready: Any, stop: Any) -> None:
    from aiohttp import web

    async def status(request: web.BaseRequest) -> web.Response:
        await request.read()
        return web.json_response({"id": request.headers.get("X-Job-Id"), "progress": 1})

    runner = web.ServerRunner(web.Server(status, access_log=None))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    ready.set()
    await asyncio.to_thread(stop.wait)
    await runner.cleanup()


async def _httpserver(port: int, ready: Any, stop: Any) -> None:
    from bench_hook_inprocess import bare_server  # the same handler as its --bare

    http = bare_server()
    server = await asyncio.get_running_loop().create_server(http, "127.0.0.1", port)
    ready.set()
    await asyncio.to_thread(stop.wait)
    server.close()
    await http.shutdown(grace=5.0)


def _serve(kind: str, port: int, ready: Any, stop: Any, out: Any) -> None:
    cpu = time.process_time()
    asyncio.run((_aiohttp if kind == "aiohttp" else _httpserver)(port, ready, stop))
    out.put(time.process_time() - cpu)


def run(kind: str, reports: int, connections: int) -> tuple[float, float]:
    """(requests a second, server CPU µs a request) for one server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctx = multiprocessing.get_context("fork")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    process = ctx.Process(target=_serve, args=(kind, port, ready, stop, out))
    process.start()
    if not ready.wait(30):
        process.kill()
        raise SystemExit(f"{kind} did not start")
    targets = [(f"uid-{i}", "k" * 43) for i in range(200)]
    result = run_load(f"http://127.0.0.1:{port}", targets, reports, connections, 2)
    stop.set()
    cpu = out.get(timeout=60)
    process.join(30)
    answered = len(result.latencies)
    print(f"{kind}: {result.summary('requests')}".replace("\n", "\n  "))
    print(f"  server CPU {cpu:.2f} s ({cpu / answered * 1e6:.0f} µs a request)")
    return result.rate, cpu / answered * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="?", type=int, default=20000)
    parser.add_argument("connections", nargs="?", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    for round_ in range(1, args.rounds + 1):
        print(f"round {round_}")
        for kind in KINDS:
            figures[kind].append(run(kind, args.reports, args.connections))
    print(json.dumps({"reports": args.reports, "connections": args.connections}))
    for kind in KINDS:
        rates = [rate for rate, _ in figures[kind]]
        cpus = [cpu for _, cpu in figures[kind]]
        print(
            f"{kind}: median {statistics.median(rates):.0f} requests/s, "
            f"{statistics.median(cpus):.0f} µs of server CPU a request "
            f"(range {min(cpus):.0f}-{max(cpus):.0f})"
        )


if __name__ == "__main__":
    main()
