"""A real Prometheus server for the test bed (Debian's ``prometheus`` package).

Started when asked (a test, or ``make up`` with ``--prometheus``), on loopback, with its
data in the test bed's directory. It scrapes two ways:

- ``static``: named targets (``HOST:PORT`` and a path), for the operator and hook when
  they run as host processes (the node agent's test bed);
- ``pods``: the Pods annotated ``prometheus.io/scrape: "true"``, at the port and path
  their ``prometheus.io/port`` and ``prometheus.io/path`` annotations name, as the
  chart's Pods are (the real node's test bed). Debian's Prometheus is built without
  Kubernetes discovery, so the test bed lists the Pods itself into a ``file_sd`` file
  (``refresh_pods``) with the relabelling such a job would do.

``query`` runs PromQL through the HTTP API; ``promtool`` runs ``promtool`` (``check
metrics``, ``check rules``, ``test rules``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from asyncaction_testbed import procs

PROMETHEUS = "prometheus"
PROMTOOL = "promtool"


class PrometheusUnavailable(RuntimeError):
    """The prometheus binaries are not installed (``make tools`` installs them)."""


def binaries() -> tuple[str, str]:
    """Paths of ``prometheus`` and ``promtool``; raises with the fix when missing."""
    server, tool = shutil.which(PROMETHEUS), shutil.which(PROMTOOL)
    if server is None or tool is None:
        raise PrometheusUnavailable(
            "prometheus/promtool not found: install Debian's `prometheus` package (make tools)"
        )
    return server, tool


@dataclass(frozen=True)
class Target:
    job: str
    address: str  # HOST:PORT
    path: str = "/metrics"


ANNOTATION = "prometheus.io/"


def pod_targets(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prometheus file_sd target groups for the running Pods that ask to be scraped with
    the prometheus.io annotations (the relabelling a kubernetes_sd job would do: Debian's
    Prometheus is built without Kubernetes discovery)."""
    groups = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        notes = meta.get("annotations") or {}
        ip = (pod.get("status") or {}).get("podIP")
        if notes.get(f"{ANNOTATION}scrape") != "true" or not ip:
            continue
        if (pod.get("status") or {}).get("phase") != "Running":
            continue
        port = notes.get(f"{ANNOTATION}port")
        component = (meta.get("labels") or {}).get("app.kubernetes.io/component")
        labels = {
            "__metrics_path__": notes.get(f"{ANNOTATION}path") or "/metrics",
            "namespace": str(meta.get("namespace", "")),
            "pod": str(meta.get("name", "")),
            "job": f"asyncaction-{component}" if component else "pods",
        }
        groups.append({"targets": [f"{ip}:{port}" if port else ip], "labels": labels})
    return groups


def pod_discovery(kubeconfig: Path, namespaces: list[str], targets_file: Path) -> dict[str, Any]:
    """A scrape job for the annotated Pods of ``namespaces``, listed now into
    ``targets_file`` (``refresh_pods`` writes it again; Prometheus rereads it)."""
    refresh_pods(kubeconfig, namespaces, targets_file)
    # honor_labels: the series' own namespace label (the action's) wins over the Pod's
    return {
        "job_name": "pods",
        "honor_labels": True,
        "file_sd_configs": [{"files": [str(targets_file)]}],
    }


def refresh_pods(kubeconfig: Path, namespaces: list[str], targets_file: Path) -> None:
    pods: list[dict[str, Any]] = []
    for namespace in namespaces:
        listed = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "-n", namespace, "get", "pods",
             "-o", "json"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        pods += json.loads(listed.stdout).get("items", [])
    targets_file.parent.mkdir(parents=True, exist_ok=True)
    staged = targets_file.with_suffix(".tmp")
    staged.write_text(json.dumps(pod_targets(pods)))
    staged.replace(targets_file)  # Prometheus never reads half a file


