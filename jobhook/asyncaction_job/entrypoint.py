"""``asyncaction-job run -- CMD [ARGS...]``: typed arguments and S3 streams for any command.

The operator wraps the first container's command with this entrypoint when an action
uses ``arguments``, ``inputs``, ``outputs`` or a ``uri`` stream. It asks the hook for the
action, downloads inputs through presigned URLs, runs the command with local paths in
place of the URIs (in argument order, after the command's own args), uploads outputs
and captured streams, and reports ``SUCCEEDED`` or ``FAILED`` from the exit code (and
exits with it, so the Job fails too).

What the image needs: python3 (3.9 or newer) with this package importable
(``pip install asyncaction`` or copy ``asyncaction_job/``), and the command itself.
No S3 credentials: every transfer uses a presigned URL from the hook.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncaction_job.client import HookError, JobClient


@dataclass
class Plan:
    argv: list[str]
    downloads: list[tuple[str, Path]] = field(default_factory=list)  # (property, local path)
    uploads: list[tuple[str, Path]] = field(default_factory=list)
    stdin: Path | None = None
    stdout: Path | None = None
    stderr: Path | None = None
    inputs_dir: Path | None = None
    outputs_dir: Path | None = None


class UnsafePath(ValueError):
    """An object key or name that would put a file outside the job's work directory."""


def inside(base: Path, relative: str) -> Path:
    """``base / relative``, refusing anything that would leave ``base``.

    Object keys and names come from the action's spec and from S3 listings, which other
    people may write: ``../`` segments, absolute paths or symlinks out of the work
    directory are refused rather than followed.
    """
    parts = relative.replace("\\", "/").split("/")
    if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(f"{relative!r} would leave the work directory {base}")
    target = base.joinpath(*parts)
    if not target.resolve().is_relative_to(base.resolve()):
        raise UnsafePath(f"{relative!r} resolves outside the work directory {base}")
    return target


def property_name(argument: Mapping[str, Any], index: int) -> str:
    return str(argument.get("name") or f"arg{index}")


def plan_run(action: Mapping[str, Any], command: Sequence[str], workdir: Path) -> Plan:
    """What to fetch, what to run and what to send back (pure)."""
    plan = Plan(argv=list(command))
    for index, argument in enumerate(action.get("arguments") or []):
        kind, value = argument.get("type"), str(argument.get("value", ""))
        if kind == "parameter":
            plan.argv.append(value)
            continue
        name = property_name(argument, index)
        basename = posixpath.basename(value.rstrip("/")) or name
        local = inside(workdir, f"{kind}/{name}/{basename}")
        plan.argv.append(str(local))
        (plan.downloads if kind == "input" else plan.uploads).append((name, local))
    for stream in ("stdin", "stdout", "stderr"):
        spec = action.get(stream) or {}
        if spec.get("type") == "uri":
            setattr(plan, stream, workdir / "streams" / stream)
    if action.get("inputs"):
        plan.inputs_dir = workdir / "inputs"
    if action.get("outputs"):
        plan.outputs_dir = workdir / "outputs"
    return plan


def _ignore_completed(call: Any, *args: Any) -> None:
    """The command may have reported its own end (a seed-style job): that is fine."""
    try:
        call(*args)
    except HookError as exc:
        if exc.reason != "ACTION_COMPLETED":
            raise


def _progress(client: JobClient, progress: int, step: str) -> None:
    """A progress report, best effort: the terminal report decides the outcome. One the
    hook could not take for a few seconds (restarting, resyncing) turned a command that
    succeeded into a FAILED report, its outputs never uploaded (found by a review)."""
    try:
        client.report(progress, {"step": step})
    except HookError as exc:
        if exc.reason == "ACTION_COMPLETED":
            return
        print(f"asyncaction-job: progress ({step}) not reported: {exc}", file=sys.stderr)


class SuccessNotDelivered(Exception):
    """The command succeeded; the hook never acknowledged the SUCCEEDED report."""

    def __init__(self, error: HookError) -> None:
        super().__init__(str(error))
        self.error = error


