"""Settings of the job hook (flags of ``asyncaction-hook``, see ``main``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from asyncaction_hook.limits import Limits


@dataclass(frozen=True)
class HookSettings:
    base_path: str = ""
    allow_v1: bool = True
    time_window_seconds: float = 300.0
    # How far ahead of the hook's clock X-Job-Time may be (clock skew between nodes);
    # also how long a restarted hook refuses requests signed before it could vouch.
    max_future_seconds: float = 5.0
    coalesce_window_seconds: float = 1.0
    # Coalesced progress writes of this process together (``pacing``): past this rate
    # each action's window stretches, so the API server's load does not grow with the
    # number of running actions. 0: no bound.
    status_writes_per_second: float = 100.0
    status_writes_burst: int = 100
    max_body_bytes: int = 1024 * 1024
    max_result_bytes: int = 64 * 1024
    log_tail_lines: int = 100
    max_details_bytes: int = Limits.max_details_bytes
    max_log_line_chars: int = Limits.max_log_line_chars
    max_pending_uploads: int = Limits.max_pending_uploads
    max_outputs: int = Limits.max_outputs
    max_json_depth: int = Limits.max_json_depth
    max_status_bytes: int = Limits.max_status_bytes
    presign_expiry_seconds: int = 300
    # Per action, drawn by authenticated requests only.
    rate_per_second: float = 200.0
    rate_burst: int = 400
    # Per namespace, drawn by authenticated requests only: one tenant's jobs cannot
    # starve another's.
    namespace_rate_per_second: float = 2000.0
    namespace_rate_burst: int = 2000
    # Every request that fails authentication, together (its own budget: a flood of
    # made-up or badly signed requests never takes an authenticated job's token).
    global_rate_per_second: float = 5000.0
    global_rate_burst: int = 5000
    # How long a request that arrives before the first cache sync, or before this
    # process holds its shard, waits before it is answered 503; also how long the hook
    # waits for a request's body once its headers passed the cheap checks (then 408).
    hold_seconds: float = 8.0
    # S3 calls of one namespace in flight at once.
    s3_per_namespace: int = 4
    shard: int = 0
    shards: int = 1
    # The operator's ASYNCACTION_HOOK_URL (with "{shard}"): a 421 then names the replica
    # that serves the action, so jobs survive a change of the shard count.
    hook_url: str = ""
    # Where the API port serves Prometheus metrics ("" : not there, see --metrics-port).
    metrics_path: str = "/metrics"

    @functools.cached_property
    def limits(self) -> Limits:
        return Limits(
            max_details_bytes=self.max_details_bytes,
            max_log_line_chars=self.max_log_line_chars,
            log_tail_lines=self.log_tail_lines,
            max_pending_uploads=self.max_pending_uploads,
            max_outputs=self.max_outputs,
            max_json_depth=self.max_json_depth,
            max_status_bytes=self.max_status_bytes,
        )
