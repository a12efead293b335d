"""Operator settings, read once from the environment (and CLI flags in ``main``).

Every knob has a production default; tests and ``make up`` shorten the timings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

ENV_PREFIX = "ASYNCACTION_"


@dataclass(frozen=True)
class OperatorSettings:
    # Base URL of the job hook as jobs reach it (the JOB_HOOK they receive).
    hook_url: str = "http://asyncaction-hook:8080"
    # With several hook replicas: hook_url contains "{shard}" and this is their number.
    hook_shards: int = 1
    # Retry backoff of failed attempts: base * 2**(failures-1), capped.
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 300.0
    # Longest time between two reconciles of an active action while nothing changes.
    # Such a reconcile reads only the caches: it costs no API request.
    poll_seconds: float = 30.0
    # Every action is reconciled again about this often (jittered): the safety net.
    resync_seconds: float = 600.0
    # A Job creation refused with 403 (quota, an admission webhook) is retried this
    # many times (with backoff) before the action fails with reason Forbidden.
    job_create_retries: int = 5
    # Workers reconciling actions at once (each key by one worker at a time).
    workers: int = 32
    # Namespaces served, separated by spaces (empty: all); `--namespace` sets it.
    namespaces: tuple[str, ...] = ()
    # Leader election (coordination.k8s.io Lease): only the holder runs the controllers.
    # The Lease lives in `lease_namespace`, default: the first served namespace, else
    # `default`.
    lease_name: str = "asyncaction-operator"
    lease_namespace: str = ""
    lease_seconds: int = 15
    lease_renew_seconds: float = 5.0
    # Limit of the implied `default` queue when no ActionQueue object defines it (0: none).
    default_max_concurrent: int = 0
    # Command that wraps containers of actions using typed arguments or S3 streams.
    entrypoint: tuple[str, ...] = field(default=("asyncaction-job", "run", "--"))
    # Stores file (the hook's format) and store name for archiving expired actions; "" = off.
    archive_config: str = ""
    archive_store: str = "default"
    # File of master keys the per-attempt job keys are derived from, shared only with
    # the hook (asyncaction.keys; env ASYNCACTION_MASTER_KEYS_FILE). Required.
    master_keys_file: str = ""
    # The hook's stores file: with it, actions naming S3 keys outside their namespace's
    # grants fail (StoreAccessDenied) before any Job is created (asyncaction.tenancy).
    stores_config: str = ""
    # Server-side timeout of each watch request (the watch is then resumed).
    watch_server_timeout: int = 300
    # Prometheus metrics endpoint, as controller-runtime's --metrics-bind-address:
    # HOST:PORT, :PORT (every interface) or 0 (off; the chart turns it on).
    metrics_bind_address: str = "0"
    metrics_path: str = "/metrics"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorSettings:
        """``ASYNCACTION_HOOK_URL``, ``ASYNCACTION_BACKOFF_BASE_SECONDS``, ... override defaults."""
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        for item in fields(cls):
            raw = source.get(ENV_PREFIX + item.name.upper())
            if raw is None:
                continue
            default = getattr(cls(), item.name)
            if isinstance(default, tuple):
                values[item.name] = tuple(raw.split())
            elif isinstance(default, bool):
                values[item.name] = raw.lower() in ("1", "true", "yes")
            else:
                values[item.name] = type(default)(raw)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def lease_home(self) -> str:
        return self.lease_namespace or (self.namespaces[0] if self.namespaces else "default")
