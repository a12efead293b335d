"""Actions made of tasks, end to end: the real operator, hook, node agent and job client.

20 tasks over 3 pods: one pod is killed mid-task (its task is leased again), one task
is excluded before any pod starts (it never runs), one task fails until its retries are
spent (the action fails), then is retried alone in a new attempt (the action succeeds).
Progress moves task by task. A 10,000-task action keeps its status under 16 KiB and
``asyncaction tasks`` lists every task.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kubernetes import watch

from asyncaction.api.names import ACTION_PLURAL, GROUP, VERSION
from asyncaction_cli.main import Output
from asyncaction_cli.main import run as cli
from tests.support.kube import Kube, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
JOBS = Path(__file__).parent / "jobs"


def worker(task_log: Path) -> dict[str, Any]:
    return {
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "unused-by-the-node-agent",
                    "command": [sys.executable, str(JOBS / "task_worker.py")],
                    "env": [
                        {"name": "TASK_LOG", "value": str(task_log)},
                        {
                            "name": "POD_NAME",
                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                        },
                    ],
                }
            ]
        }
    }


def run_cli(kubeconfig: Path, namespace: str, *args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = cli([*args, "--kubeconfig", str(kubeconfig), "-n", namespace], Output(out, err))
    assert code == 0, err.getvalue()
    return out.getvalue()


class ProgressLog:
    """status.progress of one action, every value the watch delivers, in order."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        self.values: list[int] = []
        self.stream = watch.Watch()

        def follow() -> None:
            with contextlib.suppress(Exception):  # ends when the test stops the stream
                self._follow()

        self.kube, self.namespace, self.name = kube, namespace, name
        threading.Thread(target=follow, daemon=True).start()

    def _follow(self) -> None:
        for event in self.stream.stream(
            self.kube.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            ACTION_PLURAL,
            field_selector=f"metadata.name={self.name}",
            timeout_seconds=600,
        ):
            value = (event["object"].get("status") or {}).get("progress")
            if value is not None and (not self.values or self.values[-1] != value):
                self.values.append(value)

    def stop(self) -> None:
        self.stream.stop()


