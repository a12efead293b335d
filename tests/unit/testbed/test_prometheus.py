"""The test bed's Prometheus: which Pods it scrapes, and how (pure parts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asyncaction_testbed.prometheus import Target, config, pod_targets


def pod(name: str, phase: str = "Running", **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "asyncaction-system",
            "labels": {"app.kubernetes.io/component": "hook"},
            "annotations": {f"prometheus.io/{k}": v for k, v in annotations.items()},
        },
        "status": {"phase": phase, "podIP": "10.244.0.7"},
    }


def test_only_running_pods_that_ask_are_scraped_where_they_say() -> None:
    pods = [
        pod("hook-1", scrape="true", port="9090", path="/m"),
        pod("hook-2", scrape="true", port="9090"),
        pod("quiet", port="9090"),
        pod("gone", phase="Succeeded", scrape="true", port="9090"),
    ]
    assert pod_targets(pods) == [
        {
            "targets": ["10.244.0.7:9090"],
            "labels": {
                "__metrics_path__": "/m",
                "namespace": "asyncaction-system",
                "pod": "hook-1",
                "job": "asyncaction-hook",
            },
        },
        {
            "targets": ["10.244.0.7:9090"],
            "labels": {
                "__metrics_path__": "/metrics",
                "namespace": "asyncaction-system",
                "pod": "hook-2",
                "job": "asyncaction-hook",
            },
        },
    ]


def test_static_targets_and_rules_make_the_config() -> None:
    made = config([Target("op", "127.0.0.1:1", "/x")], interval=2, rule_files=[Path("/r.yaml")])
    assert made == {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": ["/r.yaml"],
        "scrape_configs": [
            {
                "job_name": "op",
                "metrics_path": "/x",
                "static_configs": [{"targets": ["127.0.0.1:1"]}],
            }
        ],
    }
