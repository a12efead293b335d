import hashlib
from pathlib import Path

import pytest

from asyncaction_cli.s3 import (
    archive_location,
    download_outputs,
    parse_archive_key,
    safe_destination,
    split_uri,
)


def test_keys_land_under_the_directory(tmp_path: Path) -> None:
    assert safe_destination(tmp_path, "ns/out/a.csv") == (tmp_path / "ns/out/a.csv").resolve()


@pytest.mark.parametrize(
    "key", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "", "a\\..\\x", "a/.."]
)
def test_keys_that_would_escape_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="would escape"):
        safe_destination(tmp_path, key)


def test_a_symlink_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="would escape"):
        safe_destination(root, "link/x")


def test_uris() -> None:
    assert split_uri("s3://bucket/a/b.txt") == ("bucket", "a/b.txt")
    assert split_uri("s3://bucket") == ("bucket", "")
    with pytest.raises(ValueError, match="not an s3://"):
        split_uri("https://bucket/a")


def test_archive_keys() -> None:
    """``{prefix}archive/{namespace}/{day}/{name}-{uid}.json``; records written before
    the day level (no day) are still read."""
    uid = "0b6f3c1e-8a6d-4a8e-9d55-2f0b8f1b2c3d"
    assert parse_archive_key(f"p/archive/ns/2026-11-30/my-action-{uid}.json", "p/") == (
        "ns",
        "my-action",
        uid,
        "2026-11-30",
    )
    assert parse_archive_key(f"p/archive/ns/my-action-{uid}.json", "p/") == (
        "ns",
        "my-action",
        uid,
        None,
    )
    assert parse_archive_key(f"archive/ns/a-{uid}.json", "") == ("ns", "a", uid, None)
    assert parse_archive_key("p/archive/ns/not-an-archive.json", "p/") is None
    assert parse_archive_key(f"q/archive/ns/a-{uid}.json", "p/") is None
    assert parse_archive_key(f"p/archive/ns/30-11-2026/a-{uid}.json", "p/") is None
    assert parse_archive_key(f"p/archive/ns/2026-11-30/x/a-{uid}.json", "p/") is None


def test_the_operator_writes_keys_the_cli_reads() -> None:
    from asyncaction.archive import archive_key

    uid = "0b6f3c1e-8a6d-4a8e-9d55-2f0b8f1b2c3d"
    finished = {
        "metadata": {
            "name": "nightly",
            "namespace": "team-a",
            "uid": uid,
            "creationTimestamp": "2026-11-29T23:59:00Z",
        },
        "status": {"phase": "SUCCEEDED", "finishedAt": "2026-11-30T00:00:05Z"},
    }
    key = archive_key("p/", finished)
    assert key == f"p/archive/team-a/2026-11-30/nightly-{uid}.json"  # the day it finished
    assert parse_archive_key(key, "p/") == ("team-a", "nightly", uid, "2026-11-30")
    del finished["status"]["finishedAt"]
    assert archive_key("", finished) == f"archive/team-a/2026-11-29/nightly-{uid}.json"


def test_archive_days_are_dates() -> None:
    from asyncaction_cli.s3 import parse_day_flag

    assert parse_day_flag("2026-11-30") == "2026-11-30"
    for wrong in ("2026-13-01", "30.11.2026", "2026-11-30/..", ""):
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            parse_day_flag(wrong)


def test_archive_location(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNCACTION_ARCHIVE", raising=False)
    monkeypatch.delenv("ASYNCACTION_BUCKET", raising=False)
    with pytest.raises(ValueError, match="--archive"):
        archive_location(None)
    monkeypatch.setenv("ASYNCACTION_BUCKET", "bkt")
    assert archive_location(None) == ("bkt", "")
    monkeypatch.setenv("ASYNCACTION_ARCHIVE", "s3://arch/pre/")
    assert archive_location(None) == ("arch", "pre/")
    assert archive_location("s3://x/y/") == ("x", "y/")


class OneObjectS3:
    """``download_file`` writes ``size`` bytes of zeros."""

    def __init__(self, size: int) -> None:
        self.size = size

    def download_file(self, bucket: str, key: str, path: str) -> None:
        with open(path, "wb") as handle:
            handle.truncate(self.size)


def test_downloaded_outputs_are_checked_without_reading_them_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each downloaded file was read whole into memory for its MD5: a 512 MiB output took
    the CLI from 17 to 529 MiB (found by review). It is hashed in chunks."""
    size = 3 * 1024 * 1024 + 5
    md5 = hashlib.md5(bytes(size)).hexdigest()
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read whole"))
    [done] = download_outputs(
        [{"uri": "s3://b/ns/out/big.bin", "md5": md5}],
        tmp_path,
        client=OneObjectS3(size),  # type: ignore[arg-type]
    )
    assert (done.path, done.size) == ((tmp_path / "ns/out/big.bin").resolve(), size)
    with pytest.raises(ValueError, match="differs from the recorded"):
        download_outputs(
            [{"uri": "s3://b/ns/out/other.bin", "md5": "0" * 32}],
            tmp_path,
            client=OneObjectS3(size),  # type: ignore[arg-type]
        )
    assert not (tmp_path / "ns/out/other.bin.part").exists()