# What a container runtime or a shell sends to stop or nudge a process.
FORWARDED_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def call_forwarding_signals(argv: Sequence[str], **popen: Any) -> int:
    """Run ``argv`` and return its exit status as a shell reports it (128 + n for a
    command ended by signal n), passing on the signals this process gets.

    The operator makes this wrapper the container's command, so it is PID 1 there, and
    the kernel drops a signal sent to a PID 1 that has no handler for it: without this
    the command never saw the SIGTERM of a Pod's deletion (an abort, a pause, a
    deadline) and was killed at the end of the grace period."""
    child = subprocess.Popen(argv, **popen)

    def forward(signum: int, _: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in FORWARDED_SIGNALS:
            previous[sig] = signal.signal(sig, forward)
    try:
        code = child.wait()  # resumed after each handler (PEP 475)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code


def run(command: Sequence[str], client: JobClient | None = None) -> int:
    client = client or JobClient.from_env()
    action = client.action()
    workdir = Path(os.environ.get("ASYNCACTION_WORKDIR") or tempfile.mkdtemp(prefix="action-"))
    try:
        return _run(client, action, command, workdir)
    except SuccessNotDelivered as exc:
        # Never a FAILED report for a command that succeeded: the attempt ends by its Pod
        print(
            f"asyncaction-job: the command succeeded but its report could not be delivered"
            f" to the hook: {exc.error}",
            file=sys.stderr,
        )
        return 4
    except UnsafePath as exc:
        _ignore_completed(client.fail, f"refused: {exc}")
        return 1
    except OSError as exc:  # a local file: an output that is a directory, a name clash
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror or exc}"
        print(f"asyncaction-job: {message}", file=sys.stderr)
        _ignore_completed(client.fail, message[:4000])
        return 1
    except HookError as exc:
        if exc.reason in ("UNREACHABLE", "ACTION_COMPLETED"):
            raise  # nobody to tell, or nothing left to tell
        # e.g. S3 down through all the retries of an upload: a clean FAILED with the reason
        _ignore_completed(client.fail, f"{exc.reason}: {exc.message}"[:4000])
        return 1


def _run(
    client: JobClient, action: Mapping[str, Any], command: Sequence[str], workdir: Path
) -> int:
    plan = plan_run(action, command, workdir)
    _progress(client, 1, "staging inputs")
    for name, local in plan.downloads:
        client.download(name, local)
    if plan.stdin is not None:
        client.download("stdin", plan.stdin)
    if plan.inputs_dir is not None:
        index = 0
        while True:
            try:
                found = client.locate("inputs", index)
            except HookError as exc:
                if exc.status == 404:
                    break
                raise
            client.download("inputs", inside(plan.inputs_dir, str(found["Map"]["key"])), index)
            index += 1
    for _, local in plan.uploads:
        local.parent.mkdir(parents=True, exist_ok=True)
    if plan.outputs_dir is not None:
        plan.outputs_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ASYNCACTION_WORKDIR": str(workdir)}
    if plan.outputs_dir is not None:
        env["ASYNCACTION_OUTPUTS"] = str(plan.outputs_dir)
    if plan.inputs_dir is not None:
        env["ASYNCACTION_INPUTS"] = str(plan.inputs_dir)
    _progress(client, 10, "running")
    streams = {}
    for stream in ("stdout", "stderr"):
        path = getattr(plan, stream)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            streams[stream] = path.open("wb")
    stdin = plan.stdin.open("rb") if plan.stdin is not None else None
    try:
        code = call_forwarding_signals(
            plan.argv,
            stdin=stdin,
            env=env,
            stdout=streams.get("stdout"),
            stderr=streams.get("stderr"),
        )
    except OSError as exc:  # not found, not executable: the action fails saying which
        message = f"cannot run {plan.argv[0]}: {exc.strerror or exc}"
        print(f"asyncaction-job: {message}", file=sys.stderr)
        _ignore_completed(client.fail, message)
        return 127 if isinstance(exc, FileNotFoundError) else 126  # as a shell
    finally:
        for handle in [*streams.values(), *([stdin] if stdin else [])]:
            handle.close()
    if code != 0:
        return _failed(client, plan, code)
    for stream in ("stdout", "stderr"):
        path = getattr(plan, stream)
        if path is not None:
            client.upload(stream, path)
    _progress(client, 90, "uploading outputs")
    for name, local in plan.uploads:
        if not local.exists():
            _ignore_completed(client.fail, f"the command did not create output {name} ({local})")
            return 1
        if local.is_dir():
            _ignore_completed(client.fail, f"output {name} ({local}) is a directory, not a file")
            return 1
        client.upload(name, local)
    if plan.outputs_dir is not None:
        for path in sorted(p for p in plan.outputs_dir.rglob("*") if p.is_file()):
            client.upload(
                "outputs", path, metadata={"path": path.relative_to(plan.outputs_dir).as_posix()}
            )
    try:
        _ignore_completed(client.succeed, {"exitCode": 0})
    except HookError as exc:
        raise SuccessNotDelivered(exc) from exc
    return 0


def _failed(client: JobClient, plan: Plan, code: int) -> int:
    """The command ended with ``code``: its streams uploaded as far as they can be, the
    failure reported naming the code, and the code returned whatever the hook or S3 do
    (an OOM kill's 137 became "UPLOAD_FAILED" and exit 1, or 4 with the hook away)."""
    message = f"command exited with code {code}"
    for stream in ("stdout", "stderr"):
        path = getattr(plan, stream)
        if path is not None:
            try:
                client.upload(stream, path)
            except HookError as exc:
                message += f"; its {stream} was not uploaded ({exc.reason}: {exc.message})"
    try:
        _ignore_completed(client.fail, message[:4000])
    except HookError as exc:
        print(f"asyncaction-job: {message}; not reported: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    # Through the CLI, so that outside a job (no JOB_ID...) it says so in one line.
    from asyncaction_job.cli import main

    sys.exit(main(["run", "--", *sys.argv[1:]]))