def config(
    targets: list[Target],
    *,
    interval: float = 1.0,
    rule_files: list[Path] | None = None,
    extra_jobs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = [
        {
            "job_name": target.job,
            "metrics_path": target.path,
            "static_configs": [{"targets": [target.address]}],
        }
        for target in targets
    ]
    return {
        "global": {"scrape_interval": f"{interval:g}s", "evaluation_interval": f"{interval:g}s"},
        "rule_files": [str(p) for p in rule_files or []],
        "scrape_configs": [*jobs, *(extra_jobs or [])],
    }


@dataclass
class Prometheus:
    directory: Path
    targets: list[Target] = field(default_factory=list)
    rule_files: list[Path] = field(default_factory=list)
    extra_jobs: list[dict[str, Any]] = field(default_factory=list)
    interval: float = 1.0
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        server, _ = binaries()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or procs.free_port()
        path = self.directory / "prometheus.yml"
        path.write_text(
            yaml.safe_dump(
                config(
                    self.targets,
                    interval=self.interval,
                    rule_files=self.rule_files,
                    extra_jobs=self.extra_jobs,
                )
            )
        )
        if procs.is_running(self.directory, "prometheus"):
            procs.stop(self.directory, "prometheus")
        procs.start(
            self.directory,
            "prometheus",
            [
                server,
                f"--config.file={path}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
        )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline or not procs.is_running(self.directory, "prometheus"):
                log = procs.log_file(self.directory, "prometheus")
                raise RuntimeError(f"prometheus did not get ready{procs.tail(log)}")
            time.sleep(0.2)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:  # noqa: S310
                return bool(answer.status == 200)
        except OSError:
            return False

    def reload(self) -> None:
        """Read the rule files again (they were edited)."""
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
            pass

    def stop(self) -> None:
        procs.stop(self.directory, "prometheus")

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's vector (a scalar comes back as one sample without labels)."""
        data = self.api("query", query=promql)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, promql: str) -> float | None:
        """The one number ``promql`` gives (None: no data)."""
        result = self.query(promql)
        if not result:
            return None
        if len(result) > 1:
            raise ValueError(f"{promql} gave {len(result)} series: {result}")
        return float(result[0]["value"][1])

    def targets_up(self) -> dict[str, str]:
        """Health of each active target by job."""
        data = self.api("targets")
        return {t["labels"]["job"]: t["health"] for t in data["activeTargets"]}

    def wait_scraped(self, timeout: float = 60) -> None:
        """Until every target answered one more scrape after now."""
        since = time.time()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.api("targets")["activeTargets"]
            if data and all(
                t["health"] == "up" and _parse_time(t.get("lastScrape")) > since for t in data
            ):
                return
            time.sleep(0.2)
        raise TimeoutError(f"targets not scraped after {timeout}s: {self.api('targets')}")


def _parse_time(text: str | None) -> float:
    from datetime import datetime

    if not text:
        return 0.0
    text = text.rstrip("Z")
    if "." in text:  # Prometheus gives nanoseconds; Python takes microseconds
        head, frac = text.split(".", 1)
        frac = frac.split("+")[0].split("-")[0][:6]
        text = f"{head}.{frac}"
    text = text.split("+")[0]
    return datetime.fromisoformat(text + "+00:00").timestamp()


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool; the caller checks ``returncode`` and reads its output."""
    _, tool = binaries()
    return subprocess.run(
        [tool, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


OPERATOR_METRICS_PORT = 18081  # the host operator's metrics under `make up` (node agent)


def for_stack(state: Path, kubeconfig: Path, *, real_node: bool, hook: str) -> Prometheus:
    """The Prometheus of ``make up PROMETHEUS=1``: on the real node it finds the chart's
    Pods by their prometheus.io annotations; on the node agent it scrapes the host
    processes (the operator on ``OPERATOR_METRICS_PORT``, the hook on its own port)."""
    rules = [Path(__file__).resolve().parents[2] / "docs" / "alerts" / "asyncaction.rules.yaml"]
    rules = [p for p in rules if p.exists()]
    if real_node:
        from asyncaction_testbed.release import NAMESPACE

        return Prometheus(
            state / "prometheus",
            rule_files=rules,
            extra_jobs=[pod_discovery(kubeconfig, [NAMESPACE], state / "prometheus" / "pods.json")],
            interval=5.0,
            port=procs.free_port(19090),
        )
    host = hook.removeprefix("http://").rsplit(":", 1)[0]
    return Prometheus(
        state / "prometheus",
        targets=[
            Target("asyncaction-operator", f"{host}:{OPERATOR_METRICS_PORT}"),
            Target("asyncaction-hook", hook.removeprefix("http://")),
        ],
        rule_files=rules,
        interval=5.0,
        port=procs.free_port(19090),
    )
