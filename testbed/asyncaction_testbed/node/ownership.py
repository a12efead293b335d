"""Who owns this machine's one real node: recorded in ``/run/asyncaction-node/owner.json``.

There is one node per machine (the kubelet has fixed host paths and the bridge is a host
link), shared between ``make up`` state directories and test sessions. The owner record
and ``machine_lock`` let exactly one of them start, reuse or stop it; anyone else gets
``NodeInUse``. An owner that died without stopping no longer counts, so the next start
cleans up after it instead of refusing forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asyncaction_testbed import procs
from asyncaction_testbed.node.preflight import NodeUnavailable

RUN_DIR = Path("/run/asyncaction-node")
LOCK_FILE = Path("/run/asyncaction-node.lock")


class NodeInUse(NodeUnavailable):
    """Another state directory or test session owns the machine's node."""


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """Serializes starting and stopping the machine's node across processes."""
    with LOCK_FILE.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_owner(run: Path = RUN_DIR) -> dict[str, Any] | None:
    try:
        owner: dict[str, Any] = json.loads((run / "owner.json").read_text())
    except (OSError, ValueError):
        return None
    return owner


def current_owner(run: Path = RUN_DIR) -> dict[str, Any] | None:
    """Who runs the node now, if anyone.

    An owner counts while its kubelet or containerd lives and, for a test session (tied
    to its process), while that process lives: a killed session leaves an orphan that
    the next ``start`` cleans up instead of refusing forever.
    """
    owner = read_owner(run)
    if owner is None:
        return None
    tied = owner.get("tied")
    if tied and procs.start_time(int(tied["pid"])) != tied["start"]:
        return None
    state = Path(owner["state"])
    if any(procs.is_running(state, name) for name in ("containerd", "kubelet")):
        return owner
    return None
