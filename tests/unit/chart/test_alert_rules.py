"""The shipped alert rules pass ``promtool check rules`` and fire when they should.

``promtool test rules`` is Prometheus' own rule engine fed with series over time: a
failure ratio above a quarter fires AsyncActionFailureRatioHigh after its 15 minutes,
and a healthy queue fires nothing. The live server loads the same file in
tests/e2e/test_observability.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from asyncaction_testbed.prometheus import PrometheusUnavailable, promtool
from tests.support.chart import CHART

RULES = CHART / "files" / "prometheus-rules.yaml"
DOCS_RULES = Path(__file__).resolve().parents[3] / "docs" / "alerts" / "asyncaction.rules.yaml"


def run_promtool(*args: str) -> tuple[int, str]:
    try:
        done = promtool(*args)
    except PrometheusUnavailable as exc:
        pytest.skip(str(exc))
    return done.returncode, done.stdout + done.stderr


def assert_promtool_tests_pass(tmp_path: Path, tests: Mapping[str, object]) -> None:
    """Run ``promtool test rules`` on ``tests`` (its unit-test file format)."""
    path = tmp_path / "tests.yaml"
    path.write_text(yaml.safe_dump(tests))
    code, output = run_promtool("test", "rules", str(path))
    assert code == 0, output


@pytest.mark.parametrize("rules", [RULES, DOCS_RULES])
def test_rules_pass_promtool_check(rules: Path) -> None:
    code, output = run_promtool("check", "rules", str(rules))
    assert code == 0, output
    assert "SUCCESS: 10 rules found" in output


def transitions(to_phase: str, per_minute: int) -> dict[str, str]:
    labels = f'namespace="team-a",queue="batch",from_phase="RUNNING",to_phase="{to_phase}"'
    return {
        "series": f"asyncaction_phase_transitions_total{{{labels}}}",
        "values": f"0+{per_minute}x60",
    }


def test_failure_ratio_alert_fires_after_fifteen_minutes(tmp_path: Path) -> None:
    firing = {
        "exp_labels": {"severity": "warning", "namespace": "team-a", "queue": "batch"},
        "exp_annotations": {
            "summary": "More than a quarter of the actions in queue team-a/batch fail.",
            "description": "50% of the actions that finished in the last 15 minutes failed "
            "or timed out.",
        },
    }
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [transitions("FAILED", 3), transitions("SUCCEEDED", 3)],
                "alert_rule_test": [
                    # Pending for its 15 minutes first: nothing fires yet.
                    {"eval_time": "10m", "alertname": "AsyncActionFailureRatioHigh"},
                    {
                        "eval_time": "40m",
                        "alertname": "AsyncActionFailureRatioHigh",
                        "exp_alerts": [firing],
                    },
                ],
            },
            {
                "interval": "1m",
                "input_series": [transitions("FAILED", 1), transitions("SUCCEEDED", 9)],
                "alert_rule_test": [
                    {"eval_time": "40m", "alertname": "AsyncActionFailureRatioHigh"},
                ],
            },
        ],
    }
    assert_promtool_tests_pass(tmp_path, tests)


def test_status_write_lag_alert_fires_only_on_a_lasting_lag(tmp_path: Path) -> None:
    lagging = {
        "exp_labels": {"severity": "info"},
        "exp_annotations": {
            "summary": "Progress reaches the actions' status more than 30 s late.",
            "description": "More actions report than --status-writes-per-second allows a hook "
            "process (chart hook.statusWritesPerSecond): raise it if the API server has room, "
            "or add hook shards. Nothing is lost; terminal reports are not paced.",
        },
    }
    lag = "asyncaction_hook_status_write_lag_seconds"
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": lag, "values": "45x40"}],
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "AsyncActionHookStatusWritesLagging"},
                    {
                        "eval_time": "20m",
                        "alertname": "AsyncActionHookStatusWritesLagging",
                        "exp_alerts": [lagging],
                    },
                ],
            },
            {
                "interval": "1m",
                # a peak now and then (a burst of new actions) is no lasting lag
                "input_series": [{"series": lag, "values": "0 0 0 0 0 0 0 60 0 0 0 0 0 0 0x30"}],
                "alert_rule_test": [
                    {"eval_time": "30m", "alertname": "AsyncActionHookStatusWritesLagging"},
                ],
            },
        ],
    }
    assert_promtool_tests_pass(tmp_path, tests)


Expected = dict[str, dict[str, str]]  # an alert promtool expects: its labels, annotations


def alert_test(
    series: list[dict[str, str]], alert: str, *checks: tuple[str, list[Expected]]
) -> dict[str, object]:
    """One ``promtool`` test: ``series``, then at each (time, the alerts firing)."""
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": at, "alertname": alert, "exp_alerts": firing} for at, firing in checks
        ],
    }


WARNING = {"severity": "warning", "namespace": "team-a", "queue": "batch"}
NOT_LEADING: Expected = {
    "exp_labels": {"severity": "critical"},
    "exp_annotations": {
        "summary": "No AsyncAction operator replica holds the Lease.",
        "description": "Nothing admits, starts or finishes actions while no replica leads.",
    },
}
WAITING_40_MINUTES: Expected = {
    "exp_labels": WARNING,
    "exp_annotations": {
        "summary": "Actions in queue team-a/batch wait more than 30 minutes for a slot.",
        "description": "The longest-waiting action has waited 40m 0s: raise the queue's "
        "maxConcurrent or look for stuck actions.",
    },
}
STUCK: Expected = {
    "exp_labels": WARNING,
    "exp_annotations": {
        "summary": "Actions in queue team-a/batch stay STARTING.",
        "description": "No action left STARTING for 15 minutes, or for 30 they left it only "
        "by failing to start: `kubectl get asyncactions -n team-a` shows the Pods' waiting "
        "reason (image pulls, scheduling).",
    },
}


def test_the_rules_fire_when_nothing_runs_at_all(tmp_path: Path) -> None:
    """Found by a review, each silent on the rules before: no operator Pod up (no
    leadership series at all); a queue whose every slot is held by stuck actions (no
    admission, so no wait observed); actions that stay STARTING in a queue with no
    transition series yet, or that leave STARTING only by failing to start."""
    labels = 'namespace="team-a",queue="batch"'

    def moves(to_phase: str, values: str) -> dict[str, str]:
        name = "asyncaction_phase_transitions_total"
        return {
            "series": f'{name}{{{labels},from_phase="STARTING",to_phase="{to_phase}"}}',
            "values": values,
        }

    starting = {"series": f'asyncaction_actions{{{labels},phase="STARTING"}}', "values": "3x90"}
    oldest = "asyncaction_queue_oldest_wait_seconds"
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            alert_test(
                [{"series": 'up{job="asyncaction-operator"}', "values": "0x30"}],
                "AsyncActionOperatorNotLeading",
                ("3m", []),
                ("20m", [NOT_LEADING]),
            ),
            alert_test(
                [{"series": f"{oldest}{{{labels}}}", "values": "0+60x150"}],  # a minute a minute
                "AsyncActionQueueWaitHigh",
                ("30m", []),
                ("40m", [WAITING_40_MINUTES]),
            ),
            alert_test([starting], "AsyncActionStartingStuck", ("10m", []), ("40m", [STUCK])),
            alert_test(  # the default 600 s start timeout: they leave STARTING and retry
                [starting, moves("QUEUED", " ".join(f"{3 * k}+0x9" for k in range(10)))],
                "AsyncActionStartingStuck",
                ("60m", [STUCK]),
            ),
            alert_test(  # a healthy queue: they leave STARTING by running
                [starting, moves("RUNNING", "0+3x90"), moves("QUEUED", "0+1x90")],
                "AsyncActionStartingStuck",
                ("60m", []),
            ),
        ],
    }
    assert_promtool_tests_pass(tmp_path, tests)
