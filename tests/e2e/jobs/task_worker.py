"""A job that works through its action's tasks with the Python job client.

Each task's parameters say what to do: ``sleep`` seconds of work; ``hang`` (a marker
path): on the first try write the pod's name there and hang, so the test can kill the
pod mid-task; ``fail``: fail unless the file ``ok_file`` exists. Every try appends
``name try pod attempt`` to the file in $TASK_LOG.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from asyncaction_job import client


def main() -> int:
    log = Path(os.environ["TASK_LOG"])
    pod = os.environ.get("POD_NAME", "?")
    attempt = os.environ.get("ASYNCACTION_ATTEMPT", "?")
    for task in client.tasks():
        params = task.parameters
        with log.open("a") as handle:
            handle.write(f"{task.name} {task.try_number} {pod} {attempt}\n")
        if params.get("hang") and task.try_number == 1:
            Path(params["hang"]).write_text(pod)
            time.sleep(600)
        if params.get("fail") and not Path(params["ok_file"]).exists():
            task.fail(f"{task.name} cannot work yet")
            continue
        time.sleep(float(params.get("sleep", 0)))
        task.done({"task": task.name})
    return 0


if __name__ == "__main__":
    sys.exit(main())
