"""Event-loop stalls of the operator's own work at 100,000 actions (issue 13, deliverable 3).

The real ``Manager`` (caches, admission, action controller, work queue, 32 workers)
runs in-process against an in-memory API: paginated LISTs (500 per page) answered from
JSON pages encoded beforehand, so decoding each page is part of the measured work, and
watches that stay quiet. Half the actions wait ``QUEUED`` in a suspended ActionQueue,
half are ``SUCCEEDED``; every status is already correct, so nothing is written.

A probe task asks for a turn of the event loop every 10 ms, as a liveness probe's
answer would; the benchmark prints the longest it waited (the loop's stall) through

1. start-up and sync (the LIST pages into the caches, admission built per action),
2. the first reconcile of every action,
3. a resync (every action queued and reconciled again),
4. one ``/metrics`` scrape (the gauges are read from the caches then),
5. the suspended queue resumed (as its ActionQueue's edit does): every waiting action
   granted a slot and queued (the queue has no limit), until none waits,

and the API writes made before stage 5 (goal: none), the time of each stage and the RSS
growth of the process over the pages held by the fake (the operator's own structures).

    flock /tmp/asyncaction-cluster.lock .venv/bin/python -u bench/bench_loop.py [COUNT] [--stalls]

``--stalls`` also prints, for the longest stall of each stage, the stacks the loop's
thread was sampled in during it (``StallSampler``).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from prometheus_client import generate_latest

import asyncaction.handlers  # noqa: F401 - the operator process's modules, for its RSS
from asyncaction.api.names import API_VERSION
from asyncaction.api.phases import Phase
from asyncaction.controllers.admission import QueueLimits
from asyncaction.controllers.manager import Manager
from asyncaction.kube import NotFound, paths
from asyncaction.settings import OperatorSettings
from asyncaction.timeutil import format_time, utcnow
from testbed import settled_status
from tests.support.procs import ensure_master_keys

NAMESPACE = "loop"
PAGE = 500
PROBE_SECONDS = 0.01
POD = {"spec": {"containers": [{"name": "main", "image": "busybox", "command": ["true"]}]}}


def action(index: int, version: int) -> dict[str, Any]:
    queued = index % 2 == 0
    queue = "held" if queued else "default"
    spec: dict[str, Any] = {"template": POD, "request": {"n": index}}
    if queued:
        spec["queue"] = "held"
    return {
        "apiVersion": API_VERSION,
        "kind": "AsyncAction",
        "metadata": {
            "name": f"a-{index:06d}",
            "namespace": NAMESPACE,
            "uid": str(uuid.uuid4()),
            "generation": 1,
            "resourceVersion": str(version),
            "creationTimestamp": format_time(utcnow()),
            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {}}],
        },
        "spec": spec,
        "status": settled_status(Phase.QUEUED if queued else Phase.SUCCEEDED, NAMESPACE, queue),
    }


def pages_of(count: int) -> list[bytes]:
    pages: list[bytes] = []
    for start in range(0, count, PAGE):
        items = [action(i, 1000 + i) for i in range(start, min(count, start + PAGE))]
        more = start + PAGE < count
        meta = {
            "resourceVersion": str(1000 + count),
            **({"continue": str(len(pages) + 1)} if more else {}),
        }
        pages.append(json.dumps({"items": items, "metadata": meta}).encode())
    return pages


class PagedApi:
    """LIST from encoded pages, quiet watches, and a count of writes (there should be none)."""

    def __init__(self, pages: list[bytes]) -> None:
        self.pages = pages
        self.writes = 0
        queue = {
            "apiVersion": API_VERSION,
            "kind": "ActionQueue",
            "metadata": {
                "name": "held",
                "namespace": NAMESPACE,
                "uid": "q",
                "resourceVersion": "1",
            },
            "spec": {"suspend": True},
            "status": {"phaseCounts": {"QUEUED": len(pages) * PAGE // 2}, "active": 0},
        }
        self.queue_page = json.dumps({"items": [queue], "metadata": {"resourceVersion": "1"}})

    async def request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, **_: Any
    ) -> dict[str, Any]:
        await asyncio.sleep(0)  # a real response is read from the socket: the loop turns
        if (params or {}).get("labelSelector"):
            # No action here carries a label: the API server filters them all out (the
            # schedule controller's runs cache selects ``asyncaction.dev/schedule``).
            return {"items": [], "metadata": {"resourceVersion": "1"}}
        if path == paths.action_path(NAMESPACE):
            index = int((params or {}).get("continue", "0"))
            page: dict[str, Any] = json.loads(self.pages[index])
            return page
        if path == paths.queue_path(NAMESPACE):
            return dict(json.loads(self.queue_page))
        return {"items": [], "metadata": {"resourceVersion": "1"}}

    async def watch(self, path: str, **_: Any) -> AsyncIterator[Any]:
        await asyncio.Event().wait()
        yield None  # pragma: no cover - never reached

    async def get(self, path: str) -> dict[str, Any]:
        raise NotFound(404, "NotFound", path)

    async def create(self, path: str, body: Any) -> dict[str, Any]:
        self.writes += 1
        raise NotFound(404, "NotFound", path)

    async def patch(self, path: str, body: Any, **_: Any) -> dict[str, Any]:
        self.writes += 1
        raise NotFound(404, "NotFound", path)

    async def delete(self, path: str, **_: Any) -> None:
        self.writes += 1


class Leader:
    """Always the leader: the benchmark measures the controllers, not the election."""

    def __init__(self) -> None:
        self.lost = asyncio.Event()

    async def acquire(self) -> None:
        return None

    async def keep(self) -> None:
        await asyncio.Event().wait()

    async def release(self) -> None:
        return None


def rss_mib(field: str = "VmRSS") -> float:
    """The process's resident memory now (``VmHWM``: its peak so far), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


