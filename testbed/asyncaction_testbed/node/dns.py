"""Keeps dnsmasq's hosts file equal to the cluster's Services (cluster DNS without CoreDNS).

``python -m asyncaction_testbed.node.dns --kubeconfig K --hosts-dir D`` lists and watches
Services and rewrites ``D/services`` (atomically) whenever they change; dnsmasq reloads
files in its ``--hostsdir`` by itself.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from asyncaction_testbed.node.config import dns_hosts


def write_hosts(hosts_dir: Path, services: dict[str, dict[str, Any]]) -> None:
    text = dns_hosts(services.values())
    target = hosts_dir / "services"
    if target.exists() and target.read_text() == text:
        return
    tmp = hosts_dir / ".services.tmp"
    tmp.write_text(text)
    tmp.replace(target)


def sync_forever(kubeconfig: Path, hosts_dir: Path) -> None:
    from kubernetes import client, config, watch

    api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    hosts_dir.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            listed = api.list_service_for_all_namespaces(_preload_content=False)
            doc = json.loads(listed.data)
            services = {item["metadata"]["uid"]: item for item in doc["items"]}
            write_hosts(hosts_dir, services)
            stream = watch.Watch().stream(
                api.list_service_for_all_namespaces,
                resource_version=doc["metadata"]["resourceVersion"],
                timeout_seconds=300,
            )
            for event in stream:
                obj = api.api_client.sanitize_for_serialization(event["object"])
                uid = obj["metadata"]["uid"]
                if event["type"] == "DELETED":
                    services.pop(uid, None)
                else:
                    services[uid] = obj
                write_hosts(hosts_dir, services)
        except Exception as exc:  # keep serving: the API server may restart
            print(f"service watch failed, retrying: {exc}", flush=True)
            time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncaction_testbed.node.dns")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--hosts-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    sync_forever(args.kubeconfig, args.hosts_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
