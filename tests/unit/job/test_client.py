"""The client against a real local HTTP server that checks version-2 signatures."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from asyncaction_hook.auth import WindowReplayGuard
from asyncaction_job.client import HookError, JobClient, Retry, file_digests
from asyncaction_job.signing import SigningClock, sign_v2

KEY = "secret-key"


class FakeHook(ThreadingHTTPServer):
    answers: list[tuple[int, dict[str, Any]]]
    seen: list[tuple[str, str, dict[str, Any] | None]]
    signatures: list[str]
    guard: WindowReplayGuard  # the hook's own replay memory


class Handler(BaseHTTPRequestHandler):
    server: FakeHook

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        expected = sign_v2(KEY, self.headers["X-Job-Time"], self.command, self.path, body)
        assert self.headers["X-Job-Signature"] == "v2"
        assert self.headers["X-Job-Hash"] == expected, "bad v2 signature"
        self.server.seen.append((self.command, self.path, json.loads(body) if body else None))
        signed_at = int(self.headers["X-Job-Time"])
        replayed = not self.server.guard.accept_once(
            self.headers["X-Job-Id"], expected, signed_at, now_ms=signed_at
        )
        self.server.signatures.append(expected)
        status, answer = self.server.answers.pop(0) if self.server.answers else (200, {})
        extra_headers = answer.pop("_headers", {})
        if replayed:  # what the real hook answers to a signature it has seen
            status, answer = 401, {"error": {"reason": "REPLAYED", "message": "replay"}}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _serve  # noqa: N815 - http.server names

    def log_message(self, *args: Any) -> None:
        pass


def start_hook() -> FakeHook:
    server = FakeHook(("127.0.0.1", 0), Handler)
    server.answers, server.seen, server.signatures = [], [], []
    server.guard = WindowReplayGuard(past_seconds=300)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def hook() -> Iterator[FakeHook]:
    server = start_hook()
    yield server
    server.shutdown()


def client(server: FakeHook) -> JobClient:
    return JobClient(
        "job-1",
        KEY,
        f"http://127.0.0.1:{server.server_address[1]}/base/",
        retry=Retry(attempts=3, base_delay=0.01, max_delay=0.02),
    )


def test_reports_are_signed_over_the_base_path(hook: FakeHook) -> None:
    client(hook).report(progress=40, details={"step": 2}, logs=["l"])
    client(hook).succeed({"n": 1})
    assert hook.seen == [
        ("POST", "/base/status", {"progress": 40, "statusDetails": {"step": 2}, "logs": ["l"]}),
        ("POST", "/base/status", {"status": "SUCCEEDED", "result": {"n": 1}}),
    ]


def test_identical_requests_in_one_millisecond_are_signed_apart(
    hook: FakeHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = SigningClock(wall_ms=lambda: 1_700_000_000_000)
    monkeypatch.setattr("asyncaction_job.client.signing_clock", frozen)
    for _ in range(50):
        client(hook).report(progress=7)
    assert len(set(hook.signatures)) == 50


def test_two_pods_leasing_in_the_same_millisecond_both_get_an_answer(hook: FakeHook) -> None:
    """Two pods of one attempt share its key; both sign ``GET /task`` in the same
    millisecond, so the second signature is the first's and the hook refuses it as a
    replay. That refusal did nothing, so the second pod signs again and is served."""
    same_ms = 1_700_000_000_000
    pods = [
        JobClient(
            "job-1",
            KEY,
            f"http://127.0.0.1:{hook.server_address[1]}/base/",
            retry=Retry(attempts=2, base_delay=0.01, max_delay=0.02),
            clock=SigningClock(wall_ms=lambda: same_ms),
        )
        for _ in range(2)
    ]
    hook.answers = [(200, {"id": "t-1"}), (200, {"id": "t-2"}), (200, {"id": "t-3"})]
    assert pods[0].call("GET", "/task") == {"id": "t-1"}
    assert pods[1].call("GET", "/task") == {"id": "t-3"}  # t-2 went to the refused copy
    assert hook.signatures[0] == hook.signatures[1] != hook.signatures[2]
    assert [seen[:2] for seen in hook.seen] == [("GET", "/base/task")] * 3


def test_a_replay_refused_every_time_ends_in_the_refusal(hook: FakeHook) -> None:
    frozen = SigningClock(wall_ms=lambda: 1_700_000_000_000)
    pods = [
        JobClient(
            "job-1",
            KEY,
            f"http://127.0.0.1:{hook.server_address[1]}/",
            retry=Retry(attempts=3, base_delay=0.01),
            clock=frozen,
        )
        for _ in range(2)
    ]
    pods[0].call("GET", "/task")
    # A client whose clock repeats itself (not the project's) is refused each time, and
    # gives up after its attempts with the hook's reason.
    stuck = JobClient(
        "job-1", KEY, f"http://127.0.0.1:{hook.server_address[1]}/", clock=lambda: frozen._last
    )
    with pytest.raises(HookError) as caught:
        stuck.call("GET", "/task")
    assert (caught.value.status, caught.value.reason) == (401, "REPLAYED")
    assert len(hook.seen) == 1 + stuck.retry.attempts


def test_5xx_and_429_are_retried_with_fresh_signatures(hook: FakeHook) -> None:
    hook.answers = [(503, {}), (429, {}), (200, {"id": "job-1"})]
    assert client(hook).action() == {"id": "job-1"}
    assert len(hook.seen) == 3


def test_4xx_raise_at_once_with_the_hooks_reason(hook: FakeHook) -> None:
    hook.answers = [(409, {"error": {"reason": "ACTION_COMPLETED", "message": "done"}})]
    with pytest.raises(HookError) as caught:
        client(hook).report(progress=1)
    assert (caught.value.status, caught.value.reason) == (409, "ACTION_COMPLETED")
    assert len(hook.seen) == 1


def test_unreachable_hook_gives_status_zero() -> None:
    lost = JobClient("j", KEY, "http://127.0.0.1:9", retry=Retry(attempts=2, base_delay=0.01))
    with pytest.raises(HookError) as caught:
        lost.report(progress=1)
    assert caught.value.status == 0


def test_only_http_urls() -> None:
    with pytest.raises(HookError, match="not an http"):
        JobClient("j", KEY, "file:///etc/passwd")


def test_missing_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOB_SECRET_KEY", raising=False)
    monkeypatch.setenv("JOB_ID", "x")
    monkeypatch.setenv("JOB_HOOK", "http://h")
    with pytest.raises(RuntimeError, match="JOB_SECRET_KEY"):
        JobClient.from_env()


def test_digests_match_the_seed(tmp_path: Any) -> None:
    import hashlib

    path = tmp_path / "f"
    path.write_bytes(b"content")
    md5, challenge, size = file_digests(path)
    assert md5 == hashlib.md5(b"content").hexdigest()
    assert challenge == hashlib.md5(b"WEBDAcontent").hexdigest()
    assert size == 7


def test_signing_clock_never_repeats_and_follows_the_wall_clock() -> None:
    wall = [1000]
    clock = SigningClock(wall_ms=lambda: wall[0])
    assert [clock() for _ in range(3)] == [1000, 1001, 1002]
    wall[0] = 5000
    assert clock() == 5000


def test_signing_clock_is_unique_across_threads() -> None:
    clock = SigningClock(wall_ms=lambda: 42)
    seen: list[int] = []

    def take() -> None:
        seen.extend(clock() for _ in range(500))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 2000


def test_a_421_naming_another_replica_is_followed(hook: FakeHook) -> None:
    other = start_hook()
    other.answers = [(200, {"ok": "other"})]
    try:
        moved = f"http://127.0.0.1:{other.server_address[1]}"
        hook.answers = [(421, {"error": {"reason": "MISDIRECTED", "message": "m", "hook": moved}})]
        client = JobClient("id", KEY, f"http://127.0.0.1:{hook.server_address[1]}")
        assert client.report(progress=1) == {"ok": "other"}
        assert client.hook == moved  # later calls go straight there
        assert [s[1] for s in other.seen] == ["/status"]
    finally:
        other.shutdown()


def test_a_421_without_a_replica_is_final(hook: FakeHook) -> None:
    hook.answers = [(421, {"error": {"reason": "MISDIRECTED", "message": "m"}})]
    client = JobClient("id", KEY, f"http://127.0.0.1:{hook.server_address[1]}")
    with pytest.raises(HookError) as caught:
        client.report(progress=1)
    assert caught.value.status == 421


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_on_429_and_503(
    hook: FakeHook, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    # The time module the client sleeps through (the module itself, so patched for the test).
    monkeypatch.setattr("asyncaction_job.client.time.sleep", slept.append)
    hook.answers = [
        (status, {"_headers": {"Retry-After": "7"}, "error": {"reason": "R", "message": "m"}}),
        (200, {"id": "job-1"}),
    ]
    job = JobClient("job-1", KEY, f"http://127.0.0.1:{hook.server_port}", retry=Retry(5, 0.01))
    assert job.action() == {"id": "job-1"}
    assert len(slept) == 1
    assert 7 <= slept[0] <= 8.75  # the hook's wait plus at most a quarter of it as jitter


def test_retry_after_is_capped_and_dates_are_ignored() -> None:
    from asyncaction_job.client import retry_after

    assert retry_after("3") == 3.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert retry_after(None) is None
    assert Retry(max_retry_after=5).delay(0, 3600) <= 6.0


def test_a_terminal_report_is_retried_past_the_attempts_of_other_requests(hook: FakeHook) -> None:
    """Terminal reports went through the same few tries as progress: with the hook
    answering 503 for longer (a restart, a cache sync), ``succeed`` gave up and the
    wrapper reported FAILED for a command that exited 0 (found by review). They are
    retried for ``Retry.terminal_seconds``; other requests keep their few tries."""
    not_ready = (503, {"error": {"reason": "NOT_READY", "message": "loading; retry"}})
    job = JobClient(
        "job-1",
        KEY,
        f"http://127.0.0.1:{hook.server_address[1]}",
        retry=Retry(attempts=3, base_delay=0.01, max_delay=0.02, terminal_seconds=30),
    )
    hook.answers = [not_ready] * 8
    assert job.succeed({"n": 1}) == {}
    assert [body for _, _, body in hook.seen] == [{"status": "SUCCEEDED", "result": {"n": 1}}] * 9
    hook.seen.clear()
    hook.answers = [not_ready] * 8
    with pytest.raises(HookError) as refused:
        job.report(50)
    assert refused.value.reason == "NOT_READY"
    assert len(hook.seen) == 3


def test_a_command_that_succeeded_is_never_reported_failed_for_a_lost_report(
    hook: FakeHook, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the terminal report could not be delivered, the wrapper sent a FAILED report
    ("NOT_READY: ...") for a command that exited 0 (found by review). It now exits 4
    (the hook unreachable) and says so: the attempt ends by its Pod, not by a report
    that would be false."""
    from asyncaction_job.entrypoint import run

    not_ready = (503, {"error": {"reason": "NOT_READY", "message": "loading; retry"}})
    hook.answers = [(200, {}), (200, {}), (200, {}), (200, {}), *[not_ready] * 200]
    job = JobClient(
        "job-1",
        KEY,
        f"http://127.0.0.1:{hook.server_address[1]}",
        retry=Retry(attempts=2, base_delay=0.01, max_delay=0.02, terminal_seconds=0.2),
    )
    assert run([sys.executable, "-c", "pass"], client=job) == 4
    sent = [body for method, _, body in hook.seen if method == "POST"]
    assert {"status": "SUCCEEDED", "result": {"exitCode": 0}} in sent
    assert not [body for body in sent if (body or {}).get("status") == "FAILED"]
    assert "the command succeeded but its report" in capsys.readouterr().err


