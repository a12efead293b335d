"""Where a signed progress report's time goes in the hook, without a cluster.

The hook's real server (``server.create_server``: routes, metrics, authentication, budgets,
replay memory, fence check, coalescer, status writer) runs in a process of its own on
loopback; the API server is replaced by memory (a LIST of A RUNNING actions, GETs and
status PATCHes answered from a dict), so every cost measured is the hook's. The load is
``hookload`` (keep-alive connections from asyncio processes, with the client's own CPU
reported). With ``--profile FILE`` the hook process runs under cProfile and writes its
stats to FILE (read them with ``python -m pstats FILE``).

    .venv/bin/python bench/bench_hook_inprocess.py [N] [CONNECTIONS] [ACTIONS]
        [--processes P] [--profile FILE] [--coalesce-window S] (default 20000 64 200)
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import cProfile
import gc
import multiprocessing
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for hookload

from asyncaction.keys import MasterKeys
from asyncaction.kube import Conflict
from asyncaction.kube.client import WatchEvent
from asyncaction.stores import Stores
from asyncaction_hook.app import Hook
from asyncaction_hook.auth import WindowReplayGuard
from asyncaction_hook.budgets import Budgets, Rate
from asyncaction_hook.cache import ActionCache
from asyncaction_hook.httpmessages import Request, Response, json_response
from asyncaction_hook.httpserver import HttpServer
from asyncaction_hook.metrics import HookMetrics
from asyncaction_hook.pacing import WritePacer
from asyncaction_hook.server import create_server
from asyncaction_hook.settings import HookSettings
from asyncaction_hook.writer import Coalescer, StatusWriter
from hookload import run_load

KEYS = MasterKeys((b"bench-master-key-" * 3,))


class MemoryApi:
    """The API server's answers for what the hook asks, from memory."""

    def __init__(self, actions: list[dict[str, Any]]) -> None:
        self.objects = {a["metadata"]["name"]: a for a in actions}
        self.version = 10
        self.patches = 0

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if method == "GET" and path.endswith(("asyncactions", "actiontemplates")):
            items = [] if "actiontemplates" in path else list(self.objects.values())
            return {"items": items, "metadata": {"resourceVersion": str(self.version)}}
        name = path.split("/asyncactions/", 1)[1].split("/", 1)[0]
        current = self.objects[name]
        if method == "GET":
            return copy.deepcopy(current)
        if method == "PATCH":
            body: Mapping[str, Any] = kwargs["body"]
            if body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise Conflict(409, "Conflict", "changed")
            self.version += 1
            self.patches += 1
            current["status"] = {**current["status"], **body["status"]}
            current["metadata"]["resourceVersion"] = str(self.version)
            return copy.deepcopy(current)
        raise AssertionError(f"{method} {path}")

    async def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return await self.request("GET", path)

    async def patch(self, path: str, body: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        return await self.request("PATCH", path, body=body)

    async def watch(self, path: str, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        await asyncio.Event().wait()  # nothing changes but what the hook writes
        yield WatchEvent("BOOKMARK", {})


def make_actions(count: int) -> list[dict[str, Any]]:
    return [
        {
            "metadata": {
                "name": f"bench-{n}",
                "namespace": "default",
                "uid": str(uuid.UUID(int=n + 1)),
                "resourceVersion": "5",
            },
            "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "x"}]}}},
            "status": {"phase": "RUNNING", "attempts": 1},
        }
        for n in range(count)
    ]


async def serve(
    port: int, actions: list[dict[str, Any]], window: float, ready: Any, stop: Any
) -> int:
    api = MemoryApi(actions)
    settings = HookSettings(
        rate_per_second=100_000,
        rate_burst=100_000,
        namespace_rate_per_second=100_000,
        namespace_rate_burst=100_000,
        max_future_seconds=0.0,  # no start fence to wait out: the load starts at once
        coalesce_window_seconds=window,
    )
    kube: Any = api
    cache = ActionCache(kube)
    writer = StatusWriter(kube, cache, settings.limits)
    coalescer = Coalescer(
        writer,
        settings.coalesce_window_seconds,
        pacer=WritePacer(settings.status_writes_per_second, settings.status_writes_burst),
    )
    hook = Hook(
        settings,
        kube,
        cache,
        writer,
        coalescer,
        Stores({}),
        WindowReplayGuard(settings.time_window_seconds, settings.max_future_seconds),
        lambda: KEYS,
        Budgets(Rate(5000, 5000), Rate(100_000, 100_000), Rate(100_000, 100_000)),
        metrics=HookMetrics(),
    )
    cache.add_handler(hook.on_action)
    cache.start()
    assert await cache.wait_synced(10)
    http = create_server(hook) if not BARE else bare_server()
    server = await asyncio.get_running_loop().create_server(http, "127.0.0.1", port)
    ready.set()
    await asyncio.to_thread(stop.wait)
    await coalescer.close()
    server.close()
    await http.shutdown(grace=5.0)
    await cache.stop()
    return api.patches


BARE = False  # --bare: the HTTP server alone, for the floor under the hook's own code


def bare_server() -> HttpServer:
    """What the HTTP server and the kernel cost without the hook: read the body, answer
    JSON, on the server the hook runs on (``server.create_server``), at once when the
    body came with the headers, as the hook answers a report."""

    def answer(request: Request) -> Response:
        request.body()
        return json_response({"id": request.headers.get("X-Job-Id"), "progress": 1})

    async def later(request: Request) -> Response:
        await request.read()
        return answer(request)

    def status(request: Request) -> Response | Awaitable[Response]:
        return answer(request) if request.body_complete() else later(request)

    return HttpServer(status, max_body=65536)


def hook_process(
    port: int,
    actions: list[dict[str, Any]],
    profile: str | None,
    loop: str,
    window: float,
    ready: Any,
    stop: Any,
    out: Any,
) -> None:
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    gc_time = [0.0, 0.0]  # seconds in the cyclic collector, start of the current pass

    def gc_timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_time[1]

    gc.callbacks.append(gc_timer)
    cpu = time.process_time()
    factory = None
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        patches = runner.run(serve(port, actions, window, ready, stop))
    cpu = time.process_time() - cpu
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    out.put((patches, cpu, gc_time[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=int, nargs="?", default=20000)
    parser.add_argument("connections", type=int, nargs="?", default=64)
    parser.add_argument("actions", type=int, nargs="?", default=200)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--profile", help="write the hook process's cProfile stats here")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--bare", action="store_true", help="the HTTP server alone (no hook)")
    parser.add_argument(
        "--coalesce-window",
        type=float,
        default=1.0,
        help="seconds (bench_hook_instructions.py sets an hour: one write per action)",
    )
    args = parser.parse_args()
    global BARE
    BARE = args.bare
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    actions = make_actions(args.actions)
    context = multiprocessing.get_context("fork")
    ready, stop, out = context.Event(), context.Event(), context.Queue()
    server = context.Process(
        target=hook_process,
        args=(port, actions, args.profile, args.loop, args.coalesce_window, ready, stop, out),
    )
    server.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the hook did not start")
        print(f"hook process {server.pid} on port {port}", flush=True)
        uids = [a["metadata"]["uid"] for a in actions]
        targets = [(uid, KEYS.issue("default", uid, 1)) for uid in uids]
        result = run_load(
            f"http://127.0.0.1:{port}", targets, args.reports, args.connections, args.processes
        )
        time.sleep(1.2)  # the last coalescing window
    finally:
        stop.set()
    patches, hook_cpu, gc_seconds = out.get(timeout=60)
    server.join()
    print(result.summary())
    print(
        f"hook CPU {hook_cpu:.2f} s over its whole life"
        f" ({hook_cpu / max(1, len(result.latencies)) * 1e6:.0f} µs a report;"
        f" {gc_seconds:.2f} s of it in the cyclic garbage collector)"
    )
    print(
        f"status patches written: {patches} for {args.actions} actions"
        f" (coalesce window {args.coalesce_window:g} s;"
        f" {len(result.latencies) / max(1, patches):.1f} reports per write)"
    )


if __name__ == "__main__":
    main()
