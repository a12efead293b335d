"""The chart's metrics endpoints, scrape annotations, alert rules and dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart import CHART, one, render

ROOT = Path(__file__).resolve().parents[3]
RULES = CHART / "files" / "prometheus-rules.yaml"
DASHBOARD = CHART / "files" / "dashboards" / "asyncaction.json"


def container(objs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    deployment = one(objs, "Deployment", f"asyncaction-{name}")
    found: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def test_both_pods_serve_metrics_on_their_own_port_and_say_so() -> None:
    objs = render()
    for name, port in (("operator", 8080), ("hook", 9090)):
        template = one(objs, "Deployment", f"asyncaction-{name}")["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"
        ports = {p["name"]: p["containerPort"] for p in container(objs, name)["ports"]}
        assert ports["metrics"] == port
    env = {e["name"]: e.get("value") for e in container(objs, "operator")["env"]}
    assert env["ASYNCACTION_METRICS_BIND_ADDRESS"] == ":8080"
    assert env["ASYNCACTION_METRICS_PATH"] == "/metrics"
    args = container(objs, "hook")["args"]
    assert "--metrics-port=9090" in args
    assert "--metrics-path=/metrics" in args


def test_metrics_off_leaves_no_port_and_no_annotation() -> None:
    objs = render({"metrics": {"enabled": False}})
    for name in ("operator", "hook"):
        annotations = one(objs, "Deployment", f"asyncaction-{name}")["spec"]["template"][
            "metadata"
        ]["annotations"]
        assert "prometheus.io/scrape" not in annotations
        assert "metrics" not in {p["name"] for p in container(objs, name)["ports"]}
    env = {e["name"]: e.get("value") for e in container(objs, "operator")["env"]}
    assert env["ASYNCACTION_METRICS_BIND_ADDRESS"] == "0"
    assert "--metrics-path=" in container(objs, "hook")["args"]


def test_the_prometheus_rule_is_the_shipped_rule_file() -> None:
    assert not [o for o in render() if o["kind"] == "PrometheusRule"]
    rule = one(
        render({"prometheusRule": {"enabled": True, "labels": {"release": "prom"}}}),
        "PrometheusRule",
        "asyncaction",
    )
    assert rule["metadata"]["labels"]["release"] == "prom"
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    names = [r["alert"] for r in rule["spec"]["groups"][0]["rules"]]
    assert "AsyncActionFailureRatioHigh" in names


def test_the_dashboard_config_map_carries_the_sidecar_label() -> None:
    assert not [o for o in render() if o["kind"] == "ConfigMap" and "dashboard" in str(o)]
    config_map = one(
        render({"grafanaDashboard": {"enabled": True, "namespace": "monitoring"}}),
        "ConfigMap",
        "asyncaction-dashboard",
    )
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["asyncaction.json"]) == json.loads(DASHBOARD.read_text())


@pytest.mark.parametrize(
    ("shipped", "copy"),
    [
        (RULES, ROOT / "docs" / "alerts" / "asyncaction.rules.yaml"),
        (DASHBOARD, ROOT / "docs" / "dashboards" / "asyncaction.json"),
    ],
)
def test_the_docs_copies_match_the_chart(shipped: Path, copy: Path) -> None:
    assert copy.read_text() == shipped.read_text(), f"copy {shipped} to {copy}"
