"""A job written with the seed's example client (signature version 1), copied verbatim.

Only `main()` at the bottom is ours: it exercises send_status, download_from and
upload_to the way a user's existing job would.
"""

# ruff: noqa
import hashlib
import hmac
import string
import sys
import time
from os import environ, path

import requests


def check_job():
    if (
        environ.get("JOB_ID") is None
        or environ.get("JOB_SECRET_KEY") is None
        or environ.get("JOB_HOOK") is None
    ):
        raise Exception("JOB_ID, JOB_SECRET_KEY and JOB_HOOK are required")


def job_headers():
    ts = str(round(time.time() * 1000))
    return {
        "X-Job-Id": environ.get("JOB_ID"),
        "X-Job-Time": ts,
        "X-Job-Hash": hmac.new(
            bytes(environ.get("JOB_SECRET_KEY"), "latin-1"),
            msg=bytes(ts, "latin-1"),
            digestmod=hashlib.sha256,
        )
        .hexdigest()
        .lower(),
    }


def send_status(data=None):
    """
    Send Job Status
    """
    ts = str(round(time.time() * 1000))
    # https://docs.python.org/3/library/http.client.html
    r = requests.post(environ.get("JOB_HOOK") + "/status", json=data, headers=job_headers())
    return r.json()


def download_from(store: string, uuid: string, property: string, index: int, dirpath: string):
    """
    Download a file related to the Job
    """
    # Get the download link from the service
    r = requests.get(
        "{hook}/download/{store}/{uuid}/{property}/{index}".format(
            hook=environ.get("JOB_HOOK"),
            store=store,
            uuid=uuid,
            property=property,
            index=index,
        ),
        headers=job_headers(),
    )
    if r.status_code != 200:
        raise Exception("Cannot download")
    res = r.json()
    filename = path.join(dirpath, res["Map"]["hash"])
    if path.exists(filename):
        print("Already downloaded")
        return
    dwl = requests.get(res["Location"])
    if r.status_code != 200:
        raise Exception("Cannot download from redirect")
    with open(path.join(dirpath, res["Map"]["hash"]), "wb") as f:
        f.write(dwl.content)
    return filename


def upload_to(store: string, uuid: string, property: string, filepath: string, metadata={}):
    """
    Upload a file related to the Job
    """
    file_hash = hashlib.md5()
    challenge = hashlib.md5()
    challenge.update("WEBDA".encode())
    with open(filepath, "rb") as f:
        while chunk := f.read(8192):
            file_hash.update(chunk)
            challenge.update(chunk)
    # Get the upload link from the service
    r = requests.put(
        "{hook}/upload/{store}/{uuid}/{property}".format(
            hook=environ.get("JOB_HOOK"),
            store=store,
            uuid=uuid,
            property=property,
        ),
        json={
            "hash": file_hash.hexdigest(),
            "challenge": challenge.hexdigest(),
            "metadata": metadata,
        },
        headers=job_headers(),
    )
    if r.status_code != 200:
        raise Exception("Upload failed")
    res = r.json()
    # If file is already known to the system
    if res["done"]:
        print("Already uploaded")
        return
    with open(filepath, "rb") as f:
        res = requests.request(res["method"], res["url"], data=f)
        if res.status_code >= 300:
            raise Exception("Upload failed")


def main():
    import tempfile

    check_job()
    job_id = environ["JOB_ID"]
    send_status({"progress": 10, "statusDetails": {"step": "download"}})
    workdir = tempfile.mkdtemp()
    got = download_from("default", job_id, "text", 0, workdir)
    text = open(got).read()
    send_status({"progress": 50, "statusDetails": {"step": "count"}})
    report = path.join(workdir, "report.txt")
    with open(report, "w") as f:
        f.write(f"{len(text.split())} words\n")
    upload_to("default", job_id, "report", report)
    time.sleep(0.01)
    upload_to("default", job_id, "report", report)  # same content again: done
    answer = send_status({"status": "SUCCESS", "results": {"words": len(text.split())}})
    print("final answer", answer)


if __name__ == "__main__":
    main()
