"""``asyncaction tasks``: list an action's tasks, retry the failed ones, exclude some.

    asyncaction tasks NAME [--state failed] [-o table|json|name]
    asyncaction tasks retry NAME [--failed | TASK...]
    asyncaction tasks exclude NAME TASK...

The list reads ``spec.tasks`` and the per-task records the hook keeps in the action's
task ConfigMaps (``asyncaction_client.taskbook``), with the user's own credentials; a task with
no record is queued. Retry and exclude are patches of the action's spec
(``spec.taskRetry``, ``spec.excludedTasks``) with its resourceVersion as a precondition,
so two users' edits never silently overwrite each other.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from asyncaction_cli import render
from asyncaction_cli.outcomes import UsageError
from asyncaction_client.contract import (
    ACTION_PLURAL,
    GROUP,
    LABEL_ACTION_UID,
    LABEL_TASK_CHUNK,
    VERSION,
)
from asyncaction_client.errors import ActionNotFound, ClientError
from asyncaction_client.sync import Client
from asyncaction_client.taskbook import (
    TaskRecord,
    TaskState,
    decode_chunk,
    excluded_ids,
    requested_round,
    resolve,
    states,
    task_name,
)

VERBS = ("retry", "exclude")


def add_parser(
    command: Callable[..., argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command(
        "tasks",
        "List an action's tasks; retry failed ones or exclude some "
        "(tasks NAME | tasks retry NAME [--failed|TASK...] | tasks exclude NAME TASK...).",
        common,
    )
    parser.usage = (
        "asyncaction tasks NAME [--state STATE] [-o FORMAT]\n"
        "       asyncaction tasks retry NAME [--failed | TASK ...]\n"
        "       asyncaction tasks exclude NAME TASK ..."
    )
    parser.add_argument(
        "words",
        nargs="+",
        metavar="WORD",
        help="the action, then for retry/exclude the task names or ids",
    )
    parser.add_argument(
        "--failed", action="store_true", help="retry: every failed task (the default)"
    )
    parser.add_argument(
        "--state",
        action="append",
        default=[],
        choices=[s.value for s in TaskState],
        help="list: only tasks in this state (repeatable)",
    )


def records_of(client: Client, action: dict[str, Any]) -> dict[int, TaskRecord]:
    meta = action["metadata"]
    found = client.core.list_namespaced_config_map(
        meta["namespace"], label_selector=f"{LABEL_ACTION_UID}={meta['uid']},{LABEL_TASK_CHUNK}"
    ).items
    records: dict[int, TaskRecord] = {}
    for chunk in found:
        records.update(decode_chunk(chunk.data))
    return records


def rows(action: dict[str, Any], records: dict[int, TaskRecord]) -> list[dict[str, Any]]:
    spec = action.get("spec") or {}
    tasks = spec.get("tasks") or []
    shown = states(records, len(tasks), excluded_ids(spec), int(time.time() * 1000))
    return [
        {
            "id": str(i),
            "name": task_name(task, i),
            "state": shown[i].value,
            "tries": (records.get(i) or TaskRecord()).tries,
            "error": (records.get(i) or TaskRecord()).error,
            "result": (records.get(i) or TaskRecord()).result,
        }
        for i, task in enumerate(tasks)
    ]


def _patch(client: Client, action: dict[str, Any], spec: dict[str, Any]) -> Any:
    meta = action["metadata"]
    body = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "spec": spec}
    return client.custom.patch_namespaced_custom_object(
        GROUP, VERSION, meta["namespace"], ACTION_PLURAL, meta["name"], body
    )


def _names(action: dict[str, Any], names: Sequence[str]) -> list[str]:
    spec = action.get("spec") or {}
    try:
        ids = resolve(spec, names)
    except KeyError as exc:
        raise ClientError(f"no such task in {action['metadata']['name']}: {exc}") from None
    tasks = spec.get("tasks") or []
    return [task_name(tasks[i], i) for i in ids]


def run(client: Client, args: argparse.Namespace, say: Callable[[str], None]) -> str:
    """Do what ``args`` ask; returns the text for stdout."""
    words = list(args.words)
    verb = words.pop(0) if words[0] in VERBS and len(words) > 1 else None
    name, tasks = words[0], words[1:]
    try:
        action: dict[str, Any] = client.get(name, args.namespace)
    except ActionNotFound:
        if verb is None and name in VERBS:  # 'tasks retry' without the action's name
            raise UsageError(f"name the action: asyncaction tasks {name} NAME ...") from None
        raise
    spec = action.get("spec") or {}
    if not spec.get("tasks"):
        raise ClientError(f"{name} has no spec.tasks")
    if verb == "exclude":
        if not tasks:
            raise ClientError("name the tasks to exclude")
        chosen = _names(action, tasks)
        merged = sorted({*(str(x) for x in spec.get("excludedTasks") or []), *chosen})
        _patch(client, action, {"excludedTasks": merged})
        say(f"{name}: excluded {', '.join(chosen)}")
        return ""
    if verb == "retry":
        status_round = int(((action.get("status") or {}).get("tasks") or {}).get("retryRound") or 0)
        request: dict[str, Any] = {"round": max(requested_round(spec), status_round) + 1}
        if tasks and not args.failed:
            request["tasks"] = _names(action, tasks)
        _patch(client, action, {"taskRetry": request})
        which = ", ".join(request.get("tasks") or ["every failed task"])
        say(f"{name}: retrying {which} (round {request['round']})")
        return ""
    listed = rows(action, records_of(client, action))
    if args.state:
        listed = [r for r in listed if r["state"] in args.state]
    if args.output == "json":
        return json.dumps(listed, indent=2) + "\n"
    if args.output == "name":
        return "".join(f"{r['name']}\n" for r in listed)
    return render.table(
        [[r["id"], r["name"], r["state"].upper(), str(r["tries"]), r["error"]] for r in listed],
        ["ID", "NAME", "STATE", "TRIES", "ERROR"],
    )
