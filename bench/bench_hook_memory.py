"""The hook's action cache at N actions, in-process: memory and the hook's own sync CPU.

No API server: N finished actions (each with a 1 KiB result, a 20-line log tail and
statusDetails, as ``bench_hook_scale.py`` creates them) are encoded beforehand as LIST
pages of 500, then each page is decoded and put into the hook's real ``ActionCache``
(summaries, uid map) as its informer does. Prints the RSS of the process with the hook's
modules imported, before and after, per action, and the CPU the hook spent decoding and
caching: what the hook itself adds to the readiness time ``bench_hook_scale.py``
measures against a real API server (the rest is the API server's and etcd's).

    .venv/bin/python bench/bench_hook_memory.py [N]   (default 100000)
"""

from __future__ import annotations

import gc
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

import asyncaction_hook.main  # noqa: F401 - the hook process's imports, as it runs
from asyncaction_hook.cache import ActionCache
from tests.support.fed import FedDirectly

PAGE = 500
# A finished action's status, as bench_hook_scale.py writes it too (importing this module
# costs that benchmark nothing: it runs the hook anyway).
FINISHED = {
    "phase": "SUCCEEDED",
    "attempts": 1,
    "progress": 100,
    "result": {"blob": "r" * 1024},
    "statusDetails": {"step": "done", "notes": "d" * 256},
    "logTail": [f"line {n}: " + "l" * 60 for n in range(20)],
}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def page(start: int, stop: int) -> bytes:
    """A LIST page as the API server sends it, built as text: building it as dicts would
    leave the benchmark's own garbage in the heap the hook's cache is measured in."""
    status = json.dumps(FINISHED)
    items = ",".join(
        '{"apiVersion":"asyncaction.dev/v1","kind":"AsyncAction","metadata":{'
        f'"name":"a-{i:06d}","namespace":"scale","uid":"{uuid.uuid4()}",'
        f'"resourceVersion":"{100000 + i}","generation":1,'
        '"creationTimestamp":"2026-11-30T00:00:00Z","managedFields":[{"manager":"operator",'
        '"operation":"Update","fieldsV1":{}}]},"spec":{"template":{"spec":{"containers":'
        f'[{{"name":"m","image":"x"}}]}}}}}},"status":{status}}}'
        for i in range(start, stop)
    )
    return f'{{"items":[{items}]}}'.encode()


def main(n: int) -> None:
    gc.collect()
    before = rss_mib()  # each encoded page (~1.3 MiB) is its own mapping, returned when freed
    pages = [page(start, min(n, start + PAGE)) for start in range(0, n, PAGE)]
    encoded = sum(len(page) for page in pages)
    cache = ActionCache(FedDirectly())  # pages are fed directly
    (informer,) = cache.actions.members.values()
    started = time.process_time()
    while pages:
        listed = json.loads(pages.pop(0))  # each page freed once cached, as in the hook
        for item in listed["items"]:
            informer._apply("ADDED", item)
    cpu = time.process_time() - started
    del listed
    gc.collect()
    after = rss_mib()
    first = informer.items["scale/a-000000"]["metadata"]["uid"]
    assert len(cache.actions) == n
    assert cache.action(first) is informer.items["scale/a-000000"]
    print(f"actions: {n} finished, {encoded / 2**20:.0f} MiB of LIST pages")
    print(f"RSS with the hook's modules: {before:.1f} MiB; with the cache: {after:.1f} MiB")
    print(f"per action: {(after - before) * 2**20 / n:.0f} B")
    print(f"hook CPU to decode and cache: {cpu:.2f} s ({1000 * cpu / n:.3f} ms per action)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100000)
