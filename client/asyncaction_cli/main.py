"""``asyncaction``: submit AsyncActions, follow them and wait for their results.

Also installed as ``kubectl-asyncaction``, so ``kubectl asyncaction ...`` runs it as a
kubectl plugin. Flags follow kubectl (-n, -A, --context, --kubeconfig, -l, -o). Data goes
to stdout, messages to stderr; the exit code tells the outcome (see ``EXIT_CODES``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

import yaml

from asyncaction_cli import render, s3
from asyncaction_cli import tasks as task_commands
from asyncaction_cli.waiting import ReasonChanges, queue_position
from asyncaction_client.contract import LABEL_ATTEMPT, Phase, utcnow
from asyncaction_client.errors import ActionNotFound, ClientError, WaitTimeout
from asyncaction_client.model import (
    PHASES,
    Action,
    Filters,
    is_finished,
    name_of,
    namespace_of,
    parse_duration,
)
from asyncaction_client.sync import Client

EXIT_SUCCEEDED = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_ABORTED = 4
EXIT_TIMEOUT = 5
EXIT_WAIT_TIMEOUT = 6
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_SUCCEEDED: "the action(s) SUCCEEDED (or the command did what it was asked)",
    EXIT_ERROR: "an error: not found, refused by the API server or S3, unreachable",
    EXIT_USAGE: "the command line or its input is wrong (flags, the -f file, --request)",
    EXIT_FAILED: "an action ended FAILED",
    EXIT_ABORTED: "an action ended ABORTED",
    EXIT_TIMEOUT: "an action ended TIMEOUT (its activeDeadlineSeconds passed)",
    EXIT_WAIT_TIMEOUT: "the wait's own --timeout passed first (the action goes on)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}
PHASE_EXIT = {
    Phase.SUCCEEDED.value: EXIT_SUCCEEDED,
    Phase.FAILED.value: EXIT_FAILED,
    Phase.ABORTED.value: EXIT_ABORTED,
    Phase.TIMEOUT.value: EXIT_TIMEOUT,
}
FORMATS = ["table", "wide", "json", "yaml", "name"]
PROG = "asyncaction"


class UsageError(Exception):
    """Bad input found after parsing (a file that is not YAML, a malformed --request)."""


def exit_code_for(actions: Sequence[Action | WaitTimeout]) -> int:
    """0 when all SUCCEEDED, else the code of the first (in the order asked) that did not;
    a wait that ran out of time counts as EXIT_WAIT_TIMEOUT in its place."""
    for action in actions:
        if isinstance(action, WaitTimeout):
            return EXIT_WAIT_TIMEOUT
        code = PHASE_EXIT.get((action.get("status") or {}).get("phase") or "", EXIT_ERROR)
        if code != EXIT_SUCCEEDED:
            return code
    return EXIT_SUCCEEDED


@dataclass
class Output:
    """Where data and messages go; tests hand in buffers."""

    out: TextIO
    err: TextIO

    def data(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def say(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    @property
    def live(self) -> bool:
        """Live drawing (watch table, progress bar) only for a person at a terminal."""
        return self.out.isatty() and self.err.isatty()

    def width(self) -> int:
        return shutil.get_terminal_size((100, 24)).columns


# -- the parser ---------------------------------------------------------------------------


def _formatter(prog: str) -> argparse.HelpFormatter:
    # A fixed width keeps the generated reference (docs/cli.md) the same on every terminal.
    return argparse.RawDescriptionHelpFormatter(prog, width=100, max_help_position=32)


def _common(
    *, all_namespaces: bool = False, output: Sequence[str] | None = None
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("cluster options (as kubectl)")
    group.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
    )
    group.add_argument("--context", help="kubeconfig context to use")
    group.add_argument("-n", "--namespace", help="namespace (default: the context's, else default)")
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log connection events (watch reconnects) to stderr",
    )
    if all_namespaces:
        group.add_argument(
            "-A", "--all-namespaces", action="store_true", help="across all namespaces"
        )
    if output:
        parser.add_argument(
            "-o",
            "--output",
            choices=list(output),
            default="table",
            help="output format (default: table)",
        )
    return parser


EXAMPLES = (
    """\
exit codes:
"""
    + "\n".join(f"  {code:<4}{meaning}" for code, meaning in EXIT_CODES.items())
    + """

examples:
  asyncaction submit -f action.yaml --wait
  asyncaction submit --template wordcount --request '{"text": "a b"}' --generate-name wc- \
      --wait -o result
  asyncaction list -A --phase FAILED --since 1h
  asyncaction wait hello --timeout 10m
  kubectl asyncaction get hello -o yaml      # the same, as a kubectl plugin
