"""The hook's refusal reasons come from the errors its checks really raise, and both
services' expositions pass ``promtool check metrics``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from asyncaction.controllers.action_metrics import ActionMetrics
from asyncaction.runtime.metrics import Metrics
from asyncaction_hook.auth import WindowReplayGuard, check_replay, matching_attempt, parse_headers
from asyncaction_hook.budgets import rate_limited
from asyncaction_hook.errors import HookError, completed, not_found
from asyncaction_hook.metrics import HookMetrics, live_families, refusal_reason
from asyncaction_hook.pacing import WritePacer
from asyncaction_job.signing import Signer, headers_v2
from tests.unit.controllers.test_action_metrics import action

NOW = 1_800_000_000_000
KEY = "k" * 43
UID = "0b9f1a52-52d4-4bd6-9b4f-8f7c0a0e1c11"


def reason_of(error: HookError) -> str | None:
    return refusal_reason(error.status, error.reason, error.message)


def raised(call: Callable[[], object]) -> HookError:
    with pytest.raises(HookError) as caught:
        call()
    return caught.value


def test_each_refusal_of_the_auth_checks_has_its_reason() -> None:
    signed = headers_v2(UID, KEY, "POST", "/status", b"{}", now_ms=NOW)

    def parse(headers: dict[str, str], now: int = NOW) -> object:
        return parse_headers(headers, now_ms=now, past_seconds=300, future_seconds=5, allow_v1=True)

    stale = raised(lambda: parse(signed, now=NOW + 301_000))
    ahead = raised(lambda: parse(signed, now=NOW - 60_000))
    missing = raised(lambda: parse({"X-Job-Id": UID}))
    good = parse_headers(signed, now_ms=NOW, past_seconds=300, future_seconds=5, allow_v1=True)
    bad = raised(
        lambda: matching_attempt(
            good, method="POST", path="/status", body=b"{}", candidates=[(1, (Signer("other"),))]
        )
    )
    guard = WindowReplayGuard(300, 5)
    check_replay(guard, good, NOW)
    replay = raised(lambda: check_replay(guard, good, NOW))
    assert [reason_of(e) for e in (stale, ahead, missing, bad, replay)] == [
        "stale",
        "stale",
        "bad_headers",
        "bad_signature",
        "replay",
    ]
    assert reason_of(not_found("unknown job id")) == "unknown_id"
    assert reason_of(not_found("no input object 3")) is None  # an answer about a known job
    assert reason_of(rate_limited("action", 1)) == "rate_limited"
    assert reason_of(HookError(421, "MISDIRECTED", "another replica")) == "wrong_shard"
    assert reason_of(completed("SUCCEEDED")) is None  # an answer, not a refusal


def test_both_expositions_pass_promtool() -> None:
    from asyncaction_testbed.prometheus import PrometheusUnavailable, promtool

    operator = Metrics()
    ActionMetrics.of(operator).observe_transition(
        action("QUEUED"), action("STARTING", queuedAt=None)
    )
    operator.inc("asyncaction_api_writes_total", {"resource": "jobs"})
    operator.count_request("PATCH", 200)
    operator.event("Normal", "Started")
    hook = HookMetrics()
    pacer = WritePacer(100, 1)
    hook.bind(lambda: live_families(status_writes=3, backlog=1, synced=True, pacer=pacer))
    hook.served("/status", 200, 0.01)
    hook.refused(401, "REPLAYED", "")
    hook.report("terminal")
    for text in (operator.render().decode(), _render(hook)):
        try:
            checked = promtool("check", "metrics", stdin=text)
        except PrometheusUnavailable as exc:
            pytest.skip(str(exc))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "asyncaction_" in text


def _render(hook: HookMetrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(hook.registry).decode()


def test_request_stats_expose_what_prometheus_clients_own_series_would() -> None:
    """The hook counts requests, durations and reports in plain numbers: the exposition
    must be the one ``Counter`` and ``Histogram`` give for the same observations, line by
    line but for the creation times."""
    import re

    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from asyncaction_hook.metrics import REQUEST_BUCKETS

    hook = HookMetrics()
    native = CollectorRegistry()
    requests = Counter(
        "asyncaction_hook_requests", "Requests by route and HTTP code.", ["route", "code"],
        registry=native,
    )  # fmt: skip
    durations = Histogram(
        "asyncaction_hook_request_duration_seconds", "Time to answer a request, by route.",
        ["route"], buckets=REQUEST_BUCKETS, registry=native,
    )  # fmt: skip
    reports = Counter(
        "asyncaction_hook_reports", "Status reports accepted, by kind (progress: coalesced; "
        "running, terminal: written before the answer).", ["kind"], registry=native,
    )  # fmt: skip
    # on a bound (le is "at most"), between bounds, past the last, and zero
    served = [("/status", 200, 0.001), ("/status", 200, 0.0011), ("/status", 401, 0.0),
              ("/action", 200, 12.0), ("other", 404, 0.25), ("/status", 200, 0.003)]  # fmt: skip
    for route, code, seconds in served:
        hook.served(route, code, seconds)
        requests.labels(route, str(code)).inc()
        durations.labels(route).observe(seconds)
    for kind in ("progress", "progress", "terminal"):
        hook.report(kind)
        reports.labels(kind).inc()

    def exposed(registry: CollectorRegistry) -> list[str]:
        # a creation time is when a series first counted: the one difference allowed
        text = generate_latest(registry).decode()
        return [re.sub(r"^(\S+_created\{.*\}) \S+$", r"\1 T", line) for line in text.splitlines()]

    alone = CollectorRegistry()
    alone.register(hook.stats)
    ours, theirs = exposed(alone), exposed(native)
    assert ours == theirs
    # 0.0 and 0.001 (le is "at most"); not 0.0011
    bucket = "asyncaction_hook_request_duration_seconds_bucket"
    assert f'{bucket}{{le="0.001",route="/status"}} 2.0' in ours
    assert 'asyncaction_hook_requests_total{code="200",route="/status"} 3.0' in ours
    assert 'asyncaction_hook_requests_created{code="401",route="/status"} T' in ours


def test_request_stats_follow_prometheus_clients_switch_of_created_series() -> None:
    """``disable_created_metrics`` (or PROMETHEUS_DISABLE_CREATED_SERIES) drops every
    ``_created`` series of prometheus_client's own metrics: the hook's counted ones too."""
    import prometheus_client
    from prometheus_client import generate_latest

    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        hook = HookMetrics()
        hook.served("/status", 200, 0.01)
        hook.report("progress")
        hook.refused(401, "REPLAYED", "")
        text = generate_latest(hook.registry).decode()
    finally:
        prometheus_client.enable_created_metrics()  # type: ignore[no-untyped-call]
    assert 'asyncaction_hook_requests_total{code="200",route="/status"} 1.0' in text
    assert [line for line in text.splitlines() if "_created{" in line] == []
