"""``asyncaction-job run`` passes the signals it gets on to the command, and reports an
end by a signal as a shell does (128 + the signal's number).

The operator makes the wrapper the container's command, so in a container it is PID 1,
and the kernel drops a signal sent to a PID 1 with no handler for it: on a Pod's
deletion (an abort, a pause, a deadline) the command never got SIGTERM and was killed
after the grace period; outside PID 1 the wrapper died and left the command running.
A command killed by SIGKILL made the wrapper exit 247 (found by review).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

WRAPPER = textwrap.dedent(
    """
    import sys
    from asyncaction_job.entrypoint import call_forwarding_signals
    code = call_forwarding_signals([sys.executable, "-c", sys.argv[1]])
    print("wrapper:", code, flush=True)
    sys.exit(code)
    """
)


def start(command: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRAPPER, command], stdout=subprocess.PIPE, text=True
    )


def wait_for(path: Path) -> None:
    for _ in range(500):
        if path.exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


def test_sigterm_reaches_the_command_and_its_exit_code_is_the_wrappers(tmp_path: Path) -> None:
    ready, got = tmp_path / "ready", tmp_path / "got"
    command = textwrap.dedent(
        f"""
        import pathlib, signal, sys, time
        def stop(signum, frame):
            pathlib.Path({str(got)!r}).write_text(str(signum))
            sys.exit(3)
        signal.signal(signal.SIGTERM, stop)
        pathlib.Path({str(ready)!r}).write_text("")
        time.sleep(60)
        """
    )
    wrapper = start(command)
    wait_for(ready)
    wrapper.send_signal(signal.SIGTERM)
    out, _ = wrapper.communicate(timeout=30)
    assert got.read_text() == str(int(signal.SIGTERM))
    assert (wrapper.returncode, out) == (3, "wrapper: 3\n")


def test_a_command_ended_by_a_signal_exits_as_a_shell_reports_it(tmp_path: Path) -> None:
    wrapper = start("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    out, _ = wrapper.communicate(timeout=30)
    assert (wrapper.returncode, out) == (137, "wrapper: 137\n")
