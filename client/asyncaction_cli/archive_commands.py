"""``asyncaction archive list|get``: the records the operator archived to S3 after an
action was deleted, read with the user's own S3 credentials.

The one command that needs no cluster (the kubeconfig only names the default
namespace), so it stands apart from the commands that talk to the API server.
"""

from __future__ import annotations

import argparse

from asyncaction_cli import render, s3
from asyncaction_cli.console import Output
from asyncaction_cli.outcomes import EXIT_SUCCEEDED, UsageError
from asyncaction_client.contract import utcnow
from asyncaction_client.errors import ClientError
from asyncaction_client.sync import Client


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