class FakeS3(ThreadingHTTPServer):
    answers: list[tuple[int, bytes]]
    gets: int
    cut: int  # the next GETs send half the body announced, then close


class S3Handler(BaseHTTPRequestHandler):
    server: FakeS3

    def do_GET(self) -> None:
        self.server.gets += 1
        status, body = self.server.answers.pop(0) if self.server.answers else (200, b"abc")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if getattr(self.server, "cut", 0):
            self.server.cut -= 1
            self.wfile.write(body[: len(body) // 2])  # a front end restarting mid-body
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_download_is_retried_like_an_upload_and_leaves_no_partial_file(
    hook: FakeHook, tmp_path: Path
) -> None:
    """The presigned GET had no retry, and its HTTP or connection error escaped as a
    urllib exception (a traceback, exit 1; under ``run`` no FAILED report), leaving a
    temporary file beside the destination (found by review)."""
    s3 = FakeS3(("127.0.0.1", 0), S3Handler)
    s3.answers, s3.gets = [], 0
    threading.Thread(target=s3.serve_forever, daemon=True).start()
    try:
        where = {"Location": f"http://127.0.0.1:{s3.server_address[1]}/b/in", "Map": {}}
        hook.answers = [(200, dict(where)), (200, dict(where))]
        slow_down = (503, b"<Error><Code>SlowDown</Code></Error>")
        s3.answers = [slow_down, slow_down]
        job = client(hook)  # three attempts
        assert job.download("photo", tmp_path / "in.jpg").read_bytes() == b"abc"
        assert s3.gets == 3
        s3.answers = [slow_down] * 3
        with pytest.raises(HookError) as failed:
            job.download("photo", tmp_path / "again.jpg")
        assert (failed.value.status, failed.value.reason) == (503, "DOWNLOAD_FAILED")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jpg"]
    finally:
        s3.shutdown()


def test_a_download_cut_short_is_retried_and_a_multipart_etag_is_no_md5(
    hook: FakeHook, tmp_path: Path
) -> None:
    """Found by a review: a body cut short (the connection closed early) read as a whole
    one, then failed the md5 check at once, never retried; and every input uploaded in
    parts (``aws s3 cp`` over 8 MiB: ETag ``<hex>-<parts>``, no md5 of the content)
    failed its attempt as CORRUPT."""
    content = bytes(range(256)) * 64
    s3 = FakeS3(("127.0.0.1", 0), S3Handler)
    s3.answers, s3.gets, s3.cut = [(200, content)] * 2, 0, 1
    threading.Thread(target=s3.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{s3.server_address[1]}/b/in"
        whole = {"hash": hashlib.md5(content).hexdigest(), "size": len(content)}
        hook.answers = [(200, {"Location": url, "Map": whole})]
        job = client(hook)
        assert job.download("data", tmp_path / "in.bin").read_bytes() == content
        assert s3.gets == 2  # the cut one, then the whole one
        parts = {"hash": "d52b304a9983640644d42c0e7cead1b0-2", "size": len(content)}
        hook.answers = [(200, {"Location": url, "Map": parts})]
        s3.answers = [(200, content)]
        assert job.download("data", tmp_path / "parts.bin").read_bytes() == content
        # what is not the content announced is refused, after the retries
        hook.answers = [(200, {"Location": url, "Map": whole})]
        s3.answers, s3.gets = [(200, content[::-1])] * 3, 0
        with pytest.raises(HookError) as corrupt:
            job.download("data", tmp_path / "bad.bin")
        assert (corrupt.value.status, corrupt.value.reason) == (0, "CORRUPT")
        assert f"md5 {hashlib.md5(content[::-1]).hexdigest()} != " in corrupt.value.message
        assert s3.gets == 3
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.bin", "parts.bin"]
    finally:
        s3.shutdown()


class HtmlAnswer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        page = b"<html>proxy sign-in</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_answer_that_is_not_json_is_a_hook_error_naming_it() -> None:
    """A 200 whose body is not JSON (a proxy's page) raised ``JSONDecodeError``, which the
    job CLI does not catch: a traceback (found by review)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), HtmlAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        job = JobClient("job-1", KEY, f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(HookError) as refused:
            job.report(5)
        assert (refused.value.status, refused.value.reason) == (200, "BAD_ANSWER")
        assert "<html>proxy sign-in</html>" in refused.value.message
    finally:
        server.shutdown()


def test_a_hook_that_blinks_after_a_successful_command_fails_nothing(hook: FakeHook) -> None:
    """Found by a review: the wrapper's progress report after the command had succeeded
    met 503s for its few tries, and the wrapper reported FAILED; its outputs were never
    uploaded. Progress is best effort: the terminal report decides."""
    from asyncaction_job.entrypoint import run

    not_ready = (503, {"error": {"reason": "NOT_READY", "message": "loading; retry"}})
    hook.answers = [(200, {}), (200, {}), (200, {}), *[not_ready] * 3]
    assert run([sys.executable, "-c", "pass"], client=client(hook)) == 0
    sent = [body for method, _, body in hook.seen if method == "POST"]
    assert sent[-1] == {"status": "SUCCEEDED", "result": {"exitCode": 0}}
    assert not [body for body in sent if (body or {}).get("status") == "FAILED"]


def test_a_failed_command_keeps_its_exit_code_whatever_the_hook_says(
    hook: FakeHook, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a review: an OOM kill's 137 became exit 4 when the hook was away (and
    "UPLOAD_FAILED" when a stream's upload failed), the code named nowhere."""
    from asyncaction_job.entrypoint import run

    gone = JobClient(
        "job-1", KEY, "http://127.0.0.1:9", retry=Retry(attempts=1, terminal_seconds=0)
    )
    hook.answers = [(200, {})]  # the action, then nothing answers: the hook is away
    with patch.object(gone, "action", return_value={"spec": {}}):
        code = run([sys.executable, "-c", "import sys; sys.exit(137)"], client=gone)
    assert code == 137
    assert "command exited with code 137; not reported: 0 UNREACHABLE" in capsys.readouterr().err


def test_an_output_the_command_made_a_directory_fails_naming_it(hook: FakeHook) -> None:
    """Found by a review: ``open()`` of it raised IsADirectoryError out of the wrapper: a
    traceback, and no FAILED report."""
    from asyncaction_job.entrypoint import run

    job = client(hook)
    view = {"arguments": [{"type": "output", "name": "model", "value": "s3://b/models/m"}]}
    make_dir = "import os, sys; os.makedirs(sys.argv[1])"
    with patch.object(job, "action", return_value=view):
        assert run([sys.executable, "-c", make_dir], client=job) == 1
    posted = [body or {} for method, _, body in hook.seen if method == "POST"]
    failed = [body for body in posted if body.get("status") == "FAILED"]
    assert len(failed) == 1
    assert failed[0]["errorMessage"].startswith("output model (")
    assert failed[0]["errorMessage"].endswith(") is a directory, not a file")