@pytest.mark.usefixtures("hooked_operator")
def test_twenty_tasks_over_three_pods(
    kube: Kube, namespace: str, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    task_log = tmp_path / "tries.log"
    hang, ok_file = tmp_path / "hang.marker", tmp_path / "t12.ok"
    tasks: list[dict[str, Any]] = []
    for i in range(20):
        params: dict[str, Any] = {"sleep": 0.3}
        if i == 5:
            params["hang"] = str(hang)
        if i == 12:
            params.update(fail=True, ok_file=str(ok_file))
        tasks.append({"name": f"t{i}", "parameters": params})
    kube.create_action(
        namespace,
        {
            "metadata": {"name": "twenty"},
            "spec": {
                "template": worker(task_log),
                "tasks": tasks,
                "parallelism": 3,
                "taskLeaseSeconds": 5,
                "taskRetryLimit": 1,
                "suspend": True,  # held until t7 is excluded
            },
        },
    )
    kube.wait_phase(namespace, "twenty", "PAUSED", 60)
    run_cli(admin_kubeconfig, namespace, "tasks", "exclude", "twenty", "t7")
    progress = ProgressLog(kube, namespace, "twenty")
    kube.patch_action(namespace, "twenty", {"spec": {"suspend": False}})

    victim = wait_for(lambda: hang.exists() and hang.read_text(), 120, "t5 to hang in a pod")
    kube.core.delete_namespaced_pod(victim, namespace, grace_period_seconds=0)
    failed = kube.wait_phase(namespace, "twenty", {"FAILED", "SUCCEEDED"}, 180)
    assert failed["status"]["phase"] == "FAILED", failed["status"]
    assert failed["status"]["error"]["reason"] == "TasksFailed"
    summary = failed["status"]["tasks"]
    assert {k: summary[k] for k in ("total", "done", "failed", "excluded", "queued")} == {
        "total": 20,
        "done": 18,
        "failed": 1,
        "excluded": 1,
        "queued": 0,
    }
    assert [t["name"] for t in summary["failing"]] == ["t12"]
    tries = [line.split() for line in task_log.read_text().splitlines()]
    per_task = Counter(name for name, *_ in tries)
    assert "t7" not in per_task, "an excluded task ran"
    assert per_task["t5"] == 2, "the killed pod's task was leased again"
    assert {pod for name, _, pod, _ in tries if name == "t5"} - {victim}, "another pod took t5"
    assert per_task["t12"] == 2  # 1 + taskRetryLimit
    assert all(per_task[f"t{i}"] == 1 for i in range(20) if i not in (5, 7, 12))

    ok_file.write_text("ok")
    run_cli(admin_kubeconfig, namespace, "tasks", "retry", "twenty", "t12")
    done = kube.wait_phase(namespace, "twenty", "SUCCEEDED", 180)
    progress.stop()
    assert done["status"]["attempts"] == 2
    assert done["status"]["tasks"]["done"] == 19
    assert done["status"]["tasks"]["retryRound"] == 1
    second = [line.split() for line in task_log.read_text().splitlines()][len(tries) :]
    assert [(name, attempt) for name, _, _, attempt in second] == [("t12", "2")]
    listed = json.loads(run_cli(admin_kubeconfig, namespace, "tasks", "twenty", "-o", "json"))
    states = {row["name"]: row["state"] for row in listed}
    assert len(listed) == 20
    assert states["t7"] == "excluded"
    assert Counter(states.values()) == {"done": 19, "excluded": 1}
    assert next(r for r in listed if r["name"] == "t5")["tries"] == 2
    # Task by task: many distinct steps, never backwards within the first attempt.
    first_run = progress.values[: progress.values.index(max(progress.values)) + 1]
    assert first_run == sorted(first_run), progress.values
    assert len(set(progress.values)) >= 10, progress.values


@pytest.mark.usefixtures("hooked_operator")
def test_ten_thousand_tasks_keep_the_status_small(
    kube: Kube, namespace: str, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    tasks = [
        {"name": f"item-{i:05d}", "parameters": {"fail": i % 7 == 0, "ok_file": "/nonexistent"}}
        for i in range(10_000)
    ]
    kube.create_action(
        namespace,
        {
            "metadata": {"name": "many"},
            "spec": {
                "template": worker(tmp_path / "tries.log"),
                "tasks": tasks,
                "parallelism": 3,
                "taskRetryLimit": 0,
                "excludedTasks": [f"item-{i:05d}" for i in range(5, 10_000, 11)],
            },
        },
    )

    def worked() -> dict[str, Any] | None:
        status = kube.get_action(namespace, "many").get("status") or {}
        summary = status.get("tasks") or {}
        return status if summary.get("done", 0) >= 60 and summary.get("failed", 0) >= 10 else None

    status = wait_for(worked, 240, "sixty tasks done and ten failed")
    kube.patch_action(namespace, "many", {"spec": {"abort": True}})
    final = kube.wait_phase(namespace, "many", "ABORTED", 60)["status"]
    for seen in (status, final):
        size = len(json.dumps(seen).encode())
        assert size < 16 * 1024, size
    summary = final["tasks"]
    assert summary["total"] == 10_000
    assert summary["excluded"] == len(range(5, 10_000, 11))
    assert len(summary["failing"]) <= 20
    listed = json.loads(run_cli(admin_kubeconfig, namespace, "tasks", "many", "-o", "json"))
    assert len(listed) == 10_000
    assert [r["name"] for r in listed] == [t["name"] for t in tasks]
    counts = Counter(r["state"] for r in listed)
    assert counts["done"] >= summary["done"]
    assert counts["excluded"] == summary["excluded"]
    assert sum(counts.values()) == 10_000
    print(f"10,000-task action: status {len(json.dumps(final).encode())} bytes, {counts}")
