"""The commands that create or change actions: ``submit``, ``rerun``, ``pause``,
``resume`` and ``abort``. They share ``finish``: print what was made or changed, or with
``--wait`` wait for it and exit with its outcome.

They are the CLI's only writes to the cluster, kept apart from the commands that read
(``read_commands``), show results (``result_commands``) or read the S3 archive
(``archive_commands``); ``commands.COMMANDS`` maps each verb to its function.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from asyncaction_cli import render
from asyncaction_cli.console import Output, print_actions, print_outcomes, wait_for
from asyncaction_cli.inputs import connect, labels_of, read_document, seconds, source_name
from asyncaction_cli.outcomes import EXIT_SUCCEEDED, UsageError
from asyncaction_client.model import Action, name_of, namespace_of
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


cmd_pause = _change("pause")
cmd_resume = _change("resume")
cmd_abort = _change("abort")