Stack = tuple[str, ...]


def stack_of(frame: FrameType | None, depth: int = 14) -> Stack:
    """The innermost ``depth`` frames as ``file:function:line``, innermost first."""
    found: list[str] = []
    while frame is not None and len(found) < depth:
        code = frame.f_code
        where = "/".join(code.co_filename.rsplit("/", 2)[-2:])
        found.append(f"{where}:{code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return tuple(found)


class StallSampler(threading.Thread):
    """What the event loop's thread runs while the loop is stalled (``--stalls``).

    The probe beats on every turn it gets; this thread looks every ``interval`` and,
    when the last beat is older than ``threshold``, samples the loop thread's stack into
    the record of that stall (one stall: all samples after the same beat). Python code
    only: a long C call (one ``json.loads``) shows as the Python line that made it.
    """

    def __init__(self, threshold: float = 0.03, interval: float = 0.002) -> None:
        super().__init__(daemon=True, name="stall-sampler")
        self.loop_thread = threading.get_ident()
        self.threshold, self.interval = threshold, interval
        self.beat_at = time.monotonic()
        self.stage = ""
        self.stalls: dict[tuple[str, float], collections.Counter[Stack]] = {}

    def beat(self, stage: str) -> None:
        self.beat_at, self.stage = time.monotonic(), stage

    def run(self) -> None:
        while True:
            time.sleep(self.interval)
            beat_at = self.beat_at
            if time.monotonic() - beat_at < self.threshold:
                continue
            frame = sys._current_frames().get(self.loop_thread)
            record = self.stalls.setdefault((self.stage, beat_at), collections.Counter())
            record[stack_of(frame)] += 1

    def report(self, stage: str, top: int = 4) -> None:
        stalls = [(k, v) for k, v in self.stalls.items() if k[0] == stage]
        if not stalls:
            return
        _, samples = max(stalls, key=lambda item: sum(item[1].values()))
        total = sum(samples.values())
        print(f"    longest stall of {stage!r}: {total} samples; where it ran:")
        for stack, count in samples.most_common(top):
            print(f"      {count:4d} x " + "\n             < ".join(stack))


class GcWatch:
    """The cyclic collector's pauses per stage and generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.stage = ""
        self.started = 0.0
        self.pauses: dict[tuple[str, int], list[float]] = {}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        pause = time.perf_counter() - self.started
        self.pauses.setdefault((self.stage, info["generation"]), []).append(pause)

    def report(self, stage: str) -> None:
        parts = [
            f"gen{gen} {len(p)} x, longest {max(p) * 1000:.1f} ms, total {sum(p) * 1000:.0f} ms"
            for (name, gen), p in sorted(self.pauses.items())
            if name == stage
        ]
        print("    GC: " + ("; ".join(parts) or "none"))


class Probe:
    def __init__(self, sampler: StallSampler | None = None) -> None:
        self.worst: dict[str, float] = {}
        self.stage = "start-up and sync"
        self.sampler = sampler
        self.gc: GcWatch | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            if self.sampler is not None:
                self.sampler.beat(self.stage)
            if self.gc is not None:
                self.gc.stage = self.stage
            await asyncio.sleep(PROBE_SECONDS)
            waited = loop.time() - asked - PROBE_SECONDS
            self.worst[self.stage] = max(self.worst.get(self.stage, 0.0), waited)


async def until_processed(manager: Manager, total: int) -> None:
    while manager.action_queue.stats.processed < total:  # noqa: ASYNC110 - a poll is fine
        await asyncio.sleep(0.05)


async def measure(count: int, *, stalls: bool = False) -> None:
    imported = rss_mib()
    started = time.monotonic()
    pages = pages_of(count)
    gc.collect()
    before = rss_mib()
    print(f"{count} actions in {len(pages)} pages encoded in {time.monotonic() - started:.1f} s")
    api = PagedApi(pages)
    settings = OperatorSettings(
        namespaces=(NAMESPACE,),
        master_keys_file=str(ensure_master_keys(Path(tempfile.mkdtemp()))),
        resync_seconds=10**9,
    )
    manager = Manager(api, settings)  # type: ignore[arg-type]
    manager.leader = Leader()  # type: ignore[assignment]
    sampler = StallSampler() if stalls else None
    if sampler is not None:
        sampler.start()
    probe = Probe(sampler)
    if stalls:
        probe.gc = GcWatch()
        gc.callbacks.append(probe.gc)
    probing = asyncio.create_task(probe.run())
    clock = time.monotonic()
    running = asyncio.create_task(manager.run())
    await manager.synced.wait()
    stages = {"start-up and sync": time.monotonic() - clock}
    probe.stage, clock = "first reconcile of every action", time.monotonic()
    await until_processed(manager, count)
    stages[probe.stage] = time.monotonic() - clock
    grown = rss_mib() - before
    probe.stage, clock = "resync", time.monotonic()
    resync = getattr(manager, "resync_once", None)
    if resync is not None:
        await resync()
    else:  # the code before issue 13 (for a before/after figure): the resync's body
        for key in manager.caches.actions.all_keys():
            manager.action_queue.add(key)
    await until_processed(manager, 2 * count)
    stages[probe.stage] = time.monotonic() - clock
    probe.stage, clock = "a /metrics scrape", time.monotonic()
    await asyncio.sleep(0.05)  # the probe's turn comes in this stage
    generate_latest(manager.metrics.registry)  # as runtime/metrics_server.py answers it
    await asyncio.sleep(0.05)
    stages[probe.stage] = time.monotonic() - clock
    writes = api.writes
    probe.stage, clock = "the suspended queue resumed", time.monotonic()
    held_queue = (NAMESPACE, "held")
    manager.admissions.set_limits(held_queue, QueueLimits(None))  # as QueueController does
    manager.actions.wake_granted(held_queue)
    while manager.admissions.waiting_count(held_queue):  # noqa: ASYNC110 - a poll is fine
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the probe's turn, to record a stall that ended the stage
    stages[probe.stage] = time.monotonic() - clock
    for task in (running, probing):
        task.cancel()
    await asyncio.gather(running, probing, return_exceptions=True)
    if probe.gc is not None:
        gc.callbacks.remove(probe.gc)
    for stage, seconds in stages.items():
        print(
            f"  {stage:32s} {seconds:6.1f} s, longest loop stall "
            f"{probe.worst.get(stage, 0.0) * 1000:6.1f} ms"
        )
        if sampler is not None:
            sampler.report(stage)
        if probe.gc is not None:
            probe.gc.report(stage)
    print(f"  API writes before stage 5 {writes}; RSS growth over the pages {grown:.0f} MiB")
    print(f"  operator RSS (modules + growth) {imported + grown:.0f} MiB")
    held = sum(len(page) for page in pages) / 2**20
    print(
        f"  process RSS {rss_mib():.0f} MiB (peak {rss_mib('VmHWM'):.0f} MiB), of which "
        f"{held:.0f} MiB are the fake's encoded pages and {imported:.0f} MiB the "
        "interpreter and the operator's modules before them"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    profile = "--stalls" in args
    for target in [int(a) for a in args if a.isdigit()] or [100_000]:
        asyncio.run(measure(target, stalls=profile))
