"""Metrics checked by PromQL against a real Prometheus, after a run of real actions.

The operator and the hook run as processes of their own (their counters start at zero,
so the counts are exact), serving metrics on loopback ports; the test bed's Prometheus
(Debian's package) scrapes both every second and loads the shipped alert rules. Actions:
two succeed by reporting through the hook, two fail (exit 3, no retry), one is
suspended. Then: the counts and histograms by PromQL, ``promtool check metrics`` on
both endpoints, every rule loaded and healthy, and every panel of the shipped Grafana
dashboard returning data.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from asyncaction.api.names import SECRET_KEY_FIELD
from asyncaction.keys import MASTER_KEYS_ENV
from tests.conftest import OPERATOR_ENV
from tests.support.kube import Kube, action_manifest
from tests.support.procs import free_port, start_hook, start_process, stop_process, wait_http

if TYPE_CHECKING:
    from asyncaction_testbed.prometheus import Prometheus

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "alerts" / "asyncaction.rules.yaml"
DASHBOARD = ROOT / "docs" / "dashboards" / "asyncaction.json"
REPORTS_SUCCESS = "from asyncaction_job import client\nclient.succeed({'ok': True})\n"


def python_action(name: str, code: str, **spec: Any) -> dict[str, Any]:
    return action_manifest(name, [sys.executable, "-c", code], **spec)


class Bed:
    def __init__(
        self,
        prometheus: Prometheus,
        operator_url: str,
        hook_url: str,
        namespace: str,
        logs: list[Path],
    ):
        self.prometheus = prometheus
        self.operator_url = operator_url
        self.hook_url = hook_url
        self.namespace = namespace
        self.logs = logs

    def value(self, promql: str) -> float | None:
        return self.prometheus.value(promql.replace("NS", self.namespace))

    def measured(self, promql: str) -> float:
        """The query's value, for a comparison: a series that is missing fails here."""
        value = self.value(promql)
        assert value is not None, f"no value for {promql}"
        return value

    def by(self, label: str, promql: str) -> dict[str, float]:
        result = self.prometheus.query(promql.replace("NS", self.namespace))
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


@pytest.fixture
def bed(
    admin_kubeconfig: Path,
    namespace: str,
    crds: list[dict[str, Any]],
    node_agent: Path | None,
    stores_config: Path,
    tmp_path: Path,
) -> Iterator[Bed]:
    from asyncaction_testbed.prometheus import Prometheus, PrometheusUnavailable, Target, binaries

    try:
        binaries()
    except PrometheusUnavailable as exc:
        pytest.skip(str(exc))
    hook_proc, hook_url = start_hook(
        admin_kubeconfig, stores_config, tmp_path / "hook.log", "--coalesce-window", "0.2"
    )
    metrics_port = free_port()
    operator_log = tmp_path / "operator.log"
    operator = start_process(
        [sys.executable, "-m", "asyncaction.main", "--namespace", namespace, "--liveness", ""],
        operator_log,
        env={
            **OPERATOR_ENV,
            "ASYNCACTION_KUBECONFIG": str(admin_kubeconfig),
            "ASYNCACTION_HOOK_URL": hook_url,
            "ASYNCACTION_STORES_CONFIG": str(stores_config),
            "ASYNCACTION_METRICS_BIND_ADDRESS": f"127.0.0.1:{metrics_port}",
        },
    )
    operator_url = f"http://127.0.0.1:{metrics_port}"
    prometheus = Prometheus(
        tmp_path / "prometheus",
        targets=[
            Target("asyncaction-operator", f"127.0.0.1:{metrics_port}"),
            Target("asyncaction-hook", hook_url.removeprefix("http://")),
        ],
        rule_files=[RULES],
    )
    try:
        wait_http(f"{operator_url}/metrics", 60, operator, operator_log)
        prometheus.start()
        yield Bed(
            prometheus, operator_url, hook_url, namespace, [operator_log, tmp_path / "hook.log"]
        )
    finally:
        prometheus.stop()
        stop_process(operator)
        stop_process(hook_proc)


def run_actions(kube: Kube, bed: Bed) -> None:
    """Two waves, each scraped in between, so every counter rises while scraped."""
    ns = bed.namespace
    for wave in (1, 2):
        kube.create_action(ns, python_action(f"ok-{wave}", REPORTS_SUCCESS))
        kube.create_action(ns, action_manifest(f"bad-{wave}", ["sh", "-c", "exit 3"]))
        for name, phase in ((f"ok-{wave}", "SUCCEEDED"), (f"bad-{wave}", "FAILED")):
            done = kube.wait_phase(ns, name, {"SUCCEEDED", "FAILED"}, timeout=90)
            assert done["status"]["phase"] == phase, done["status"]
        # A request with an unknown id: a refusal the hook counts.
        refused = requests.post(
            f"{bed.hook_url}/status",
            json={},
            headers={"X-Job-Id": str(uuid.uuid4()), "X-Job-Time": str(int(time.time() * 1000)),
                     "X-Job-Hash": "0" * 64, "X-Job-Signature": "v2"},
            timeout=10,
        )  # fmt: skip
        assert refused.status_code == 404
        bed.prometheus.wait_scraped()
        time.sleep(1.5)
        bed.prometheus.wait_scraped()
    kube.create_action(ns, action_manifest("held", ["sh", "-c", "exit 0"], suspend=True))
    kube.wait_phase(ns, "held", "PAUSED")
    bed.prometheus.wait_scraped()
    bed.prometheus.wait_scraped()


def test_metrics_rules_and_dashboard_against_a_real_prometheus(kube: Kube, bed: Bed) -> None:
    run_actions(kube, bed)
    check_counts_and_histograms(bed)
    check_endpoints_and_rules(bed)
    check_every_dashboard_panel_has_data(bed)
    check_no_key_material(kube, bed)


