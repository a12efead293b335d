"""The commands that read actions from the cluster: ``list``, ``get``, ``describe``
(with the action's Jobs, Pods and Events), ``watch`` (a live table) and ``wait``.

They change nothing; the verbs that write are in ``change_commands``, an action's logs
and outputs in ``result_commands``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from asyncaction_cli import render
from asyncaction_cli.console import Output, print_actions, print_outcomes, wait_for
from asyncaction_cli.inputs import connect, duration, seconds
from asyncaction_cli.outcomes import EXIT_SUCCEEDED, UsageError
from asyncaction_cli.waiting import ReasonChanges, queue_position
from asyncaction_client.contract import LABEL_ATTEMPT, utcnow
from asyncaction_client.model import PHASES, Action, Filters, is_finished, name_of, namespace_of


def cmd_list(io: Output, args: argparse.Namespace) -> int:
    phases = {p.strip().upper() for value in args.phase for p in value.split(",") if p.strip()}
    unknown = phases - set(PHASES)
    if unknown:
        raise UsageError(
            f"unknown phase(s) {', '.join(sorted(unknown))}; phases are {', '.join(PHASES)}"
        )
    filters = Filters(
        phases=frozenset(phases),
        queues=frozenset(args.queue),
        since=duration(args.since, "--since"),
        older_than=duration(args.older_than, "--older-than"),
    )
    with connect(args) as client:
        actions = client.list(
            all_namespaces=args.all_namespaces, label_selector=args.selector, filters=filters
        )
    print_actions(io, actions, args.output, namespaces=args.all_namespaces, listing=True)
    return EXIT_SUCCEEDED


def cmd_get(io: Output, args: argparse.Namespace) -> int:
    with connect(args) as client:
        actions = [client.get(name) for name in args.names]
    print_actions(io, actions, args.output)
    return EXIT_SUCCEEDED


def cmd_describe(io: Output, args: argparse.Namespace) -> int:
    now = utcnow()
    with connect(args) as client:
        action = client.get(args.name)
        attempts = []
        for job in client.jobs(action):
            attempt = int((job.metadata.labels or {}).get(LABEL_ATTEMPT, 0))
            pods = client.pods(action, attempt)
            pod = pods[-1] if pods else None
            attempts.append(
                [
                    str(attempt),
                    job.metadata.name,
                    _job_state(job),
                    pod.metadata.name if pod else render.NONE,
                    (pod.status.phase or "") if pod else "",
                    _exit_code(pod),
                ]
            )
        position = None
        if (action.get("status") or {}).get("phase") == "QUEUED":
            position = queue_position(action, client.list(namespace_of(action)))
        events = [
            [
                e.type or "",
                e.reason or "",
                render.age(e.last_timestamp or e.event_time or e.metadata.creation_timestamp, now),
                e.message or "",
            ]
            for e in client.events(action)
        ]
    io.data(render.describe(action, now, attempts=attempts, events=events, position=position))
    return EXIT_SUCCEEDED


def _job_state(job: Any) -> str:
    for condition in job.status.conditions or []:
        if condition.status == "True" and condition.type in ("Complete", "Failed"):
            return str(condition.type)
    return "Active" if job.status.active else "Pending"


def _exit_code(pod: Any) -> str:
    for status in (pod.status.container_statuses or []) if pod else []:
        terminated = status.state.terminated if status.state else None
        if terminated is not None:
            return str(terminated.exit_code)
    return ""


def cmd_watch(io: Output, args: argparse.Namespace) -> int:
    wide = args.output == "wide"
    timeout = seconds(args.timeout)
    wanted = set(args.names)
    with connect(args) as client:
        seen: dict[tuple[str, str], Action] = {}
        reasons = ReasonChanges()
        drawn_lines = 0
        header_printed = False
        stream = client.watch(
            None, all_namespaces=args.all_namespaces, label_selector=args.selector, timeout=timeout
        )
        for action in stream:
            key = (namespace_of(action), name_of(action))
            if wanted and key[1] not in wanted:
                continue
            if (action.get("metadata") or {}).get("deletionTimestamp"):
                seen.pop(key, None)  # being deleted (or gone): off the table
            else:
                seen[key] = action
            now = utcnow()
            if io.live:
                text = render.actions_table(
                    sorted(seen.values(), key=_created),
                    now,
                    wide=wide,
                    namespaces=args.all_namespaces,
                )
                io.out.write((f"\x1b[{drawn_lines}F" if drawn_lines else "") + "\x1b[J" + text)
                io.out.flush()
                drawn_lines = text.count("\n")
            else:
                if (line := reasons.line(action)) is not None:
                    io.say(line)  # why it waits, once per change (stderr)
                table = render.actions_table(
                    [action], now, wide=wide, namespaces=args.all_namespaces
                )
                header, line = table.splitlines()
                io.data(("" if header_printed else header + "\n") + line + "\n")
                header_printed = True
            if (
                wanted
                and wanted <= {k[1] for k in seen}
                and all(is_finished(seen[k]) for k in seen if k[1] in wanted)
            ):
                break
    return EXIT_SUCCEEDED


def _created(action: Mapping[str, Any]) -> str:
    return str((action.get("metadata") or {}).get("creationTimestamp", ""))


def cmd_wait(io: Output, args: argparse.Namespace) -> int:
    timeout = seconds(args.timeout)
    with connect(args) as client:
        outcomes = wait_for(io, client, [(client.namespace, name) for name in args.names], timeout)
    return print_outcomes(io, outcomes, args.output)
