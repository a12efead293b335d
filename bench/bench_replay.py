"""Memory and speed of the hook's replay memory holding a whole time window, and the
hook-side cost of authenticating one report.

Feeds ``WindowReplayGuard`` the signatures of RATE reports a second for the window
(300 s past + 5 s future, the defaults), as a hook at that rate would remember them, and
prints the entries held, the memory they take (tracemalloc) and the cost per check.

    .venv/bin/python bench/bench_replay.py [RATE]   (default 3000, the hook's measured rate)
"""

from __future__ import annotations

import secrets
import sys
import time
import tracemalloc

from asyncaction_hook.auth import WindowReplayGuard

WINDOW_S, FUTURE_S = 300, 5


def main(rate: int) -> None:
    guard = WindowReplayGuard(past_seconds=WINDOW_S, future_seconds=FUTURE_S)
    uid = "0b9f1a52-52d4-4bd6-9b4f-8f7c0a0e1c11"
    signatures = [secrets.token_hex(32) for _ in range(rate)]  # reused across seconds:
    start_ms = 1_800_000_000_000  # the guard keys by (id, signature), so vary the id's tail
    tracemalloc.start()
    started = time.perf_counter()
    total = 0
    for second in range(WINDOW_S + FUTURE_S):
        now = start_ms + second * 1000
        job = f"{uid[:-4]}{second:04d}"
        for signature in signatures:
            assert guard.accept_once(job, signature, now, now)
            total += 1
    elapsed = time.perf_counter() - started
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # signed 10 s after the start, now 295 s old: inside the window, so still remembered
    replayed = not guard.accept_once(f"{uid[:-4]}0010", signatures[0], start_ms + 10_000, now)
    print(
        f"rate {rate}/s over {WINDOW_S + FUTURE_S} s: {guard.size:,} entries held, "
        f"{current / 2**20:.0f} MiB, {elapsed / total * 1e6:.2f} us per check "
        f"(under tracemalloc); a signature 295 s old refused as a replay: {replayed}"
    )


def authentication_cost(n: int = 5000) -> None:
    """Headers, key derivation (current and next attempt), signature, JSON and bounds."""
    import json

    from asyncaction.keys import MasterKeys
    from asyncaction_hook.auth import matching_attempt, parse_headers
    from asyncaction_hook.limits import Limits, check_report, parse_json
    from asyncaction_hook.reports import Report
    from asyncaction_job.signing import Signer, headers_v2

    keys = MasterKeys((b"m" * 48,))
    uid = "0b9f1a52-52d4-4bd6-9b4f-8f7c0a0e1c11"
    key = keys.issue("default", uid, 1)
    body = json.dumps({"progress": 5, "statusDetails": {"n": 5}}).encode()
    now = int(time.time() * 1000)
    signed = [headers_v2(uid, key, "POST", "/status", body, now + i) for i in range(n)]
    started = time.perf_counter()
    for headers in signed:
        parsed = parse_headers(
            headers, now_ms=now, past_seconds=300, future_seconds=5, allow_v1=True
        )
        candidates = [
            (a, tuple(Signer(k) for k in keys.accepted("default", uid, a))) for a in (1, 2)
        ]
        matching_attempt(parsed, method="POST", path="/status", body=body, candidates=candidates)
        report = Report.model_validate(parse_json(body, 32))
        check_report(report.status_details, report.logs, Limits())
    per = (time.perf_counter() - started) / n * 1e6
    print(f"authenticating and checking one report: {per:.0f} us")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
    authentication_cost()
