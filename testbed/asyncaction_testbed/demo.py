"""``make demo``: apply the examples and print each action's phases until terminal.

The examples are applied exactly as written (they name the project's job image, which
``make up`` imports into the real node; the node agent runs their commands on the host).
The demo checks what it shows: it exits non-zero when an example does not end in the
phase it is meant to (``failing.yaml`` is meant to fail), so it doubles as a smoke test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from asyncaction.api.names import ACTION_PLURAL, GROUP, VERSION
from asyncaction_testbed.stack import Stack, say

EXPECTED = {"hello": "SUCCEEDED", "wordcount": "SUCCEEDED", "failing": "FAILED"}
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED", "TIMEOUT"}
DEMO_TEXT = "the quick brown fox jumps over the lazy dog and the dog sleeps\n" * 20


def apply_fresh(api: client.CustomObjectsApi, namespace: str, body: dict[str, Any]) -> None:
    name = body["metadata"]["name"]
    try:
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, ACTION_PLURAL, name)
        while True:
            api.get_namespaced_custom_object(GROUP, VERSION, namespace, ACTION_PLURAL, name)
            time.sleep(0.2)
    except ApiException as exc:
        if exc.status != 404:
            raise
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, ACTION_PLURAL, body)


def describe(status: dict[str, Any]) -> str:
    phase = str(status.get("phase", "-"))
    extra = []
    if "progress" in status and phase not in TERMINAL:
        extra.append(f"{status['progress']}%")
    if status.get("error"):
        extra.append(f"{status['error'].get('reason')}: {status['error'].get('message')}")
    return phase + (f" ({'; '.join(extra)})" if extra else "")


def run_demo(state: Path, examples: Path, namespace: str = "default", timeout: float = 180) -> int:
    stack = Stack(state)
    stack.up()
    s3 = stack.s3().client()
    bucket = stack.s3().bucket
    s3.put_object(Bucket=bucket, Key="demo/input.txt", Body=DEMO_TEXT.encode())
    say(f"uploaded s3://{bucket}/demo/input.txt")
    api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(stack.kubeconfig)))
    for name in EXPECTED:
        # Applied as written: the examples name the job image `make up` provides.
        body = yaml.safe_load((examples / f"{name}.yaml").read_text())
        apply_fresh(api, namespace, body)
        say(f"applied examples/{name}.yaml")

    last: dict[str, str] = {}
    final: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(final) < len(EXPECTED) and time.monotonic() < deadline:
        for name in EXPECTED:
            if name in final:
                continue
            obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, ACTION_PLURAL, name)
            status = obj.get("status") or {}
            line = describe(status)
            if line != last.get(name):
                print(f"  {time.strftime('%H:%M:%S')}  {name:<10} {line}", flush=True)
                last[name] = line
            if status.get("phase") in TERMINAL:
                final[name] = status
        time.sleep(0.25)

    ok = True
    for name, wanted in EXPECTED.items():
        status = final.get(name)
        if status is None:
            print(f"  {name}: not terminal after {timeout}s (see .local/logs/)")
            ok = False
            continue
        if status.get("result"):
            print(f"  {name} result: {json.dumps(status['result'])}")
        for output in status.get("outputs", []):
            print(f"  {name} output: {output['name']} -> {output['uri']} ({output['size']} bytes)")
        if status.get("phase") != wanted:
            print(f"  {name}: expected {wanted}, got {status.get('phase')}")
            ok = False
    counts = s3.get_object(Bucket=bucket, Key="demo/counts.json")["Body"].read().decode()
    print(f"  s3://{bucket}/demo/counts.json: {counts}")
    say("demo " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1
