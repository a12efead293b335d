"""Who owns the machine's node: a live owner blocks others, a dead test session does not."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from asyncaction_testbed import procs
from asyncaction_testbed.node import current_owner
from asyncaction_testbed.node.host import differences


def running_containerd(state: Path) -> None:
    """Pretend this test process is the node's containerd (a live, recorded pid)."""
    pid = os.getpid()
    procs.pid_file(state, "containerd").parent.mkdir(parents=True)
    procs.pid_file(state, "containerd").write_text(f"{pid}\n{procs.start_time(pid)}\n")


def write_owner(run: Path, state: Path, tied: dict[str, object] | None) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "owner.json").write_text(json.dumps({"state": str(state), "label": "x", "tied": tied}))


def test_make_up_owner_counts_while_its_node_runs(tmp_path: Path) -> None:
    state, run = tmp_path / "state", tmp_path / "run"
    write_owner(run, state, None)
    assert current_owner(run) is None  # nothing runs
    running_containerd(state)
    assert current_owner(run) == {"state": str(state), "label": "x", "tied": None}


def test_a_dead_test_session_leaves_an_orphan_not_an_owner(tmp_path: Path) -> None:
    state, run = tmp_path / "state", tmp_path / "run"
    running_containerd(state)
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_owner(run, state, {"pid": gone.pid, "start": "12345"})
    assert current_owner(run) is None
    me = os.getpid()
    write_owner(run, state, {"pid": me, "start": procs.start_time(me)})
    assert current_owner(run) is not None


def test_differences_name_what_changed() -> None:
    before = {"links": ["eth0", "lo"], "sysctls": {"net.ipv4.ip_forward": "0"}}
    after = {"links": ["asyncaction0", "eth0", "lo"], "sysctls": {"net.ipv4.ip_forward": "0"}}
    assert differences(before, before) == []
    (change,) = differences(before, after)
    assert change.startswith("links:")
    assert "asyncaction0" in change
