import os
import sys
from pathlib import Path

from asyncaction_testbed import procs


def test_a_reused_pid_is_not_our_process(tmp_path: Path) -> None:
    procs.pid_file(tmp_path, "x").parent.mkdir(parents=True)
    procs.pid_file(tmp_path, "x").write_text(f"{os.getpid()}\n12345\n")  # other start time
    assert procs.read_pid(tmp_path, "x") is None
    assert not procs.is_running(tmp_path, "x")


def test_start_records_pid_and_program_and_stop_ends_the_group(tmp_path: Path) -> None:
    pid = procs.start(tmp_path, "sleeper", [sys.executable, "-c", "import time; time.sleep(30)"])
    assert procs.read_pid(tmp_path, "sleeper") == pid
    assert procs.is_running(tmp_path, "sleeper")
    assert procs.stop(tmp_path, "sleeper", timeout=5)
    assert not procs.is_running(tmp_path, "sleeper")
    assert not procs.stop(tmp_path, "sleeper")
