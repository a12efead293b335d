"""The user's own S3 access (boto3 with the standard AWS environment: profiles, SSO,
``AWS_ENDPOINT_URL_S3``...) for downloading outputs and reading archived records."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncaction_client.errors import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ENDPOINT_SETTINGS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")  # boto3's order
S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/?(?P<key>.*)$")
# `{day}/{name}-{uid}.json` (earlier: `{name}-{uid}.json`), as
# asyncaction.archive.archive_key writes it.
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ARCHIVED = re.compile(
    r"^(?P<name>.+)-(?P<uid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.json$"
)


def split_uri(uri: str) -> tuple[str, str]:
    match = S3_URI.match(uri)
    if not match:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return match.group("bucket"), match.group("key")


def safe_destination(root: Path, key: str) -> Path:
    """Where object ``key`` goes under ``root``; refuses keys that would land outside it
    (``..`` parts, absolute keys), since keys are chosen by whoever wrote the outputs."""
    parts = key.split("/")
    if any(p in ("..", ".", "") for p in parts) or "\\" in key:
        raise ValueError(f"refusing object key {key!r}: it would escape {root}")
    target = (root / Path(*parts)).resolve()
    base = root.resolve()
    if not target.is_relative_to(base) or target == base:
        raise ValueError(f"refusing object key {key!r}: it would escape {root}")
    return target


def s3_client() -> S3Client:
    """A boto3 S3 client of the standard AWS settings; a ClientError naming the setting
    (or the missing extra) when they cannot give one, rather than boto's own words
    ('Unable to locate credentials', 'Invalid endpoint') or a ModuleNotFoundError."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ClientError("S3 access needs boto3: pip install 'asyncaction-client[s3]'") from None

    setting = next((n for n in ENDPOINT_SETTINGS if os.environ.get(n)), None)
    # A custom endpoint (MinIO, SeaweedFS, a test bed) rarely serves virtual-host buckets.
    config = Config(s3={"addressing_style": "path"}) if setting else Config()
    session = boto3.Session()
    if session.get_credentials() is None:
        raise ClientError(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE (the standard AWS settings)"
        )
    try:
        client: S3Client = session.client("s3", config=config)
    except ValueError as exc:
        if setting is None:
            raise
        raise ClientError(
            f"{setting} {os.environ[setting]!r} is not a usable endpoint: {exc}"
        ) from None
    return client


@dataclass(frozen=True)
class Downloaded:
    uri: str
    path: Path
    size: int


def _md5_of(path: Path, chunk: int = 1024 * 1024) -> str:
    """The file's MD5, read a chunk at a time (outputs may be gigabytes)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download_outputs(
    outputs: Sequence[Mapping[str, Any]], root: Path, client: S3Client | None = None
) -> list[Downloaded]:
    """Every output to ``root/<key>``; all destinations are checked before anything is
    written, and each file's MD5 against the record."""
    plan = []
    for record in outputs:
        bucket, key = split_uri(str(record["uri"]))
        plan.append((record, bucket, key, safe_destination(root, key)))
    s3 = client or s3_client()
    done = []
    for record, bucket, key, target in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        s3.download_file(bucket, key, str(partial))
        digest = _md5_of(partial)
        if record.get("md5") and digest != record["md5"]:
            partial.unlink()
            raise ValueError(
                f"{record['uri']}: md5 {digest} differs from the recorded {record['md5']}"
            )
        partial.replace(target)
        done.append(Downloaded(str(record["uri"]), target, target.stat().st_size))
    return done


def archive_location(explicit: str | None) -> tuple[str, str]:
    """(bucket, prefix) of the archive store: ``--archive``, ``$ASYNCACTION_ARCHIVE``, or
    the bucket of ``$ASYNCACTION_BUCKET`` (what `make up` configures)."""
    uri, setting = explicit, "--archive"
    if not uri:
        uri, setting = os.environ.get("ASYNCACTION_ARCHIVE"), "ASYNCACTION_ARCHIVE"
    if not uri and os.environ.get("ASYNCACTION_BUCKET"):
        uri, setting = f"s3://{os.environ['ASYNCACTION_BUCKET']}/", "ASYNCACTION_BUCKET"
    if not uri:
        raise ValueError(
            "where is the archive? give --archive s3://bucket/prefix or set ASYNCACTION_ARCHIVE"
        )
    try:
        return split_uri(uri)
    except ValueError as exc:
        raise ValueError(f"{setting}: {exc}") from None


@dataclass(frozen=True)
class ArchivedRecord:
    namespace: str
    name: str
    uid: str
    day: str | None  # the UTC day it finished; None for records before the day level
    key: str
    size: int
    archived_at: Any


def parse_day_flag(value: str) -> str:
    """A ``--day`` as the archive's keys spell it; ValueError naming the form otherwise."""
    try:
        ok = bool(DAY.match(value)) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"--day {value!r}: expected a UTC date as YYYY-MM-DD")
    return value


def parse_archive_key(key: str, prefix: str) -> tuple[str, str, str, str | None] | None:
    """(namespace, name, uid, day) of ``{prefix}archive/{namespace}/{day}/{name}-{uid}.json``,
    or of ``{prefix}archive/{namespace}/{name}-{uid}.json`` (before the day level; day None)."""
    rest = key[len(prefix) :] if key.startswith(prefix) else None
    if rest is None or not rest.startswith("archive/"):
        return None
    parts = rest.split("/")
    if len(parts) == 4 and DAY.match(parts[2]):
        day: str | None = parts[2]
    elif len(parts) == 3:
        day = None
    else:
        return None
    match = ARCHIVED.match(parts[-1])
    if not match:
        return None
    return parts[1], match.group("name"), match.group("uid"), day


def list_archive(
    bucket: str,
    prefix: str,
    namespace: str | None,
    client: S3Client | None = None,
    day: str | None = None,
) -> list[ArchivedRecord]:
    """The records of ``namespace`` (every one when None), of one ``day`` when given:
    then one prefix is listed, however large the archive."""
    s3 = client or s3_client()
    under = f"{prefix}archive/" + (f"{namespace}/" if namespace else "")
    if day is not None and namespace:
        under += f"{day}/"
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=under):
        for obj in page.get("Contents", []):
            parsed = parse_archive_key(obj["Key"], prefix)
            if parsed and (day is None or parsed[3] == day):
                records.append(
                    ArchivedRecord(*parsed, obj["Key"], obj["Size"], obj["LastModified"])
                )
    return sorted(records, key=lambda r: (r.namespace, r.archived_at))


def read_record(bucket: str, key: str, client: S3Client | None = None) -> dict[str, Any]:
    s3 = client or s3_client()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    record: dict[str, Any] = json.loads(body)
    return record