"""
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Submit AsyncActions, follow them and wait for their results.",
        epilog=EXAMPLES,
        formatter_class=_formatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help, description=help, parents=list(parents), formatter_class=_formatter
        )

    with_result = [*FORMATS, "result"]
    submit = command(
        "submit",
        "Create an action from a file or a template, optionally wait for it.",
        _common(output=with_result),
    )
    source = submit.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "-f",
        "--filename",
        metavar="FILE",
        help="AsyncAction manifest, YAML or JSON ('-' reads stdin)",
    )
    source.add_argument(
        "--template", metavar="NAME", help="ActionTemplate to run (spec.templateRef)"
    )
    submit.add_argument(
        "--request", metavar="JSON|@FILE", help="the request document, inline or @file"
    )
    submit.add_argument("--name", help="name of the new action")
    submit.add_argument(
        "--generate-name", metavar="PREFIX", help="let the server add a random suffix to PREFIX"
    )
    submit.add_argument("--queue", help="ActionQueue to wait in")
    submit.add_argument("--priority", type=int, help="higher is admitted first within the queue")
    submit.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="label to set (repeatable)",
    )
    _wait_options(submit, "wait until it finishes, showing progress; exit code from the outcome")

    listing = command(
        "list", "List actions, with filters.", _common(all_namespaces=True, output=FORMATS)
    )
    listing.add_argument("-l", "--selector", help="label selector, e.g. team=a,tier!=b")
    listing.add_argument(
        "--phase",
        action="append",
        default=[],
        metavar="PHASE",
        help=f"only these phases (repeatable or comma-separated): {', '.join(PHASES)}",
    )
    listing.add_argument(
        "--queue", action="append", default=[], help="only these (effective) queues (repeatable)"
    )
    listing.add_argument(
        "--since", metavar="DURATION", help="created within DURATION (30s, 5m, 2h, 1d)"
    )
    listing.add_argument("--older-than", metavar="DURATION", help="created more than DURATION ago")

    get = command("get", "Show actions by name.", _common(output=with_result))
    get.add_argument("names", nargs="+", metavar="NAME")

    describe = command(
        "describe",
        "Everything about an action: status, conditions, attempts, outputs, log tail, events.",
        _common(),
    )
    describe.add_argument("name", metavar="NAME")

    watch = command(
        "watch",
        "A live table of actions that redraws in place (one line per change when not a terminal).",
        _common(all_namespaces=True, output=["table", "wide"]),
    )
    watch.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="only these; then it ends once they have all finished",
    )
    watch.add_argument("-l", "--selector", help="label selector")
    watch.add_argument("--timeout", metavar="DURATION", help="stop watching after DURATION")

    wait = command(
        "wait",
        "Wait until actions finish; a progress bar on a terminal; exit code from the outcome.",
        _common(output=with_result),
    )
    wait.add_argument("names", nargs="+", metavar="NAME")
    _wait_options(wait, None)

    logs = command("logs", "Log of the current (or a given) attempt's pod.", _common())
    logs.add_argument("name", metavar="NAME")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines until the attempt ends"
    )
    logs.add_argument(
        "--attempt", type=int, metavar="N", help="attempt number (default: the current one)"
    )
    logs.add_argument("--tail", type=int, metavar="LINES", help="only the last LINES lines")

    outputs = command(
        "outputs",
        "List the files an action uploaded, or download them with your own S3 credentials.",
        _common(output=["table", "json", "yaml"]),
    )
    outputs.add_argument("name", metavar="NAME")
    outputs.add_argument(
        "--download",
        metavar="DIR",
        type=Path,
        help="download every output to DIR/<key> (keys escaping DIR are refused)",
    )

    for verb, help in (
        (
            "pause",
            "Pause actions (spec.suspend=true); a running attempt stops and reruns on resume.",
        ),
        ("resume", "Resume paused actions (spec.suspend=false)."),
        ("abort", "Abort actions for good (spec.abort=true; phase ABORTED)."),
    ):
        change = command(verb, help, _common(output=["name", "json", "yaml"]))
        change.add_argument("names", nargs="+", metavar="NAME")

    rerun = command(
        "rerun",
        "Submit a new action with the same spec as an existing one.",
        _common(output=with_result),
    )
    rerun.add_argument("name", metavar="NAME")
    rerun.add_argument(
        "--generate-name",
        metavar="PREFIX",
        help="prefix of the new name (default: the old name and '-')",
    )
    _wait_options(rerun, "wait for the new action to finish")

    archive = command("archive", "Records of finished actions archived to S3 after their TTL.")
    archived = archive.add_subparsers(dest="archive_command", required=True, metavar="COMMAND")
    location = argparse.ArgumentParser(add_help=False)
    location.add_argument(
        "--archive",
        metavar="S3URI",
        help="archive store: s3://bucket/prefix (default: $ASYNCACTION_ARCHIVE, else s3://$ASYNCACTION_BUCKET/)",
    )
    location.add_argument(
        "-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)"
    )
    location.add_argument(
        "--kubeconfig", metavar="FILE", help="kubeconfig, only to find the default namespace"
    )
    location.add_argument(
        "--context", help="kubeconfig context, only to find the default namespace"
    )
    task_commands.add_parser(command, _common(output=["table", "json", "name"]))
    archive_list = archived.add_parser(
        "list",
        help="List archived records.",
        description="List archived records.",
        parents=[location],
        formatter_class=_formatter,
    )
    archive_list.add_argument(
        "-A", "--all-namespaces", action="store_true", help="across all namespaces"
    )
    archive_list.add_argument(
        "--day",
        metavar="YYYY-MM-DD",
        help="only the records of actions that finished that UTC day (one S3 prefix: fast)",
    )
    archive_list.add_argument(
        "-o",
        "--output",
        choices=["table", "json", "name"],
        default="table",
        help="output format (default: table)",
    )
    archive_get = archived.add_parser(
        "get",
        help="Print an archived record.",
        description="Print an archived record (the newest, when the name was reused).",
        parents=[location],
        formatter_class=_formatter,
    )
    archive_get.add_argument("name", metavar="NAME")
    archive_get.add_argument("--uid", help="the record of this uid, when the name was reused")
    archive_get.add_argument(
        "--day", metavar="YYYY-MM-DD", help="the UTC day it finished: look only there (fast)"
    )
    archive_get.add_argument(
        "-o",
        "--output",
        choices=["yaml", "json", "table", "wide"],
        default="yaml",
        help="output format (default: yaml)",
    )
    return parser


def _wait_options(parser: argparse.ArgumentParser, flag_help: str | None) -> None:
    if flag_help:
        parser.add_argument("--wait", action="store_true", help=flag_help)
    parser.add_argument(
        "--timeout",
        metavar="DURATION",
        help="give up waiting after DURATION (exit code 6); default: no limit",
    )


# -- helpers ------------------------------------------------------------------------------


def connect(args: argparse.Namespace) -> Client:
    return Client(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)


def seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def print_actions(
    io: Output,
    actions: Sequence[Action],
    fmt: str,
    *,
    namespaces: bool = False,
    listing: bool = False,
) -> None:
    """``actions`` in format ``fmt``. As kubectl: json and yaml print one object bare when
    one was asked for by name, else a ``List`` with ``items``; ``listing`` (the list
    command) always prints a List, so ``jq '.items[]'`` works whatever matched."""
    if fmt in ("table", "wide"):
        if not actions:
            io.say("No actions found.")
            return
        io.data(render.actions_table(actions, utcnow(), wide=fmt == "wide", namespaces=namespaces))
    elif fmt in ("json", "yaml"):
        document: Mapping[str, Any] = (
            actions[0]
            if len(actions) == 1 and not listing
            else {"apiVersion": "v1", "kind": "List", "items": list(actions)}
        )
        io.data(render.as_json(document) if fmt == "json" else render.as_yaml([document]))
    elif fmt == "name":
        io.data("".join(render.resource_name(a) + "\n" for a in actions))
    elif fmt == "result":
        for action in actions:
            if (action.get("status") or {}).get("phase") == Phase.SUCCEEDED.value:
                io.data(
                    json.dumps((action.get("status") or {}).get("result") or {}, sort_keys=True)
                    + "\n"
                )


def read_document(source: str) -> Any:
    """JSON or YAML from ``-`` (stdin), ``@FILE`` or the text itself."""
    try:
        if source == "-":
            text = sys.stdin.read()
        elif source.startswith("@"):
            text = Path(source[1:]).read_text()
        else:
            text = source
        return yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read {source!r}: {exc}") from None


def labels_of(pairs: Sequence[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--label wants KEY=VALUE, got {pair!r}")
        labels[key] = value
    return labels


class ProgressBar:
    """One line on stderr, redrawn in place, for a person at a terminal."""

    def __init__(self, io: Output) -> None:
        self.io = io
        self.drawn = False

    def update(self, action: Action) -> None:
        line = render.progress_line(action, self.io.width())
        self.io.err.write("\r\x1b[K" + line)
        self.io.err.flush()
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            self.io.err.write("\n")
            self.io.err.flush()
            self.drawn = False


def wait_for(
    io: Output, client: Client, targets: Sequence[tuple[str, str]], timeout: float | None
) -> list[Action | WaitTimeout]:
    """Wait for each (namespace, name) in turn within one shared deadline; each outcome,
    or the WaitTimeout of one still running at the deadline, in the order asked. An action
    that finished before the deadline is reported even when waiting for the ones before
    it used up the time (its wait then only reads it)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    outcomes: list[Action | WaitTimeout] = []
    reasons = ReasonChanges()  # why each waits, printed once per change
    for namespace, name in targets:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        bar = ProgressBar(io) if io.live else None

        def update(action: Action, bar: ProgressBar | None = bar) -> None:
            line = reasons.line(action)
            if line is not None:
                if bar:
                    bar.done()
                io.say(line)
            if bar:
                bar.update(action)

        try:
            action = client.wait_finished(name, namespace, timeout=remaining, on_update=update)
        except WaitTimeout as exc:
            if bar:
                bar.done()
            timed_out = WaitTimeout(name, timeout or 0.0, exc.action)
            io.say(f"error: {timed_out}")
            outcomes.append(timed_out)
            continue
        if bar:
            bar.done()
        io.say(render.outcome_line(action))
        outcomes.append(action)
    return outcomes


