"""``asyncaction-operator``: run the operator (kopf) with this project's handlers.

A thin wrapper over ``kopf run`` so users get one console script with the project's
defaults: the handlers module, a liveness endpoint, and namespace scoping. kopf always
runs standalone: several replicas elect a leader on a coordination.k8s.io Lease
(``asyncaction.runtime.leader``), not through kopf's peering.
"""

from __future__ import annotations

import argparse
import os
import sys

from kopf.cli import main as kopf_main


def build_argv(args: argparse.Namespace) -> list[str]:
    argv = ["run", "--module", "asyncaction.handlers", "--log-format", args.log_format]
    argv.append("--standalone")
    if args.liveness:
        argv += ["--liveness", args.liveness]
    if args.namespace:
        for ns in args.namespace:
            argv += ["--namespace", ns]
    else:
        argv.append("--all-namespaces")
    if args.verbose:
        argv.append("--verbose")
    return argv


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="asyncaction-operator",
        description="Run the AsyncAction operator. Settings come from ASYNCACTION_* "
        "environment variables (see docs/configuration.md).",
    )
    parser.add_argument(
        "--namespace", "-n", action="append", help="watch only this namespace (repeatable)"
    )
    parser.add_argument(
        "--liveness",
        default="http://0.0.0.0:8081/healthz",
        help="liveness endpoint URL ('' to disable)",
    )
    parser.add_argument("--log-format", default="full", choices=["plain", "full", "json"])
    parser.add_argument("--verbose", "-v", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.namespace:  # the controllers' informers watch these (settings.namespaces)
        os.environ["ASYNCACTION_NAMESPACES"] = " ".join(args.namespace)
    sys.argv = ["kopf", *build_argv(args)]
    kopf_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
