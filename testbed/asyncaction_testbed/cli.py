"""``asyncaction-testbed``: the local system behind ``make up``, ``down``, ``status``, ``demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from asyncaction_testbed.demo import run_demo
from asyncaction_testbed.stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="asyncaction-testbed", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "demo"])
    parser.add_argument("--state", type=Path, default=Path(".local"), help="state directory")
    parser.add_argument("--examples", type=Path, default=Path("examples"))
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="with up: also run a Prometheus scraping the operator and the hook",
    )
    args = parser.parse_args(argv)
    stack = Stack(args.state)
    if args.command == "up":
        stack.up()
        if args.prometheus:
            print(f"[asyncaction] prometheus: {stack.start_prometheus()}", flush=True)
    elif args.command == "down":
        stack.down()
    elif args.command == "status":
        for name, running in stack.status().items():
            print(f"{name:<14} {'running' if running else 'stopped'}")
    else:
        return run_demo(args.state, args.examples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
