"""Settings of the job hook (flags of ``asyncaction-hook``, see ``main``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HookSettings:
    base_path: str = ""
    allow_v1: bool = True
    time_window_seconds: float = 300.0
    # How far ahead of the hook's clock X-Job-Time may be (clock skew between nodes);
    # also how long a restarted hook refuses requests signed before it could vouch.
    max_future_seconds: float = 5.0
    coalesce_window_seconds: float = 1.0
    max_body_bytes: int = 1024 * 1024
    max_result_bytes: int = 64 * 1024
    log_tail_lines: int = 100
    presign_expiry_seconds: int = 300
    rate_per_second: float = 200.0
    rate_burst: int = 400
    # All requests together, before any authentication: a flood of made-up requests
    # costs a token each and nothing more.
    global_rate_per_second: float = 5000.0
    global_rate_burst: int = 5000
    shard: int = 0
    shards: int = 1
