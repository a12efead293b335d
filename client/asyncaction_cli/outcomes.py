"""What the CLI's exit code says: one code per outcome (``EXIT_CODES``, documented in
docs/cli.md), and the code of a set of waited-for actions."""

from __future__ import annotations

from collections.abc import Sequence

from asyncaction_client.contract import Phase
from asyncaction_client.errors import ActionNotFound, WaitTimeout
from asyncaction_client.model import Action

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
    EXIT_ERROR: "an error: not found; refused by or unreachable: API server, S3; bad kubeconfig",
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


class UsageError(Exception):
    """Bad input found after parsing (a file that is not YAML, a malformed --request)."""


Outcome = Action | WaitTimeout | ActionNotFound  # what one wait of several ended with


def exit_code_for(actions: Sequence[Outcome]) -> int:
    """0 when all SUCCEEDED, else the code of the first (in the order asked) that did not;
    a wait that ran out of time counts as EXIT_WAIT_TIMEOUT in its place, an action not
    found (or deleted while waited for) as EXIT_ERROR."""
    for action in actions:
        if isinstance(action, WaitTimeout):
            return EXIT_WAIT_TIMEOUT
        if isinstance(action, ActionNotFound):
            return EXIT_ERROR
        code = PHASE_EXIT.get((action.get("status") or {}).get("phase") or "", EXIT_ERROR)
        if code != EXIT_SUCCEEDED:
            return code
    return EXIT_SUCCEEDED
