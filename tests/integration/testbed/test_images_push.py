"""The registry step of docs/jobs.md, as written: `make images` names each image's OCI
archive, and `skopeo copy oci-archive:<archive> docker://<registry>/...` pushes it to a
registry the cluster's nodes pull from. Here the registry is the distribution registry
(Debian's ``docker-registry``) on loopback; the pushed manifest must keep the digest the
node imports, so the image a cluster pulls is the one `make up` tested."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
MISSING = [tool for tool in ("skopeo", "docker-registry") if shutil.which(tool) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'data'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
        "log: {level: error}\n"
    )
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.skipif(bool(MISSING), reason=f"not installed: {MISSING} (make tools)")
def test_make_images_archives_push_to_a_registry_with_their_digest(registry: str) -> None:
    from asyncaction_testbed.images import recipes
    from asyncaction_testbed.images.job_node import build_job_node_image

    # What `make images` prints, built without its pruning of the shared image cache.
    built = {
        "job": recipes.build_python_image("job"),
        "operator": recipes.build_python_image("operator"),
        "job-node": build_job_node_image(),
    }
    rows = {row["image"]: row for row in recipes.describe(built)}
    wanted = {
        "docker.io/asyncaction/job-python:0.1.0",
        "docker.io/asyncaction/job-node:0.1.0",
        "docker.io/asyncaction/asyncaction:0.1.0",
    }
    assert wanted <= set(rows)
    for ref in sorted(wanted):
        row = rows[ref]
        target = f"docker://{registry}/{ref.split('/', 1)[1]}"
        subprocess.run(
            ["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
             f"oci-archive:{row['archive']}", target],
            check=True,
            timeout=600,
        )  # fmt: skip
        pushed = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", target],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert json.loads(pushed.stdout)["Digest"] == row["digest"], ref
