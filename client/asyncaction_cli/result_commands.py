"""The commands that show what an action produced: ``logs`` (its pod's log lines, or the
lines the job reported in ``status.logTail`` once the pod is gone) and ``outputs`` (the
files it uploaded, listed or downloaded from S3 with the user's own credentials).

They read the products of a run rather than the action's state (``read_commands``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from asyncaction_cli import render, s3
from asyncaction_cli.console import Output
from asyncaction_cli.inputs import connect
from asyncaction_cli.outcomes import EXIT_SUCCEEDED
from asyncaction_client.errors import ClientError
from asyncaction_client.model import Action, is_finished, name_of, namespace_of
from asyncaction_client.sync import Client


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
