"""The job-side client of the job hook. Standard library only: any image with python3 works.

    from asyncaction_job import client
    request = client.action()["request"]
    client.report(progress=50, details={"step": "resize"})
    client.upload("thumbnail", "/tmp/out.png")
    client.succeed({"width": 128})

Requests are signed with version 2 (method, path and body covered). Connection errors,
5xx and 429 are retried with capped exponential backoff and jitter, each retry freshly
signed; a 429 or 503 with ``Retry-After`` waits at least that long (capped at
``Retry.max_retry_after``) before the next try; a 421 naming another hook replica
(``error.hook``, after the number of replicas changed) is followed; a 401 ``REPLAYED`` is
signed afresh and sent again at once (see ``call``); other 4xx raise ``HookError`` at
once. Uploads to S3 are retried the same way.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from asyncaction_job.signing import headers_v2, signing_clock
from asyncaction_job.tasks import Task, lease_tasks

CHUNK = 1024 * 1024
T = TypeVar("T")

#: The longest pause, in seconds, before a request refused as a replay is signed again.
REPLAYED_JITTER = 0.005


# An md5 as an ETag gives it (a multipart upload's ETag is "<hex>-<parts>").
MD5_HEX = re.compile(r"[0-9a-f]{32}")


class CorruptTransfer(Exception):
    """A download that did not arrive whole (short, or not the content announced)."""


class HookError(Exception):
    """The hook refused a request (or could not be reached: status 0)."""

    def __init__(self, status: int, reason: str, message: str, hook: str | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.hook = hook  # 421: the base URL of the replica serving the action


@dataclass(frozen=True)
class Retry:
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 60.0
    # Terminal reports (``succeed``, ``fail``, a task's end) are retried past ``attempts``
    # for this long: the contract retries them until acknowledged, and a hook that
    # restarts or resyncs for a minute must not turn a finished job into a lost one.
    terminal_seconds: float = 600.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        backoff = min(self.max_delay, self.base_delay * 2**attempt) * (0.5 + random.random() / 2)
        if retry_after is None:
            return float(backoff)
        # the hook's own estimate, plus a little jitter so that waiting jobs spread out
        wait = min(self.max_retry_after, retry_after)
        return float(max(backoff, wait + random.random() * min(1.0, wait / 4)))


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds only; an HTTP date, as the
    hook never sends one, is ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def file_digests(path: str | os.PathLike[str]) -> tuple[str, str, int]:
    """md5 of the content, and the challenge md5("WEBDA" + content), as the seed computes."""
    content, challenge, size = hashlib.md5(), hashlib.md5(b"WEBDA"), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            content.update(chunk)
            challenge.update(chunk)
            size += len(chunk)
    return content.hexdigest(), challenge.hexdigest(), size


class JobClient:
    def __init__(
        self,
        job_id: str,
        secret: str,
        hook: str,
        *,
        retry: Retry | None = None,
        timeout: float = 30.0,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.job_id = job_id
        self.secret = secret
        self.hook = _http(hook).rstrip("/")
        self.retry = retry or Retry()
        self.timeout = timeout
        self.clock = clock  # None: the process-wide ``signing_clock``

    def _now_ms(self) -> int:
        return (self.clock or signing_clock)()

    @classmethod
    def from_env(cls) -> JobClient:
        missing = [n for n in ("JOB_ID", "JOB_SECRET_KEY", "JOB_HOOK") if not os.environ.get(n)]
        if missing:
            raise RuntimeError(
                f"{', '.join(missing)} not set: is this running as an AsyncAction job?"
            )
        hook = os.environ["JOB_HOOK"]
        problem = hook_url_problem(hook)
        if problem:  # a setup mistake, not an unreachable hook: say which setting
            raise RuntimeError(f"JOB_HOOK {hook!r} is not an http(s) URL of the hook: {problem}")
        return cls(os.environ["JOB_ID"], os.environ["JOB_SECRET_KEY"], hook)

    def call(self, method: str, route: str, payload: Any = None, *, terminal: bool = False) -> Any:
        """One signed request, retried as the module says; the JSON answer. A
        ``terminal`` one (the end of the job or of a task) is retried for
        ``retry.terminal_seconds`` once its ``retry.attempts`` are spent.

        A 401 ``REPLAYED`` means the hook had already accepted this very signature, and
        this process never signs two requests alike (``signing_clock``): another pod of
        the same attempt, sharing its key, signed the same method, path and body in the
        same millisecond (two workers leasing ``GET /task`` at once). The hook refused
        this request without acting on it, so it is signed again with a later time,
        after a pause of a few milliseconds that takes the pods out of step.
        """
        body = b"" if payload is None else json.dumps(payload).encode()
        give_up_at = time.monotonic() + (self.retry.terminal_seconds if terminal else 0.0)
        last: HookError | None = None
        for attempt in itertools.count():  # ends by a return or a raise
            wait: float | None = None
            url = self.hook + route
            path = urllib.parse.urlsplit(url).path
            headers = headers_v2(self.job_id, self.secret, method, path, body, self._now_ms())
            if body:
                headers["Content-Type"] = "application/json"
            request = urllib.request.Request(
                url,
                data=body or None,
                method=method,
                headers=headers,
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    text = response.read()
                try:
                    return json.loads(text) if text else None
                except ValueError:  # not the hook: a proxy's page, say
                    shown = text[:200].decode(errors="replace")
                    raise HookError(
                        response.status, "BAD_ANSWER", f"{url} answered no JSON: {shown}"
                    ) from None
            except urllib.error.HTTPError as exc:
                error = _parse_error(exc)
                last = error
                moved = (
                    exc.code == 421 and error.hook and _http(error.hook).rstrip("/") != self.hook
                )
                replayed = exc.code == 401 and error.reason == "REPLAYED"
                if moved:
                    self.hook = str(error.hook).rstrip("/")  # the replica serving us now
                if replayed:
                    time.sleep(random.random() * REPLAYED_JITTER)
                if moved or replayed:
                    if attempt + 1 < self.retry.attempts:
                        continue  # at once; past the attempts, after the pause below
                elif exc.code < 500 and exc.code != 429:
                    raise error from None
                elif exc.code in (429, 503):
                    wait = retry_after(exc.headers.get("Retry-After"))
            except (urllib.error.URLError, OSError) as exc:
                last = HookError(0, "UNREACHABLE", f"{url}: {exc}")
            if attempt + 1 >= self.retry.attempts and time.monotonic() >= give_up_at:
                raise last
            time.sleep(self.retry.delay(min(attempt, 16), wait))  # 2**attempt stays small
        raise AssertionError("unreachable")  # itertools.count() never ends

    def report(
        self,
        progress: int | None = None,
        details: dict[str, Any] | None = None,
        logs: list[str] | None = None,
    ) -> Any:
        payload: dict[str, Any] = {}
        if progress is not None:
            payload["progress"] = progress
        if details is not None:
            payload["statusDetails"] = details
        if logs:
            payload["logs"] = logs
        return self.call("POST", "/status", payload)

    def succeed(self, result: dict[str, Any] | None = None) -> Any:
        payload = {"status": "SUCCEEDED", "result": result or {}}
        return self.call("POST", "/status", payload, terminal=True)

    def fail(self, message: str) -> Any:
        payload = {"status": "FAILED", "errorMessage": message}
        return self.call("POST", "/status", payload, terminal=True)

    def action(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", "/action")
        return answer

    def tasks(self) -> Iterator[Task]:
        """``for task in client.tasks(): ...``: see ``asyncaction_job.tasks``."""
        return lease_tasks(self)

    def locate(self, name: str, index: int = 0, store: str = "default") -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", f"/download/{store}/{self.job_id}/{name}/{index}")
        return answer

    def download(
        self, name: str, dest: str | os.PathLike[str], index: int = 0, store: str = "default"
    ) -> Path:
        answer = self.locate(name, index, store)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        return self._s3_retried("DOWNLOAD_FAILED", lambda: self._get(name, answer, target))

    def _s3_retried(self, reason: str, transfer: Callable[[], T]) -> T:
        """One presigned S3 transfer, retried on 5xx, 429 and connection errors as hook
        requests are; a failure is a ``HookError`` with ``reason``."""
        for attempt in range(self.retry.attempts):
            try:
                return transfer()
            except urllib.error.HTTPError as exc:
                body = exc.read()[:300].decode(errors="replace")
                last = HookError(exc.code, reason, body or str(exc.reason))
                if exc.code < 500 and exc.code != 429:
                    raise last from None
            except (urllib.error.URLError, OSError) as exc:
                last = HookError(0, reason, f"S3 unreachable: {exc}")
            except CorruptTransfer as exc:  # cut short on the way: the next GET may pass
                last = HookError(0, "CORRUPT", str(exc))
            if attempt + 1 < self.retry.attempts:
                time.sleep(self.retry.delay(attempt))
        raise last

    def _get(self, name: str, answer: dict[str, Any], target: Path) -> Path:
        """One presigned GET into a temporary file beside ``target``, checked, then moved
        into place; nothing is left behind when it fails. Checked: the size the hook
        gave (``Map.size``) and the server announced (a body cut short ends like a
        whole one when the connection closes early), and the md5 when ``Map.hash`` is
        one (an object uploaded in parts has an ETag ``<hex>-<parts>``, which is no
        md5 of the content: compared, every such input failed)."""
        digest = hashlib.md5()
        size = 0
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            try:
                url = _http(answer["Location"])
                with urllib.request.urlopen(url, timeout=self.timeout) as response:
                    announced = response.length
                    while chunk := response.read(CHUNK):
                        tmp.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
            except BaseException:
                tmp.close()
                os.unlink(tmp.name)
                raise
        found = answer.get("Map") or {}
        expected_size = found.get("size")
        md5 = str(found.get("hash") or "")
        problem = ""
        if announced is not None and size != announced:
            problem = f"{name}: {size} of the {announced} bytes announced"
        elif isinstance(expected_size, int) and size != expected_size:
            problem = f"{name}: {size} bytes, not the {expected_size} the hook found"
        elif MD5_HEX.fullmatch(md5) and digest.hexdigest() != md5:
            problem = f"{name}: md5 {digest.hexdigest()} != {md5}"
        if problem:
            os.unlink(tmp.name)
            raise CorruptTransfer(problem)
        os.replace(tmp.name, target)
        return target

    def upload(
        self,
        name: str,
        path: str | os.PathLike[str],
        store: str = "default",
        metadata: dict[str, Any] | None = None,
    ) -> bool:
        """Upload ``path`` as ``name``; False when the hook already has this content."""
        md5, challenge, size = file_digests(path)
        answer = self.call(
            "PUT",
            f"/upload/{store}/{self.job_id}/{name}",
            {"hash": md5, "challenge": challenge, "metadata": metadata or {}},
        )
        if answer.get("done"):
            return False
        headers = {**(answer.get("headers") or {}), "Content-Length": str(size)}
        self._s3_retried("UPLOAD_FAILED", lambda: self._put(answer, path, headers))
        return True

    def _put(self, answer: dict[str, Any], path: str | os.PathLike[str], headers: Any) -> None:
        with open(path, "rb") as handle:
            request = urllib.request.Request(
                _http(answer["url"]),
                data=handle,
                method=answer.get("method", "PUT"),
                headers=headers,
            )
            with urllib.request.urlopen(request, timeout=self.timeout):
                pass


def hook_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as the hook's base URL, or None: urllib would otherwise
    fail on the first request with a traceback (a bad port, a broken IPv6 address)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return f"the scheme is {parts.scheme or 'missing'!r}"
    if not parts.hostname:
        return "it names no host"
    return None


def _http(url: str) -> str:
    """Only http(s): a file: or custom scheme from a misconfigured hook is refused."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise HookError(0, "BAD_URL", f"not an http(s) URL: {url[:100]}")
    return url


def _parse_error(exc: urllib.error.HTTPError) -> HookError:
    try:
        error = json.loads(exc.read()).get("error", {})
        hook = error.get("hook")
        return HookError(
            exc.code,
            str(error.get("reason", "")),
            str(error.get("message", "")),
            hook if isinstance(hook, str) else None,
        )
    except (ValueError, AttributeError):
        return HookError(exc.code, "HTTP", str(exc.reason))


_default: JobClient | None = None


def default() -> JobClient:
    global _default
    if _default is None:
        _default = JobClient.from_env()
    return _default


def report(
    progress: int | None = None,
    details: dict[str, Any] | None = None,
    logs: list[str] | None = None,
) -> Any:
    return default().report(progress, details, logs)


def succeed(result: dict[str, Any] | None = None) -> Any:
    return default().succeed(result)


def fail(message: str) -> Any:
    return default().fail(message)


def action() -> dict[str, Any]:
    return default().action()


def tasks() -> Iterator[Task]:
    return default().tasks()


def download(name: str, dest: str | os.PathLike[str], index: int = 0) -> Path:
    return default().download(name, dest, index)


def upload(name: str, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> bool:
    return default().upload(name, path, metadata=metadata)
