"""Tasks of an action, leased one by one from the hook (``GET /task``).

    from asyncaction_job import client
    for task in client.tasks():
        out = work(task.parameters)
        task.done({"items": out})      # or task.fail("why"); nothing: done, no result

While the body runs, a thread renews the lease (``POST /task/{id}`` with
``executing``) every third of ``leaseSeconds``, so a long task keeps its pod; if the pod
dies, the lease lapses and another pod takes the task. A body that raises reports the
task failed (the hook retries it up to the action's ``taskRetryLimit``) and the
exception goes on. The loop ends when no task is left; while the last tasks are leased
by other pods it waits (the hook answers 202 with ``retryAfter``), ready to take over.
``task.cancelled`` turns true when the hook refuses a renewal (the task was excluded).
``task.download(i, path)`` fetches the task's ``i``-th input (``task.inputs[i]``)
through the hook, which checks that the action's namespace may read it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncaction_job.client import JobClient


class Task:
    def __init__(self, client: JobClient, lease: dict[str, Any]) -> None:
        self.client = client
        self.id = str(lease["id"])
        self.name = str(lease.get("name") or self.id)
        self.parameters: dict[str, Any] = lease.get("parameters") or {}
        self.inputs: list[str] = lease.get("inputs") or []
        self.lease_seconds = float(lease.get("leaseSeconds") or 60)
        self.try_number = int(lease.get("try") or 1)
        # sent with every report of this lease, so a late report of a lapsed lease is
        # refused instead of ending the try another pod now runs (absent: an older hook)
        self._try: dict[str, int] = {"try": int(lease["try"])} if lease.get("try") else {}
        self.reported = False
        self.cancelled = False
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, daemon=True, name=f"lease-{self.id}")
        self._lock = threading.Lock()

    def _renew(self) -> None:
        from asyncaction_job.client import HookError

        while not self._stop.wait(max(0.5, self.lease_seconds / 3)):
            try:
                self.client.call("POST", f"/task/{self.id}", {"status": "executing", **self._try})
            except HookError as exc:
                if exc.status == 409:
                    self.cancelled = True
                    return

    def _end(self, payload: dict[str, Any]) -> Any:
        """Report the end; None when the task is no longer this pod's: its lease lapsed
        and another pod runs it (whose end counts), or it was excluded. That is no
        failure of this pod, which goes on to the next task (``cancelled`` says so)."""
        from asyncaction_job.client import HookError

        with self._lock:
            if self.reported:
                return None
            self._stop.set()
            self.reported = True
        try:
            return self.client.call(
                "POST", f"/task/{self.id}", {**payload, **self._try}, terminal=True
            )
        except HookError as exc:
            if exc.status != 409 or exc.reason not in ("TASK_NOT_LEASED", "TASK_EXCLUDED"):
                raise
            self.cancelled = True
            print(f"task {self.id} ({self.name}): not reported, {exc}", file=sys.stderr)
            return None

    def download(self, index: int, dest: str | os.PathLike[str], store: str = "default") -> Path:
        """Fetch this task's ``index``-th input (``self.inputs[index]``) to ``dest``,
        through the hook (it checks the namespace may read it), md5 checked."""
        return self.client.download(f"task-{self.id}", dest, index, store)

    def done(self, result: Any = None) -> Any:
        return self._end({"status": "done", "result": result})

    def fail(self, message: str, result: Any = None) -> Any:
        return self._end({"status": "failed", "errorMessage": message[:4096], "result": result})

    def start(self) -> None:
        self._renewer.start()

    def stop(self) -> None:
        self._stop.set()


def lease_tasks(client: JobClient) -> Iterator[Task]:
    """Yield each task leased to this pod until the hook has none left."""
    while True:
        answer = client.call("GET", "/task")
        if answer is None:
            return  # 204: every task is settled
        if "id" not in answer:
            time.sleep(float(answer.get("retryAfter") or 1.0))
            continue
        task = Task(client, answer)
        task.start()
        try:
            yield task
        except GeneratorExit:
            # The loop's body raised (or broke out): the task did not finish.
            if not task.reported:
                task.fail("the task's body did not finish")
            raise
        finally:
            task.stop()
        if not task.reported:
            task.done()
