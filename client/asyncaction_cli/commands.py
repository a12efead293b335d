"""The ``asyncaction`` sub-commands (``COMMANDS``): each function reads its parsed flags,
calls the Python client, prints through ``Output`` and returns the exit code.

The functions are grouped by what they act on: ``change_commands`` (submit, rerun,
pause, resume, abort: the writes), ``read_commands`` (list, get, describe, watch,
wait), ``result_commands`` (an action's logs and outputs), ``archive_commands`` (the
S3 archive of deleted actions) and ``tasks`` (an action's tasks, whose entry point is
the one function here). This module maps each verb to its function.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from asyncaction_cli import tasks as task_commands
from asyncaction_cli.archive_commands import cmd_archive
from asyncaction_cli.change_commands import (
    cmd_abort,
    cmd_pause,
    cmd_rerun,
    cmd_resume,
    cmd_submit,
)
from asyncaction_cli.console import Output
from asyncaction_cli.inputs import connect
from asyncaction_cli.outcomes import EXIT_SUCCEEDED
from asyncaction_cli.read_commands import cmd_describe, cmd_get, cmd_list, cmd_wait, cmd_watch
from asyncaction_cli.result_commands import cmd_logs, cmd_outputs


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
    "pause": cmd_pause,
    "resume": cmd_resume,
    "abort": cmd_abort,
    "rerun": cmd_rerun,
    "archive": cmd_archive,
    "tasks": cmd_tasks,
}
