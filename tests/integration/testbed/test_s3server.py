"""SeaweedFS checks presigned URLs as S3 does: they work, and tampering is refused."""

from __future__ import annotations

from typing import Any

import pytest
import requests

pytestmark = pytest.mark.s3


def test_presigned_put_then_get_round_trips(s3: Any) -> None:
    client = s3.client()
    body = b"round trip \x00\xff" * 1000
    put = client.generate_presigned_url(
        "put_object", Params={"Bucket": s3.bucket, "Key": "rt/file.bin"}, ExpiresIn=60
    )
    assert requests.put(put, data=body, timeout=10).status_code == 200
    get = client.generate_presigned_url(
        "get_object", Params={"Bucket": s3.bucket, "Key": "rt/file.bin"}, ExpiresIn=60
    )
    answer = requests.get(get, timeout=10)
    assert answer.status_code == 200
    assert answer.content == body


def test_tampered_or_moved_urls_are_refused(s3: Any) -> None:
    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key="rt/a.txt", Body=b"a")
    client.put_object(Bucket=s3.bucket, Key="rt/b.txt", Body=b"b")
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": s3.bucket, "Key": "rt/a.txt"}, ExpiresIn=60
    )
    assert requests.get(url, timeout=10).content == b"a"
    signature = url.split("X-Amz-Signature=")[1][:64]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert requests.get(url.replace(signature, flipped), timeout=10).status_code == 403
    assert requests.get(url.replace("rt/a.txt", "rt/b.txt"), timeout=10).status_code == 403
    anonymous = f"{s3.endpoint}/{s3.bucket}/rt/a.txt"
    assert requests.get(anonymous, timeout=10).status_code == 403
