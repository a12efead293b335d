"""``asyncaction-hook``: run the job hook service."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from asyncaction.keys import MASTER_KEYS_ENV, MasterKeysFile
from asyncaction.runtime import heap
from asyncaction.runtime.listen import ListenError, start_server
from asyncaction.runtime.metrics_server import serve_metrics
from asyncaction.stores import Stores
from asyncaction_hook.app import Hook
from asyncaction_hook.auth import WindowReplayGuard
from asyncaction_hook.budgets import Budgets, Rate
from asyncaction_hook.cache import ActionCache
from asyncaction_hook.fence import ShardFence
from asyncaction_hook.logs import configure as configure_logs
from asyncaction_hook.metrics import CountingKubeClient, HookMetrics
from asyncaction_hook.pacing import WritePacer
from asyncaction_hook.server import create_server
from asyncaction_hook.settings import HookSettings
from asyncaction_hook.uploads import sweep_forever
from asyncaction_hook.writer import Coalescer, StatusWriter


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = HookSettings()
    p = argparse.ArgumentParser(prog="asyncaction-hook", description="The AsyncAction job hook.")
    p.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a service in a pod
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--base-path", default=defaults.base_path)
    p.add_argument("--kubeconfig", default=os.environ.get("ASYNCACTION_KUBECONFIG"))
    p.add_argument(
        "--stores-config", type=Path, default=os.environ.get("ASYNCACTION_STORES_CONFIG") or None
    )
    p.add_argument("--allow-v1", action=argparse.BooleanOptionalAction, default=defaults.allow_v1)
    p.add_argument(
        "--master-keys-file",
        type=Path,
        default=os.environ.get(MASTER_KEYS_ENV) or None,
        help="the operator's master keys (one a line; every line is accepted); required",
    )
    p.add_argument("--time-window", type=float, default=defaults.time_window_seconds)
    p.add_argument(
        "--max-future",
        type=float,
        default=defaults.max_future_seconds,
        help="seconds X-Job-Time may be ahead of the hook's clock",
    )
    p.add_argument("--coalesce-window", type=float, default=defaults.coalesce_window_seconds)
    p.add_argument(
        "--status-writes-per-second",
        type=float,
        default=defaults.status_writes_per_second,
        help="coalesced progress writes a second of this process, all actions together; "
        "past it each action's window stretches (0: no bound)",
    )
    p.add_argument("--status-writes-burst", type=int, default=defaults.status_writes_burst)
    p.add_argument("--max-body", type=int, default=defaults.max_body_bytes)
    p.add_argument("--max-result", type=int, default=defaults.max_result_bytes)
    p.add_argument("--log-tail-lines", type=int, default=defaults.log_tail_lines)
    p.add_argument("--max-details", type=int, default=defaults.max_details_bytes)
    p.add_argument("--max-log-line", type=int, default=defaults.max_log_line_chars)
    p.add_argument("--max-pending-uploads", type=int, default=defaults.max_pending_uploads)
    p.add_argument("--max-outputs", type=int, default=defaults.max_outputs)
    p.add_argument("--max-status", type=int, default=defaults.max_status_bytes)
    p.add_argument("--presign-expiry", type=int, default=defaults.presign_expiry_seconds)
    p.add_argument("--rate", type=float, default=defaults.rate_per_second)
    p.add_argument("--burst", type=int, default=defaults.rate_burst)
    p.add_argument(
        "--namespace-rate",
        type=float,
        default=defaults.namespace_rate_per_second,
        help="authenticated requests a second of one namespace's jobs together",
    )
    p.add_argument("--namespace-burst", type=int, default=defaults.namespace_rate_burst)
    p.add_argument(
        "--global-rate",
        type=float,
        default=defaults.global_rate_per_second,
        help="requests a second that fail authentication, all together (their own budget)",
    )
    p.add_argument("--global-burst", type=int, default=defaults.global_rate_burst)
    p.add_argument(
        "--hold-seconds",
        type=float,
        default=defaults.hold_seconds,
        help="how long a request waits for the first cache sync and the shard Lease",
    )
    p.add_argument("--s3-per-namespace", type=int, default=defaults.s3_per_namespace)
    p.add_argument(
        "--shard-lease-namespace",
        default=os.environ.get("POD_NAMESPACE", ""),
        help="namespace of the shard Leases (one process per shard at a time); empty: no "
        "Lease, requests signed before start + --max-future are refused instead",
    )
    p.add_argument("--shard-lease-name", default="asyncaction-hook", help="Lease name prefix")
    p.add_argument("--shard-lease-seconds", type=int, default=15)
    p.add_argument("--shard", type=int, default=0, help="this replica's shard (0-based)")
    p.add_argument(
        "--hook-url",
        default=os.environ.get("ASYNCACTION_HOOK_URL", ""),
        help="the replicas' URL template with {shard}, as the operator's; 421 answers name "
        "the right replica with it",
    )
    p.add_argument(
        "--shards",
        type=int,
        default=1,
        help="number of hook replicas; the operator's ASYNCACTION_HOOK_SHARDS",
    )
    p.add_argument(
        "--drain-seconds",
        type=float,
        default=0.0,
        help="after SIGTERM, keep serving this long before closing (endpoint propagation)",
    )
    p.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with another process (a successor started beside this one)",
    )
    p.add_argument(
        "--sweep-interval",
        type=float,
        default=30.0,
        help="seconds between checks of uploads not yet recorded",
    )
    p.add_argument(
        "--metrics-path", default=defaults.metrics_path, help="path of the Prometheus metrics"
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve the metrics on this port instead of the API's (0: the API's port)",
    )
    p.add_argument("--log-format", default="plain", choices=["plain", "json"])
    args = p.parse_args(argv)
    if not 0 <= args.shard < args.shards:
        p.error(f"--shard must be in 0..{args.shards - 1}")
    if args.master_keys_file is None:
        p.error(f"--master-keys-file (or {MASTER_KEYS_ENV}) is required")
    if args.status_writes_per_second < 0:
        p.error("--status-writes-per-second must be 0 (no bound) or more")
    if args.status_writes_burst < 1:
        p.error("--status-writes-burst must be at least 1")
    return args


async def serve(args: argparse.Namespace) -> None:
    settings = HookSettings(
        base_path=args.base_path,
        allow_v1=args.allow_v1,
        time_window_seconds=args.time_window,
        max_future_seconds=args.max_future,
        coalesce_window_seconds=args.coalesce_window,
        status_writes_per_second=args.status_writes_per_second,
        status_writes_burst=args.status_writes_burst,
        max_body_bytes=args.max_body,
        max_result_bytes=args.max_result,
        log_tail_lines=args.log_tail_lines,
        max_details_bytes=args.max_details,
        max_log_line_chars=args.max_log_line,
        max_pending_uploads=args.max_pending_uploads,
        max_outputs=args.max_outputs,
        max_status_bytes=args.max_status,
        presign_expiry_seconds=args.presign_expiry,
        rate_per_second=args.rate,
        rate_burst=args.burst,
        namespace_rate_per_second=args.namespace_rate,
        namespace_rate_burst=args.namespace_burst,
        global_rate_per_second=args.global_rate,
        global_rate_burst=args.global_burst,
        hold_seconds=args.hold_seconds,
        s3_per_namespace=args.s3_per_namespace,
        shard=args.shard,
        shards=args.shards,
        hook_url=args.hook_url,
        metrics_path="" if args.metrics_port else args.metrics_path,
    )
    master_keys = MasterKeysFile(args.master_keys_file)
    kube = await CountingKubeClient.from_kubeconfig(args.kubeconfig)
    metrics = HookMetrics()
    kube.on_response = metrics.count_request
    cache = ActionCache(kube, shard=settings.shard, shards=settings.shards)
    fence = None
    if args.shard_lease_namespace:
        fence = ShardFence(
            kube,
            args.shard_lease_namespace,
            f"{args.shard_lease_name}-shard-{settings.shard}",
            future_ms=int(settings.max_future_seconds * 1000),
            duration_s=args.shard_lease_seconds,
        )
    writer = StatusWriter(kube, cache, settings.limits)
    stores = Stores.from_file(args.stores_config, settings.presign_expiry_seconds)
    coalescer = Coalescer(
        writer,
        settings.coalesce_window_seconds,
        keep_lines=settings.log_tail_lines,
        pacer=WritePacer(settings.status_writes_per_second, settings.status_writes_burst),
    )
    budgets = Budgets(
        unauthenticated=Rate(settings.global_rate_per_second, settings.global_rate_burst),
        namespace=Rate(settings.namespace_rate_per_second, settings.namespace_rate_burst),
        action=Rate(settings.rate_per_second, settings.rate_burst),
    )
    hook = Hook(
        settings,
        kube,
        cache,
        writer,
        coalescer,
        stores,
        WindowReplayGuard(settings.time_window_seconds, settings.max_future_seconds),
        master_keys.current,
        budgets,
        fence,
        metrics=metrics,
    )
    coalescer.extra = hook.verify_pending  # every coalesced write checks pending uploads
    cache.add_handler(hook.on_action)
    cache.start()
    settling = asyncio.create_task(_settle_when_synced(cache))
    # Listen at once: a request that arrives before the first sync, or before this
    # process holds its shard, is held (bounded) rather than refused.
    http = create_server(hook)
    if fence is not None:
        await fence.announce()  # before any request can arrive here
    log = logging.getLogger(__name__)
    metrics_runner = None
    server: asyncio.Server | None = None
    try:
        server = await start_server(
            http, args.host, args.port, "--host/--port", reuse_port=args.reuse_port
        )
        log.info("job hook listening on %s:%s", args.host, args.port)
        if args.metrics_port:
            metrics_runner = await serve_metrics(
                metrics.registry,
                f"{args.host}:{args.metrics_port}",
                args.metrics_path,
                setting="--metrics-port",
            )
    except ListenError:
        if server is not None:
            server.close()
        settling.cancel()
        await asyncio.gather(settling, return_exceptions=True)
        await cache.stop()
        await kube.close()
        raise
    tasks = [asyncio.create_task(sweep_forever(hook, args.sweep_interval)), settling]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    waiters: list[asyncio.Task[bool]] = [asyncio.create_task(stop.wait())]
    if fence is not None:
        await _acquire_or_stop(fence, stop)
        tasks.append(asyncio.create_task(fence.keep()))
        waiters.append(asyncio.create_task(fence.lost.wait()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set() and args.drain_seconds:
            # Keep answering while the Service stops routing here (endpoints propagate).
            await asyncio.sleep(args.drain_seconds)
    finally:
        # Stop listening and finish the requests in flight (each was accepted while this
        # process held the shard), then hand the shard over with what was accepted.
        server.close()
        await http.shutdown(grace=5.0)
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        if fence is not None:
            await fence.release()
        for task in [*tasks, *waiters]:
            task.cancel()
        await coalescer.close()
        await cache.stop()
        await kube.close()
    if fence is not None and fence.lost.is_set():
        log.error("the shard Lease was lost; exiting so that a new process takes over")
        raise SystemExit(1)


async def _settle_when_synced(cache: ActionCache) -> None:
    """Once the first LISTs are in: the summaries out of the collector's way and the
    pages' freed memory back to the system (at 100,000 actions, 9 MiB of RSS)."""
    while not await cache.wait_synced(60):
        pass
    heap.settle()
    heap.trim()


async def _acquire_or_stop(fence: ShardFence, stop: asyncio.Event) -> None:
    """Wait for the shard Lease, unless asked to stop meanwhile."""
    acquiring = asyncio.ensure_future(fence.acquire())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([acquiring, stopping], return_when=asyncio.FIRST_COMPLETED)
    if not acquiring.done():
        acquiring.cancel()
    else:
        acquiring.result()
        stopping.cancel()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logs(args.log_format)
    try:
        asyncio.run(serve(args))
    except ListenError as exc:  # a port taken: say which flag chose it, no traceback
        logging.getLogger(__name__).critical("the job hook cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
