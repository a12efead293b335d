"""One function per sub-command (``COMMANDS``): each reads its parsed flags, calls the
Python client, prints through ``Output`` and returns the exit code."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from asyncaction_cli import render, s3
from asyncaction_cli import tasks as task_commands
from asyncaction_cli.console import Output, print_actions, print_outcomes, wait_for
from asyncaction_cli.inputs import (
    connect,
    duration,
    labels_of,
    read_document,
    seconds,
    source_name,
)
from asyncaction_cli.outcomes import EXIT_SUCCEEDED, UsageError
from asyncaction_cli.waiting import ReasonChanges, queue_position
from asyncaction_client.contract import LABEL_ATTEMPT, utcnow
from asyncaction_client.errors import ClientError
from asyncaction_client.model import (
    PHASES,
    Action,
    Filters,
    is_finished,
    name_of,
    namespace_of,
)
from asyncaction_client.sync import Client


def cmd_submit(io: Output, args: argparse.Namespace) -> int:
    timeout = seconds(args.timeout)
    manifest = None
    if args.filename:
        source = args.filename if args.filename == "-" else "@" + args.filename
        manifest = read_document(source, "-f")
        if manifest is None:  # else the complaint would be a missing name or template
            raise UsageError(f"{source_name(source, '-f')} holds no manifest (it is empty)")
        if not isinstance(manifest, dict):
            raise UsageError(f"{source_name(source, '-f')} does not hold one AsyncAction manifest")
    metadata = (manifest or {}).get("metadata")
    in_file = metadata.get("namespace") if isinstance(metadata, dict) else None
    if in_file and args.namespace and in_file != args.namespace:
        # As kubectl: a file that names another namespace than -n is a mistake, not a choice.
        raise UsageError(
            f'the namespace from the file ("{in_file}") does not match -n "{args.namespace}"'
        )
    request = read_document(args.request, "--request") if args.request else None
    if request is not None and not isinstance(request, dict):
        raise UsageError("--request must be a JSON object")
    with connect(args) as client:
        try:
            created = client.submit(
                manifest,
                name=args.name,
                generate_name=args.generate_name,
                template_ref=args.template,
                request=request,
                queue=args.queue,
                priority=args.priority,
                labels=labels_of(args.label),
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        io.say(f"{render.resource_name(created)} submitted in namespace {namespace_of(created)}")
        return finish(io, client, [created], args, timeout)


def finish(
    io: Output,
    client: Client,
    actions: list[Action],
    args: argparse.Namespace,
    timeout: float | None,
) -> int:
    """Print the new action(s); with --wait, wait (``timeout``: the --timeout, read before
    anything was submitted) and exit with the outcome."""
    if not getattr(args, "wait", False):
        print_actions(io, actions, "name" if args.output == "table" else args.output)
        return EXIT_SUCCEEDED
    outcomes = wait_for(io, client, [(namespace_of(a), name_of(a)) for a in actions], timeout)
    return print_outcomes(io, outcomes, args.output)


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


def cmd_logs(io: Output, args: argparse.Namespace) -> int:
    with connect(args) as client:
        action = client.get(args.name)
        current = int((action.get("status") or {}).get("attempts") or 0)
        attempt = args.attempt if args.attempt is not None else current
        if attempt < 1 or attempt > max(current, 0):
            raise ClientError(f"{args.name} has no attempt {attempt} (attempts so far: {current})")
        pods = client.pods(action, attempt)
        if not pods:
            raise ClientError(
                f"no pod left for attempt {attempt} of {args.name} (removed after the TTL?)"
            )
        try:
            for line in client.pod_log(pods[-1], follow=args.follow, tail=args.tail):
                io.data(line + "\n")
            return EXIT_SUCCEEDED
        except ClientError as exc:
            if attempt != current or not (
                (action.get("status") or {}).get("logTail") or args.follow
            ):
                raise
            io.say(
                f"warning: pod log unavailable ({exc}); "
                "showing the lines the job reported (status.logTail)"
            )
        for line in follow_log_tail(client, action, args.follow, args.tail):
            io.data(line + "\n")
    return EXIT_SUCCEEDED


def follow_log_tail(
    client: Client, action: Action, follow: bool, tail: int | None
) -> Iterator[str]:
    printed: list[str] = []
    lines = list((action.get("status") or {}).get("logTail") or [])
    first = lines[-tail:] if tail is not None else lines
    yield from first
    printed.extend(lines)
    if not follow or is_finished(action):
        return
    for update in client.watch(name_of(action), namespace_of(action)):
        fresh = render.new_lines(printed, (update.get("status") or {}).get("logTail") or [])
        yield from fresh
        printed.extend(fresh)
        if is_finished(update) or (update.get("metadata") or {}).get("deletionTimestamp"):
            return


def cmd_outputs(io: Output, args: argparse.Namespace) -> int:
    with connect(args) as client:
        action = client.get(args.name)
    outputs = (action.get("status") or {}).get("outputs") or []
    if args.download is None:
        if args.output == "json":
            io.data(render.as_json(outputs))
        elif args.output == "yaml":
            io.data(render.as_yaml([outputs]))
        elif outputs:
            io.data(render.outputs_table(outputs))
        else:
            io.say(f"{args.name} has no outputs (yet).")
        return EXIT_SUCCEEDED
    try:
        done = s3.download_outputs(outputs, args.download)
    except ValueError as exc:
        raise ClientError(str(exc)) from None
    for item in done:
        io.data(f"{item.path}\n")
    io.say(f"downloaded {len(done)} file(s), {sum(d.size for d in done)} bytes, to {args.download}")
    return EXIT_SUCCEEDED


def _change(verb: str) -> Callable[[Output, argparse.Namespace], int]:
    def run(io: Output, args: argparse.Namespace) -> int:
        changed = []
        with connect(args) as client:
            for name in args.names:
                action = getattr(client, verb)(name)
                io.say(
                    f"{render.resource_name(action)} {verb}{'d' if verb.endswith('e') else 'ed'}"
                )
                changed.append(action)
        print_actions(io, changed, "name" if args.output == "table" else args.output)
        return EXIT_SUCCEEDED

    return run


def cmd_rerun(io: Output, args: argparse.Namespace) -> int:
    timeout = seconds(args.timeout)
    with connect(args) as client:
        created = client.rerun(args.name, generate_name=args.generate_name)
        io.say(f"{render.resource_name(created)} submitted as a rerun of {args.name}")
        return finish(io, client, [created], args, timeout)


def cmd_archive(io: Output, args: argparse.Namespace) -> int:
    try:
        bucket, prefix = s3.archive_location(args.archive)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    namespace = args.namespace
    if namespace is None and not getattr(args, "all_namespaces", False):
        try:
            namespace = Client(kubeconfig=args.kubeconfig, context=args.context).namespace
        except Exception:  # no kubeconfig at all: archives need only S3
            namespace = "default"
    try:
        day = s3.parse_day_flag(args.day) if args.day else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    records = s3.list_archive(
        bucket, prefix, None if getattr(args, "all_namespaces", False) else namespace, day=day
    )
    if args.archive_command == "list":
        if args.output == "json":
            io.data(
                render.as_json([vars(r) | {"archived_at": str(r.archived_at)} for r in records])
            )
        elif args.output == "name":
            io.data("".join(f"s3://{bucket}/{r.key}\n" for r in records))
        elif records:
            now = utcnow()
            io.data(
                render.table(
                    [
                        [
                            r.namespace,
                            r.name,
                            r.uid,
                            r.day or "-",
                            render.age(r.archived_at, now),
                            str(r.size),
                        ]
                        for r in records
                    ],
                    ["NAMESPACE", "NAME", "UID", "DAY", "ARCHIVED", "SIZE"],
                )
            )
        else:
            where = f" of {day}" if day else ""
            io.say(f"No archived records{where} under s3://{bucket}/{prefix}archive/.")
        return EXIT_SUCCEEDED
    matching = [
        r for r in records if r.name == args.name and (args.uid is None or r.uid == args.uid)
    ]
    if not matching:
        raise ClientError(
            f'no archived record of "{args.name}" in namespace "{namespace}" under s3://{bucket}/{prefix}archive/'
        )
    record = s3.read_record(bucket, matching[-1].key)
    if args.output == "json":
        io.data(render.as_json(record))
    elif args.output == "yaml":
        io.data(render.as_yaml([record]))
    else:
        io.data(
            render.actions_table([record], utcnow(), wide=args.output == "wide", namespaces=False)
        )
    return EXIT_SUCCEEDED


def cmd_tasks(io: Output, args: argparse.Namespace) -> int:
    with connect(args) as client:
        io.data(task_commands.run(client, args, io.say))
    return EXIT_SUCCEEDED


COMMANDS: dict[str, Callable[[Output, argparse.Namespace], int]] = {
    "submit": cmd_submit,
    "list": cmd_list,
    "get": cmd_get,
    "describe": cmd_describe,
    "watch": cmd_watch,
    "wait": cmd_wait,
    "logs": cmd_logs,
    "outputs": cmd_outputs,
    "pause": _change("pause"),
    "resume": _change("resume"),
    "abort": _change("abort"),
    "rerun": cmd_rerun,
    "archive": cmd_archive,
    "tasks": cmd_tasks,
}
