"""Settings of the job hook (flags of ``asyncaction-hook``, see ``main``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HookSettings:
    base_path: str = ""
    allow_v1: bool = True
    time_window_seconds: float = 300.0
    coalesce_window_seconds: float = 1.0
    max_body_bytes: int = 1024 * 1024
    max_result_bytes: int = 64 * 1024
    log_tail_lines: int = 100
    presign_expiry_seconds: int = 300
    rate_per_second: float = 200.0
    rate_burst: int = 400
    shard: int = 0
    shards: int = 1
