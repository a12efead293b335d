"""``python -m asyncaction_testbed.nodeagent --kubeconfig K --log-dir D [--namespace NS]``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from asyncaction_testbed.nodeagent.agent import NodeAgent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncaction_testbed.nodeagent")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--log-dir", type=Path, required=True)
    parser.add_argument("--namespace")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    agent = NodeAgent(args.kubeconfig, args.log_dir, args.namespace)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        agent.stop()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = threading.Thread(target=agent.run_forever, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=0.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
