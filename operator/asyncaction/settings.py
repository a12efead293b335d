"""Operator settings: a validated model, read once from the environment and CLI flags.

Every knob has a production default; tests and ``make up`` shorten the timings. A value
that is out of range (``ASYNCACTION_WORKERS=0``), malformed (``POLL_SECONDS=30s``) or
inconsistent with another (a renew deadline as long as the Lease) is refused at start by
``SettingsError``, whose message names each ``ASYNCACTION_*`` variable and the form it
expects: an operator that starts runs with what its user meant, or does not start.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from asyncaction.runtime.metrics_server import parse_bind_address

ENV_PREFIX = "ASYNCACTION_"
# A namespace is a DNS-1123 label; most object names (a Lease's) are DNS-1123 subdomains.
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_OBJECT_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_HOOK_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")

# ``inf`` parses as a float: a poll or backoff that never comes back is refused here.
PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def env_name(field_name: str) -> str:
    """The environment variable of a setting (``workers`` → ``ASYNCACTION_WORKERS``)."""
    return ENV_PREFIX + field_name.upper()


def split_namespaces(raw: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Namespaces separated by spaces and/or commas, each item of a list split likewise
    (``-n a,b -n c``), in order, without duplicates."""
    items = [raw] if isinstance(raw, str) else list(raw)
    found: list[str] = []
    for item in items:
        for name in re.split(r"[\s,]+", item.strip()):
            if name and name not in found:
                found.append(name)
    return tuple(found)


class SettingsError(ValueError):
    """Settings refused at start; the message names each variable and its expected form."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid operator settings:\n  " + "\n  ".join(problems))
        self.problems = problems


class OperatorSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Base URL of the job hook as jobs reach it (the JOB_HOOK they receive).
    hook_url: str = Field("http://asyncaction-hook:8080", min_length=1)
    # With several hook replicas: hook_url contains "{shard}" and this is their number.
    hook_shards: int = Field(1, ge=1)
    # Retry backoff of failed attempts: base * 2**(failures-1), capped.
    backoff_base_seconds: PositiveSeconds = 10.0
    backoff_max_seconds: PositiveSeconds = 300.0
    # Longest time between two reconciles of an active action while nothing changes.
    # Such a reconcile reads only the caches: it costs no API request.
    poll_seconds: PositiveSeconds = 30.0
    # Every action is reconciled again about this often (jittered): the safety net.
    resync_seconds: PositiveSeconds = 600.0
    # A Job creation refused with 403 (quota, an admission webhook) is retried this
    # many times (with backoff), and for at least 10 s, before the attempt fails with
    # reason Forbidden (``controllers.executor.REFUSED_AT_LEAST_SECONDS``).
    job_create_retries: int = Field(5, ge=0)
    # Workers reconciling actions at once (each key by one worker at a time).
    workers: int = Field(32, ge=1, le=1024)
    # Namespaces served, separated by spaces or commas (empty: all); `-n` sets it.
    namespaces: tuple[str, ...] = ()
    # Leader election (coordination.k8s.io Lease): only the holder runs the controllers.
    # The Lease lives in `lease_namespace`, default: the first served namespace, else
    # `default`. A leader renews every `lease_renew_seconds`; when it has not renewed
    # within `lease_renew_deadline_seconds` of its last renewal it stops its controllers
    # and exits, before any standby may judge the Lease expired (`lease_seconds` after
    # it last saw the Lease change).
    lease_name: str = Field("asyncaction-operator", min_length=1)
    lease_namespace: str = ""
    lease_seconds: int = Field(15, ge=2)
    lease_renew_seconds: PositiveSeconds = 2.0
    # Default: two thirds of the Lease (client-go's 10 s of 15 s).
    lease_renew_deadline_seconds: PositiveSeconds = 10.0
    # A standby lists and watches everything the leader does while it waits for the
    # Lease, so that taking over needs no sync (at 100,000 actions a cold takeover syncs
    # for most of a minute, admitting nothing); it costs the standby the leader's memory
    # and watches. Off: a standby holds nothing until it leads.
    warm_standby: bool = False
    # Limit of the implied `default` queue when no ActionQueue object defines it (0: none).
    default_max_concurrent: int = Field(0, ge=0)
    # Retention of finished actions that set none (themselves, their template or their
    # ActionQueue): Keep, or Delete once their ttlSecondsAfterFinished work is done.
    # Delete suits clusters where nothing re-creates actions (no GitOps applying them).
    default_retention: Literal["Keep", "Delete"] = "Keep"
    # Command that wraps containers of actions using typed arguments or S3 streams.
    entrypoint: tuple[str, ...] = Field(("asyncaction-job", "run", "--"), min_length=1)
    # Stores file (the hook's format) and store name for archiving expired actions; "" = off.
    archive_config: str = ""
    archive_store: str = Field("default", min_length=1)
    # File of master keys the per-attempt job keys are derived from, shared only with
    # the hook (asyncaction.keys; env ASYNCACTION_MASTER_KEYS_FILE). Required.
    master_keys_file: str = ""
    # The hook's stores file: with it, actions naming S3 keys outside their namespace's
    # grants fail (StoreAccessDenied) before any Job is created (asyncaction.tenancy).
    stores_config: str = ""
    # Events about actions are written off the reconcile path (asyncaction.runtime.events):
    # at most this many a second after a burst of `event_burst`; beyond `event_queue_size`
    # waiting, new ones are dropped (counted in asyncaction_events_dropped_total).
    events_per_second: float = Field(50.0, gt=0, allow_inf_nan=False)
    event_burst: int = Field(200, ge=1)
    event_queue_size: int = Field(5000, ge=1)
    # Server-side timeout of each watch request (the watch is then resumed).
    watch_server_timeout: int = Field(300, ge=1)
    # Prometheus metrics endpoint, as controller-runtime's --metrics-bind-address:
    # HOST:PORT, :PORT (every interface) or 0 (off; the chart turns it on).
    metrics_bind_address: str = "0"
    metrics_path: str = Field("/metrics", pattern="^/")

    @field_validator("hook_url")
    @classmethod
    def _hook_url(cls, value: str) -> str:
        if not _HOOK_URL.match(value):
            raise ValueError("an http:// or https:// URL, such as http://asyncaction-hook:8080")
        return value

    @field_validator("lease_name")
    @classmethod
    def _lease_name(cls, value: str) -> str:
        if not _OBJECT_NAME.match(value):
            raise ValueError("a Kubernetes object name (lower-case letters, digits, '-', '.')")
        return value

    @field_validator("lease_namespace")
    @classmethod
    def _lease_namespace(cls, value: str) -> str:
        if value and not _NAMESPACE.match(value):
            raise ValueError("a namespace name (lower-case letters, digits, '-'), or empty")
        return value

    @field_validator("metrics_bind_address")
    @classmethod
    def _bind_address(cls, value: str) -> str:
        parse_bind_address(value, setting=env_name("metrics_bind_address"))
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_renew_deadline(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("lease_renew_deadline_seconds") is None:
            try:
                lease = float(values.get("lease_seconds", 15))
            except (TypeError, ValueError):
                return values  # the field's own check names the variable
            return {**values, "lease_renew_deadline_seconds": round(lease * 2 / 3, 3)}
        return values

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: Any) -> Any:
        if isinstance(value, str | list | tuple):
            names = split_namespaces(value)
            bad = [name for name in names if not _NAMESPACE.match(name)]
            if bad:
                raise ValueError(f"not namespace names: {', '.join(bad)}")
            return names
        return value

    @field_validator("entrypoint", mode="before")
    @classmethod
    def _split_entrypoint(cls, value: Any) -> Any:
        return tuple(value.split()) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> OperatorSettings:
        problems: list[str] = []
        if self.lease_renew_deadline_seconds >= self.lease_seconds:
            problems.append(
                f"{env_name('lease_renew_deadline_seconds')} ({self.lease_renew_deadline_seconds})"
                f" must be shorter than {env_name('lease_seconds')} ({self.lease_seconds}):"
                " a leader must stop before a standby may take the Lease"
            )
        if self.lease_renew_seconds >= self.lease_renew_deadline_seconds:
            problems.append(
                f"{env_name('lease_renew_seconds')} ({self.lease_renew_seconds}) must be"
                f" shorter than {env_name('lease_renew_deadline_seconds')}"
                f" ({self.lease_renew_deadline_seconds}): a leader retries within its deadline"
            )
        if self.backoff_max_seconds < self.backoff_base_seconds:
            problems.append(
                f"{env_name('backoff_max_seconds')} ({self.backoff_max_seconds}) must be at"
                f" least {env_name('backoff_base_seconds')} ({self.backoff_base_seconds})"
            )
        if self.hook_shards > 1 and "{shard}" not in self.hook_url:
            problems.append(
                f"{env_name('hook_url')} must contain '{{shard}}' when"
                f" {env_name('hook_shards')} is {self.hook_shards}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> OperatorSettings:
        """``ASYNCACTION_HOOK_URL``, ``ASYNCACTION_WORKERS``, ... override the defaults;
        ``overrides`` (CLI flags) override both. Raises ``SettingsError``."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = source.get(env_name(name))
            if raw is not None:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError([_describe(error) for error in exc.errors()]) from None

    @property
    def lease_home(self) -> str:
        return self.lease_namespace or (self.namespaces[0] if self.namespaces else "default")


