"""`asyncaction archive list` among many archived records (issue 13, deliverable 12).

Starts a private SeaweedFS, writes N archived records laid out as the operator writes
them (``asyncaction.archive.archive_key``: ``archive/{namespace}/{day}/{name}-{uid}.json``)
over 20 namespaces and N / 20,000 days each (1,000 records per namespace and day), then
runs the CLI as a user would (``asyncaction archive list -n NS --day DAY``, the same
without ``--day``, and ``archive get NAME --day DAY``), each as a fresh process, and
prints the wall time of each (best and worst of 3). Goal: one namespace's day in under
2 s among 100,000 records.

    flock /tmp/asyncaction-cluster.lock .venv/bin/python -u bench/bench_archive.py [N]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from asyncaction.archive import archive_document, archive_key
from asyncaction_testbed.s3server import S3Server

NAMESPACES = 20
PER_DAY = 1_000


def record(namespace: str, day: str, n: int) -> dict[str, Any]:
    """An archived action as the operator reads it before archiving (a few KiB)."""
    return {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "AsyncAction",
        "metadata": {
            "name": f"nightly-{n:05d}",
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": f"{day}T00:00:00Z",
            "labels": {"team": namespace},
        },
        "spec": {
            "template": {"spec": {"containers": [{"name": "main", "image": "job:1"}]}},
            "request": {"items": list(range(50))},
            "ttlSecondsAfterFinished": 3600,
        },
        "status": {
            "phase": "SUCCEEDED",
            "attempts": 1,
            "finishedAt": f"{day}T{n % 24:02d}:00:00Z",
            "result": {"ok": True, "n": n},
            "logTail": [f"line {i}" for i in range(20)],
        },
    }


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr}")
    return elapsed, done.stdout


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    days = [(date(2026, 11, 1) + timedelta(d)).isoformat() for d in range(total // 20_000 or 1)]
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        s3 = S3Server(Path(tmp) / "s3")
        s3.start()
        try:
            client = s3.client()
            jobs = [
                (f"team-{ns:02d}", day, n)
                for ns in range(NAMESPACES)
                for day in days
                for n in range(total // (NAMESPACES * len(days)))
            ]

            def put(job: tuple[str, str, int]) -> None:
                doc = record(*job)
                client.put_object(
                    Bucket=s3.bucket, Key=archive_key("", doc), Body=archive_document(doc)
                )

            started = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(put, jobs))
            print(f"wrote {len(jobs)} records in {time.perf_counter() - started:.0f} s", flush=True)
            env = {
                **os.environ,
                "AWS_ENDPOINT_URL_S3": s3.endpoint,
                "AWS_ACCESS_KEY_ID": s3.access_key,
                "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                "AWS_DEFAULT_REGION": s3.region,
                "AWS_EC2_METADATA_DISABLED": "true",
                "ASYNCACTION_ARCHIVE": f"s3://{s3.bucket}/",
            }
            # the console script users run
            cli = [str(Path(sys.executable).parent / "asyncaction"), "archive"]
            ns, day = "team-07", days[-1]
            cases = {
                f"archive list -n {ns} --day {day}": [*cli, "list", "-n", ns, "--day", day],
                f"archive list -n {ns} (all its days)": [*cli, "list", "-n", ns],
                f"archive get nightly-00042 -n {ns} --day {day}": [
                    *cli,
                    "get",
                    "nightly-00042",
                    "-n",
                    ns,
                    "--day",
                    day,
                    "-o",
                    "json",
                ],
            }
            for label, argv in cases.items():
                runs = [timed(argv, env) for _ in range(3)]
                times = sorted(t for t, _ in runs)
                out = runs[0][1]
                lines = len(out.splitlines()) - 1 if "list" in label else len(json.loads(out))
                print(
                    f"{label}: best {times[0]:.2f} s, worst {times[-1]:.2f} s ({lines} rows/keys)",
                    flush=True,
                )
        finally:
            s3.stop()


if __name__ == "__main__":
    main()
