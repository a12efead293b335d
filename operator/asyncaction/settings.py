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
    # Longest sleep of an action's reconcile loop while nothing wakes it.
    poll_seconds: float = 30.0
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
    # kopf persistence and watching.
    finalizer: str = "asyncaction.dev/finalizer"
    storage_prefix: str = "asyncaction.dev"
    watch_server_timeout: int = 300
    watch_client_timeout: int = 330

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
