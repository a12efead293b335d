"""The command line: flags as kubectl has them (-n, -A, --context, --kubeconfig, -l, -o),
one sub-command per verb; ``build_parser`` is also what docs/cli.md is generated from."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from asyncaction_cli import tasks as task_commands
from asyncaction_cli.outcomes import EXIT_CODES, EXIT_USAGE
from asyncaction_client.model import PHASES

FORMATS = ["table", "wide", "json", "yaml", "name"]
PROG = "asyncaction"


class CommandLine(argparse.ArgumentParser):
    """argparse, with its errors as one line in the CLI's own form (``error: ...``) that
    points at the command's --help, instead of the usage block (up to five lines of
    every flag) above the message; the exit code stays 2 (EXIT_USAGE)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see '{self.prog} --help')\n")


def _formatter(prog: str) -> argparse.HelpFormatter:
    # A fixed width keeps the generated reference (docs/cli.md) the same on every terminal.
    return argparse.RawDescriptionHelpFormatter(prog, width=100, max_help_position=32)


def at_least(least: int) -> Callable[[str], int]:
    """An argparse type for a whole number of at least ``least``: a negative --tail or a
    zeroth --attempt is refused on the command line, not sent to the API server."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be {least} or more, got {value}")
        return value

    return parse


def nonempty(text: str) -> str:
    """An argparse type that refuses an empty value: ``-n "$NS"`` with ``NS`` unset must
    not act on the context's namespace (an abort there is not what was asked), nor an
    empty ``--name`` or ``--request`` stand for no value."""
    if not text:
        raise argparse.ArgumentTypeError("empty: give a value, or leave the flag out")
    return text


def _common(*, all_namespaces: bool = False, output: Sequence[str] | None = None) -> CommandLine:
    parser = CommandLine(add_help=False)
    group = parser.add_argument_group("cluster options (as kubectl)")
    group.add_argument(
        "--kubeconfig",
        type=nonempty,
        metavar="FILE",
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
    )
    group.add_argument("--context", type=nonempty, help="kubeconfig context to use")
    group.add_argument(
        "-n",
        "--namespace",
        type=nonempty,
        help="namespace (default: the context's, else default)",
    )
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
            default=output[0],
            help=f"output format (default: {output[0]})",
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
    parser = CommandLine(
        prog=PROG,
        description="Submit AsyncActions, follow them and wait for their results.",
        epilog=EXAMPLES,
        formatter_class=_formatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, *parents: CommandLine) -> CommandLine:
        sub = commands.add_parser(
            name, help=help, description=help, parents=list(parents), formatter_class=_formatter
        )
        sub.set_defaults(command_parser=sub)
        return sub

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
        type=nonempty,
        metavar="FILE",
        help="AsyncAction manifest, YAML or JSON ('-' reads stdin)",
    )
    source.add_argument(
        "--template",
        type=nonempty,
        metavar="NAME",
        help="ActionTemplate to run (spec.templateRef)",
    )
    submit.add_argument(
        "--request",
        type=nonempty,
        metavar="JSON|@FILE",
        help="the request document, inline or @file",
    )
    submit.add_argument("--name", type=nonempty, help="name of the new action")
    submit.add_argument(
        "--generate-name",
        type=nonempty,
        metavar="PREFIX",
        help="let the server add a random suffix to PREFIX",
    )
    submit.add_argument("--queue", type=nonempty, help="ActionQueue to wait in")
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
        "--attempt", type=at_least(1), metavar="N", help="attempt number (default: the current one)"
    )
    logs.add_argument("--tail", type=at_least(0), metavar="LINES", help="only the last LINES lines")

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
        type=nonempty,
        metavar="PREFIX",
        help="prefix of the new name (default: the old name and '-')",
    )
    _wait_options(rerun, "wait for the new action to finish")

    archive = command("archive", "Records of finished actions archived to S3 after their TTL.")
    archived = archive.add_subparsers(dest="archive_command", required=True, metavar="COMMAND")
    location = CommandLine(add_help=False)
    location.add_argument(
        "--archive",
        type=nonempty,
        metavar="S3URI",
        help="archive store: s3://bucket/prefix (default: $ASYNCACTION_ARCHIVE, else s3://$ASYNCACTION_BUCKET/)",
    )
    location.add_argument(
        "-n",
        "--namespace",
        type=nonempty,
        help="namespace (default: the kubeconfig context's, else default)",
    )
    location.add_argument(
        "--kubeconfig",
        type=nonempty,
        metavar="FILE",
        help="kubeconfig, only to find the default namespace",
    )
    location.add_argument(
        "--context", type=nonempty, help="kubeconfig context, only to find the default namespace"
    )
    task_commands.add_parser(command, _common(output=["table", "json", "name"]))
    archive_list = archived.add_parser(
        "list",
        help="List archived records.",
        description="List archived records.",
        parents=[location],
        formatter_class=_formatter,
    )
    archive_list.set_defaults(command_parser=archive_list)
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
    archive_get.set_defaults(command_parser=archive_get)
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


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``parser.parse_args``, except that arguments left over are reported by the command
    they were given to, with its usage ('asyncaction describe: error: unrecognized
    arguments: b'), not by the top-level parser, whose usage shows no NAME at all; and
    options given before the command are named as such, not as an unknown command."""
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        # kubectl habits ('-n NS get'): else argparse takes NS for an unknown command
        parser.error(
            f"options go after the command, as in '{PROG} list -n NAMESPACE': "
            f"{argv[0]!r} came first"
        )
    args, extra = parser.parse_known_args(argv)
    if extra:
        owner: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        owner.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _wait_options(parser: argparse.ArgumentParser, flag_help: str | None) -> None:
    if flag_help:
        parser.add_argument("--wait", action="store_true", help=flag_help)
    parser.add_argument(
        "--timeout",
        metavar="DURATION",
        help="give up waiting after DURATION (exit code 6); default: no limit",
    )
