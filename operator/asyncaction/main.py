"""``asyncaction-operator``: run the operator (kopf) with this project's handlers.

One console script with the project's defaults. Settings are read and validated first
(``asyncaction.settings``): a wrong value stops the process with exit code 2 and a
message naming the variable. kopf is then started through its public API
(``kopf.run``) with the served namespaces, always standalone: several replicas elect a
leader on a coordination.k8s.io Lease (``asyncaction.runtime.leader``), not through
kopf's peering. The exit code says how it ended: 0 after a signal, 1 when it could
not start or stopped itself (the Lease lost, a cache refused), 2 for invalid settings.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from asyncaction.leankopf import kopf  # kopf, without the client libraries (memory)
from asyncaction.probes import Lifeline
from asyncaction.settings import OperatorSettings, SettingsError, unknown_variables

log = logging.getLogger("asyncaction.main")
LOG_FORMATS = {
    "plain": kopf.LogFormat.PLAIN,
    "full": kopf.LogFormat.FULL,
    "json": kopf.LogFormat.JSON,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="asyncaction-operator",
        description="Run the AsyncAction operator. Settings come from ASYNCACTION_* "
        "environment variables (see docs/configuration.md); invalid ones stop it with "
        "exit code 2 and a message naming the variable.",
    )
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        help="serve only this namespace (repeatable; 'a,b' or 'a b' name several; "
        "default: ASYNCACTION_NAMESPACES, else all namespaces)",
    )
    parser.add_argument(
        "--liveness",
        default="http://0.0.0.0:8081/healthz",
        help="health endpoints: liveness at this URL's path, readiness at /readyz and "
        "figures at /metrics on the same port ('' to disable)",
    )
    parser.add_argument("--log-format", default="full", choices=sorted(LOG_FORMATS))
    parser.add_argument("--verbose", "-v", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kopf.configure(verbose=args.verbose, log_format=LOG_FORMATS[args.log_format])
    try:
        settings = OperatorSettings.from_env(namespaces=args.namespace)
    except SettingsError as exc:
        log.critical("%s", exc)
        return 2
    for warning in unknown_variables(os.environ):
        log.warning("%s", warning)
    try:
        return asyncio.run(serve(settings, args.liveness or None))
    except Exception as exc:  # a start-up handler failed: kopf logged it in full
        cause = exc.__cause__ or exc
        log.critical("the operator could not start: %s", cause)
        return 1


async def serve(settings: OperatorSettings, probes: str | None) -> int:
    """Run kopf with the handlers until a signal or the ``Lifeline`` stops it."""
    import asyncaction.handlers  # noqa: F401 - registers the handlers with kopf

    # A leader that lost its Lease must be gone before a standby may take it over: its
    # graceful stop gets half the margin between the renew deadline and the Lease.
    margin = settings.lease_seconds - settings.lease_renew_deadline_seconds
    lifeline = Lifeline(stop_flag=asyncio.Event(), grace_seconds=min(5.0, max(0.5, margin / 2)))
    await kopf.operator(
        standalone=True,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        stop_flag=lifeline.stop_flag,
        memo=kopf.Memo(settings=settings, lifeline=lifeline, probes=probes),
    )
    return lifeline.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
