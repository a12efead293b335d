"""``asyncaction``: submit AsyncActions, follow them and wait for their results.

Also installed as ``kubectl-asyncaction``, so ``kubectl asyncaction ...`` runs it as a
kubectl plugin. Flags follow kubectl (-n, -A, --context, --kubeconfig, -l, -o). Data goes
to stdout, messages to stderr; the exit code tells the outcome (see ``EXIT_CODES``).

The modules: ``parser`` (the command line), ``commands`` (one function per verb, in
``change_commands``, ``read_commands``, ``result_commands``, ``archive_commands`` and
``tasks`` by what they act on), ``console`` (what is printed and how), ``outcomes``
(exit codes); this one runs a command and turns any error into one line and its exit
code.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from urllib3.exceptions import MaxRetryError, NewConnectionError

from asyncaction_cli.commands import COMMANDS
from asyncaction_cli.console import Output
from asyncaction_cli.outcomes import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    EXIT_WAIT_TIMEOUT,
    UsageError,
)
from asyncaction_cli.parser import build_parser, parse
from asyncaction_client.errors import ActionNotFound, ClientError, WaitTimeout


def run(argv: Sequence[str], io: Output) -> int:
    parser = build_parser()
    args = parse(parser, argv)
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
    except (MaxRetryError, NewConnectionError) as exc:  # no connection to the API server
        io.say(f"error: {unreachable(exc)}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        io.say("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # one clear line, not a traceback: config, network, S3
        if os.environ.get("ASYNCACTION_DEBUG"):
            raise
        io.say(f"error: {describe_exception(exc)}")
        return EXIT_ERROR


def unreachable(exc: MaxRetryError | NewConnectionError) -> str:
    """``cannot reach the API server URL: WHY``, instead of urllib3's paragraph that repeats
    the host, the port and the request path twice. (The client makes no retries inside
    urllib3: the connection's own error comes, a NewConnectionError, not MaxRetryError.)"""
    pool = exc.pool if isinstance(exc, MaxRetryError) else exc.conn
    scheme = getattr(pool, "scheme", None) or (
        "https" if type(pool).__name__.startswith("HTTPS") else "http"
    )
    server = f"{scheme}://{pool.host}:{pool.port}" if pool is not None else "the API server"
    reason: BaseException = getattr(exc, "reason", None) or exc
    cause = reason.__cause__ or reason.__context__ or reason
    why = getattr(cause, "strerror", None) or describe_exception(cause)
    return f"cannot reach the API server {server}: {why}"


def describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> NoReturn:
    raise SystemExit(run(sys.argv[1:] if argv is None else argv, Output(sys.stdout, sys.stderr)))


__all__ = ["Output", "main", "run"]