def print_outcomes(io: Output, outcomes: Sequence[Action | WaitTimeout], fmt: str) -> int:
    """The actions that finished, in ``fmt``, and the exit code of all outcomes. When none
    finished, nothing is printed: each timeout already said so on stderr."""
    finished = finished_only(outcomes)
    if finished:
        print_actions(io, finished, fmt)
    return exit_code_for(outcomes)


def finished_only(outcomes: Sequence[Action | WaitTimeout]) -> list[Action]:
    return [o for o in outcomes if not isinstance(o, WaitTimeout)]


# -- commands -----------------------------------------------------------------------------


def cmd_submit(io: Output, args: argparse.Namespace) -> int:
    manifest = None
    if args.filename:
        manifest = read_document(args.filename if args.filename == "-" else "@" + args.filename)
    if manifest is not None and not isinstance(manifest, dict):
        raise UsageError(f"{args.filename} does not hold one AsyncAction manifest")
    in_file = ((manifest or {}).get("metadata") or {}).get("namespace")
    if in_file and args.namespace and in_file != args.namespace:
        # As kubectl: a file that names another namespace than -n is a mistake, not a choice.
        raise UsageError(
            f'the namespace from the file ("{in_file}") does not match -n "{args.namespace}"'
        )
    request = read_document(args.request) if args.request else None
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
        return finish(io, client, [created], args)


