"""Render the Helm chart with Helm's own engine (helm-python-sdk) and read the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "asyncaction"

# Namespaced RBAC in two namespaces, every toggle on, existing Secrets by name.
NAMESPACED_VALUES: dict[str, Any] = {
    "rbac": {"scope": "namespaced", "namespaces": ["team-a", "team-b"]},
    "masterKeys": {"existingSecret": "my-master-keys", "secretKey": "keys.txt"},
    "stores": {"existingSecret": "my-stores", "secretKey": "stores.yaml"},
    "operator": {
        "archive": {"enabled": True, "store": "archive"},
        "verbose": True,
        "replicas": 2,
        "warmStandby": True,
    },
    "hook": {"extraArgs": ["--rate", "50"]},
    "podDisruptionBudget": {"enabled": True},
    "networkPolicy": {"enabled": True},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "prometheusRule": {"enabled": True},
    "grafanaDashboard": {"enabled": True},
}


def render(
    values: dict[str, Any] | None = None,
    *,
    name: str = "asyncaction",
    namespace: str = "asyncaction-system",
    tests: bool = False,
) -> list[dict[str, Any]]:
    """Every object the chart renders (the `helm test` hooks only when ``tests``)."""
    from helm_python import Chart

    with Chart.load(CHART) as chart:
        rendered = chart.render(values or {}, name=name, namespace=namespace)
    return objects(rendered, tests=tests)


def objects(rendered: dict[str, str], *, tests: bool = False) -> list[dict[str, Any]]:
    found = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt") or ("/templates/tests/" in path and not tests):
            continue
        found += [doc for doc in yaml.safe_load_all(text) if doc]
    return found


def notes(values: dict[str, Any] | None = None) -> str:
    from helm_python import Chart

    with Chart.load(CHART) as chart:
        rendered = chart.render(values or {}, name="asyncaction", namespace="asyncaction-system")
    return rendered["asyncaction/templates/NOTES.txt"]


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(objs, kind, name)
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]