def check_no_key_material(kube: Kube, bed: Bed) -> None:
    """Neither a master key nor any job key shows in logs, Events or metrics."""
    keys = [
        line.strip()
        for line in Path(os.environ[MASTER_KEYS_ENV]).read_text().splitlines()
        if line.strip()
    ]
    for secret in kube.core.list_namespaced_secret(bed.namespace).items:
        if secret.data and SECRET_KEY_FIELD in secret.data:
            keys.append(base64.b64decode(secret.data[SECRET_KEY_FIELD]).decode())
    assert len(keys) >= 2  # the master key and at least one job key were looked for
    texts = {str(path): path.read_text(errors="replace") for path in bed.logs}
    for url in (bed.operator_url, bed.hook_url):
        texts[url] = requests.get(f"{url}/metrics", timeout=10).text
    events = kube.core.list_namespaced_event(bed.namespace).items
    texts["events"] = "\n".join(f"{e.reason} {e.message}" for e in events)
    assert len(events) >= 10
    for where, text in texts.items():
        for key in keys:
            assert key not in text, f"key material in {where}"
            assert base64.b64encode(key.encode()).decode() not in text, f"encoded key in {where}"


def check_counts_and_histograms(bed: Bed) -> None:
    assert bed.by("job", "up") == {"asyncaction-operator": 1, "asyncaction-hook": 1}
    phases = bed.by("phase", 'sum by (phase) (asyncaction_actions{namespace="NS"})')
    assert phases == {"SUCCEEDED": 2, "FAILED": 2, "PAUSED": 1}
    ended = bed.by(
        "to_phase",
        'sum by (to_phase) (asyncaction_phase_transitions_total{namespace="NS",'
        'to_phase=~"SUCCEEDED|FAILED"})',
    )
    assert ended == {"SUCCEEDED": 2, "FAILED": 2}
    # Each started action waited once, and each finished one ran once (by outcome).
    assert bed.value('sum(asyncaction_admission_wait_time_seconds_count{namespace="NS"})') == 4
    waits = 'sum(asyncaction_admission_wait_time_seconds_bucket{namespace="NS",le="+Inf"})'
    assert bed.value(waits) == 4
    runs = bed.by(
        "outcome", 'sum by (outcome) (asyncaction_execution_time_seconds_count{namespace="NS"})'
    )
    assert runs == {"SUCCEEDED": 2, "FAILED": 2}
    assert bed.measured('sum(asyncaction_execution_time_seconds_sum{namespace="NS"})') > 0
    median = bed.value(
        "histogram_quantile(0.5, sum by (le) "
        '(asyncaction_execution_time_seconds_bucket{namespace="NS"}))'
    )
    assert median is not None
    assert 0 < median < 120
    attempts = bed.by("result", "sum by (result) (asyncaction_attempts_total)")
    assert attempts == {"succeeded": 2, "failed": 2}  # "held" never started an attempt
    assert bed.measured('sum(asyncaction_admission_attempts_total{result="success"})') >= 4
    assert bed.value("asyncaction_leader_election_master_status") == 1
    assert bed.value("asyncaction_caches_synced") == 1
    assert bed.measured('sum(asyncaction_reconcile_total{controller="asyncaction"})') >= 9
    assert bed.value('sum(asyncaction_reconcile_total{result="error"})') in (None, 0)
    assert bed.measured('sum(asyncaction_workqueue_adds_total{name="actions"})') >= 9
    assert bed.value('asyncaction_workqueue_depth{name="actions"}') is not None
    assert bed.measured('sum(asyncaction_rest_client_requests_total{method="PATCH"})') >= 5
    assert bed.value("sum(asyncaction_build_info)") == 1
    # The hook: two terminal reports, each written before the answer, and the refusals.
    assert bed.value('sum(asyncaction_hook_reports_total{kind="terminal"})') == 2
    assert bed.measured("asyncaction_hook_status_writes_total") >= 2
    assert bed.measured('sum(asyncaction_hook_requests_total{route="/status",code="200"})') >= 2
    assert bed.value('asyncaction_hook_refusals_total{reason="unknown_id"}') == 2
    assert bed.value("asyncaction_hook_cache_synced") == 1
    assert bed.measured('sum(asyncaction_hook_rest_client_requests_total{method="PATCH"})') >= 2


def check_endpoints_and_rules(bed: Bed) -> None:
    from asyncaction_testbed.prometheus import promtool

    for url in (bed.operator_url, bed.hook_url):
        text = requests.get(f"{url}/metrics", timeout=10).text
        checked = promtool("check", "metrics", stdin=text)
        assert checked.returncode == 0, f"{url}: {checked.stdout}{checked.stderr}"
        # Never an action's name or uid as a label value, nor anything key-like.
        assert not re.search(r'="(ok|bad)-\d"|="held"', text), url
        assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}", text), url
    groups = bed.prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    # every alert of the file loaded (as many as the file defines), and each one healthy
    assert len(rules) == RULES.read_text().count("- alert: ") == 10
    assert {rule["health"] for rule in rules} == {"ok"}, [r.get("lastError") for r in rules]


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def check_every_dashboard_panel_has_data(bed: Bed) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    empty = []
    for title, expr in queries:
        promql = (
            expr.replace("$__rate_interval", "5m")
            .replace("$namespace", bed.namespace)
            .replace("$queue", ".*")
        )
        result = bed.prometheus.query(promql)
        numbers = [float(r["value"][1]) for r in result]
        if not any(n == n for n in numbers):  # no sample, or only NaN
            empty.append((title, promql, result))
    assert not empty, empty