def finish(io: Output, client: Client, actions: list[Action], args: argparse.Namespace) -> int:
    """Print the new action(s); with --wait, wait first and exit with the outcome."""
    if not getattr(args, "wait", False):
        print_actions(io, actions, "name" if args.output == "table" else args.output)
        return EXIT_SUCCEEDED
    outcomes = wait_for(
        io, client, [(namespace_of(a), name_of(a)) for a in actions], seconds(args.timeout)
    )
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
        since=parse_duration(args.since) if args.since else None,
        older_than=parse_duration(args.older_than) if args.older_than else None,
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
    with connect(args) as client:
        outcomes = wait_for(
            io, client, [(client.namespace, name) for name in args.names], seconds(args.timeout)
        )
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
    with connect(args) as client:
        created = client.rerun(args.name, generate_name=args.generate_name)
        io.say(f"{render.resource_name(created)} submitted as a rerun of {args.name}")
        return finish(io, client, [created], args)


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
        day = s3.archive_day(args.day) if args.day else None
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


def run(argv: Sequence[str], io: Output) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        handler = logging.StreamHandler(io.err)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logging.getLogger("asyncaction_client").addHandler(handler)
        logging.getLogger("asyncaction_client").setLevel(logging.INFO)
    try:
        return COMMANDS[args.command](io, args)
    except UsageError as exc:
        io.say(f"error: {exc}")
        return EXIT_USAGE
    except WaitTimeout as exc:
        io.say(f"error: {exc}")
        return EXIT_WAIT_TIMEOUT
    except (ClientError, ActionNotFound) as exc:
        io.say(f"error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        io.say("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # one clear line, not a traceback: config, network, S3
        if os.environ.get("ASYNCACTION_DEBUG"):
            raise
        io.say(f"error: {describe_exception(exc)}")
        return EXIT_ERROR


def describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> NoReturn:
    raise SystemExit(run(sys.argv[1:] if argv is None else argv, Output(sys.stdout, sys.stderr)))
