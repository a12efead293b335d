"""S3 stores, from a configuration file (mounted from a Secret).

``{"stores": {"default": {"endpoint", "bucket", "region", "accessKeyId",
"secretAccessKey", "prefix", "grants"}}}``. The job hook presigns URLs with them (jobs
never see the credentials) and the operator archives finished actions to them. Network
calls run in a thread, never on the event loop. ``grants`` (optional) maps namespaces
to the key prefixes their actions may use (``asyncaction.tenancy``).
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from asyncaction.tenancy import StoreScope, scope_from_config


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    md5: str  # the ETag of a single-part object


S3_CONNECT_TIMEOUT = 5.0
S3_READ_TIMEOUT = 20.0


class Store:
    def __init__(self, name: str, config: dict[str, Any], expiry: int) -> None:
        self.name = name
        self.bucket: str = config["bucket"]
        self.prefix: str = config.get("prefix", "")
        self.expiry = expiry
        self.scope = scope_from_config(name, config)
        self.client = boto3.client(
            "s3",
            endpoint_url=config.get("endpoint"),
            region_name=config.get("region", "us-east-1"),
            aws_access_key_id=config.get("accessKeyId"),
            aws_secret_access_key=config.get("secretAccessKey"),
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                # botocore's defaults (60 s to connect, 60 s to read, retried) held a
                # reconcile worker or a hook's S3 slot for minutes on an endpoint that
                # accepts and never answers; these fail within a minute at worst
                connect_timeout=S3_CONNECT_TIMEOUT,
                read_timeout=S3_READ_TIMEOUT,
                retries={"total_max_attempts": 2, "mode": "standard"},
            ),
        )

    def presign_get(self, key: str) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expiry
        )
        return url

    def presign_put(self, key: str, md5_hex: str | None) -> tuple[str, dict[str, str]]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        headers: dict[str, str] = {}
        if md5_hex is not None:
            params["ContentMD5"] = base64.b64encode(bytes.fromhex(md5_hex)).decode()
            headers["Content-MD5"] = params["ContentMD5"]
        url: str = self.client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=self.expiry
        )
        return url, headers

    async def head(self, key: str) -> ObjectInfo | None:
        def call() -> ObjectInfo | None:
            try:
                answer = self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
            return ObjectInfo(key, int(answer["ContentLength"]), answer["ETag"].strip('"'))

        return await asyncio.to_thread(call)

    async def put(self, key: str, body: bytes, content_type: str) -> str:
        """Store ``body`` at ``key``; returns its s3:// URI."""
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=key, Body=body, ContentType=content_type
        )
        return f"s3://{self.bucket}/{key}"

    async def list(self, prefix: str) -> list[ObjectInfo]:
        def call() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found.append(
                        ObjectInfo(item["Key"], int(item["Size"]), item["ETag"].strip('"'))
                    )
            return sorted(found, key=lambda o: o.key)

        return await asyncio.to_thread(call)


class Stores:
    def __init__(self, stores: dict[str, Store]) -> None:
        self.by_name = stores

    @classmethod
    def from_file(cls, path: Path | None, expiry: int) -> Stores:
        if path is None:
            return cls({})
        text = path.read_text()
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
        return cls(
            {name: Store(name, conf, expiry) for name, conf in (doc.get("stores") or {}).items()}
        )

    def get(self, name: str) -> Store | None:
        return self.by_name.get(name)

    @property
    def scopes(self) -> list[StoreScope]:
        return [store.scope for store in self.by_name.values()]
