"""Background processes that outlive the command that started them (for ``make up``).

Each process runs in its own session (so ``make down`` can kill its whole group), logs
to ``<state>/logs/<name>.log`` and is remembered by ``<state>/pids/<name>.pid``. A pid
file whose process is gone, or is now another program, counts as not running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def pid_file(state: Path, name: str) -> Path:
    return state / "pids" / f"{name}.pid"


def log_file(state: Path, name: str) -> Path:
    return state / "logs" / f"{name}.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def read_pid(state: Path, name: str) -> int | None:
    """The recorded pid, if it is still the process that was started (not a reused pid)."""
    try:
        lines = pid_file(state, name).read_text().split("\n")
        pid = int(lines[0].strip())
    except (OSError, ValueError):
        return None
    recorded = lines[1].strip() if len(lines) > 1 else ""
    if recorded and start_time(pid) not in (None, recorded):
        return None  # the pid now belongs to another process
    return pid


def start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot): fixed at fork, kept across exec."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def is_running(state: Path, name: str) -> bool:
    pid = read_pid(state, name)
    return pid is not None and _alive(pid)


def start(
    state: Path,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` detached; returns its pid. The caller checks ``is_running`` first."""
    log = log_file(state, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file(state, name).parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            list(argv),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cwd,
            env={**os.environ, **(env or {})},
        )
    pid_file(state, name).write_text(f"{proc.pid}\n{start_time(proc.pid) or ''}\n")
    return proc.pid


def stop(state: Path, name: str, timeout: float = 10.0) -> bool:
    """SIGTERM the process group, SIGKILL after ``timeout``. True if something was running."""
    pid = read_pid(state, name)
    pid_file(state, name).unlink(missing_ok=True)
    if pid is None or not _alive(pid):
        return False
    kill_group(pid, timeout)
    return True


def kill_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the group, SIGKILL it after ``timeout``, and reap the leader if it is ours."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # also children that ignored SIGTERM
        _wait_gone(pid, 5.0)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is reaped (our child) or gone (anyone else's).

    A multi-threaded process (Go binaries) shows as a zombie while its other threads
    still exit, and cannot be reaped until they have; so for a child of ours only a
    successful waitpid counts, not the zombie state.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
            if reaped == pid:
                return True
        except ChildProcessError:  # not our child: its parent reaps it
            if not _alive(pid):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when it is free on loopback, else any free port."""
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            # a port only in TIME_WAIT from our own restarted server is free to it (servers
            # bind with SO_REUSEADDR): a restarted API server keeps its address
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def wait_tcp(port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} in {timeout}s{tail(log)}")


def tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    text = "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return f"; last lines of {log}:\n{text}"