# ASYNCACTION_* variables the operator process reads besides its settings.
OTHER_VARIABLES = frozenset({"ASYNCACTION_KUBECONFIG"})


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each ``ASYNCACTION_*`` variable that is no setting of the operator,
    naming the setting it most resembles: a misspelled ``ASYNCACTION_WORKER`` was
    ignored without a word, and the default ran instead of the value meant."""
    known = {env_name(name) for name in OperatorSettings.model_fields} | OTHER_VARIABLES
    warnings = []
    for variable in sorted(env):
        if not variable.startswith(ENV_PREFIX) or variable in known:
            continue
        close = difflib.get_close_matches(variable, known, n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{variable} is no setting of the operator{hint}: ignored")
    return warnings


def _describe(error: Mapping[str, Any]) -> str:
    """One problem as the user sees it: the variable, the value given, the form expected."""
    location = error.get("loc") or ()
    if not location:  # a check across settings: its message names the variables
        return str(error.get("msg", "")).removeprefix("Value error, ")
    variable = env_name(str(location[0]))
    given = error.get("input")
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    message = message.replace("Input should be ", "a value ")
    kind = str(error.get("type", ""))
    expected = {
        "float_parsing": "a number of seconds, such as 30 or 0.5 (no unit)",
        "int_parsing": "a whole number, such as 5",
        "finite_number": "a finite number (not inf or nan)",
        "extra_forbidden": "no such setting",
    }.get(kind, message)
    return f"{variable}={given!r}: expected {expected}"
