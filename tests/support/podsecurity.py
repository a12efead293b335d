"""The Pod Security Standards' ``restricted`` profile (Kubernetes 1.25+ PodSecurity
admission, policy version ``latest``), as a pure check of a pod spec.

The test bed runs Kubernetes 1.20, which has no PodSecurity admission, so the chart's pods
are checked here rule by rule as https://kubernetes.io/docs/concepts/security/pod-security-standards/
lists them for ``baseline`` and ``restricted``. Each finding names the field and the rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

ALLOWED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SECCOMP_OK = {"RuntimeDefault", "Localhost"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def pod_specs(obj: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, pod spec) of a Pod or of any workload's pod template."""
    kind = obj.get("kind")
    name = f"{kind}/{(obj.get('metadata') or {}).get('name')}"
    spec = obj.get("spec") or {}
    if kind == "Pod":
        yield name, spec
    elif kind == "CronJob":
        yield name, spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec and isinstance(spec["template"], Mapping):
        yield name, spec["template"].get("spec") or {}


def restricted_violations(pod: Mapping[str, Any]) -> list[str]:
    """Every way ``pod`` (a PodSpec) breaks the restricted profile; empty when it meets it."""
    found: list[str] = []
    pod_ctx = pod.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(f"spec.{flag}: host namespaces are not allowed")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            found.append(f"volume {volume.get('name')}: type {sorted(kinds)} is not allowed")
    for sysctl in pod_ctx.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl.get('name')} is not allowed")
    if (pod_ctx.get("windowsOptions") or {}).get("hostProcess"):
        found.append("spec.securityContext.windowsOptions.hostProcess is not allowed")
    found += _selinux("spec.securityContext", pod_ctx)
    if pod_ctx.get("runAsUser") == 0:
        found.append("spec.securityContext.runAsUser must not be 0")
    containers = [
        *(("containers", c) for c in pod.get("containers") or []),
        *(("initContainers", c) for c in pod.get("initContainers") or []),
        *(("ephemeralContainers", c) for c in pod.get("ephemeralContainers") or []),
    ]
    for field, container in containers:
        where = f"{field}[{container.get('name')}]"
        ctx = container.get("securityContext") or {}
        if ctx.get("privileged"):
            found.append(f"{where}: privileged is not allowed")
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{where}: hostProcess is not allowed")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"{where}: hostPort {port['hostPort']} is not allowed")
        if ctx.get("procMount") not in (None, "Default"):
            found.append(f"{where}: procMount must be Default")
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation must be false")
        if not (
            ctx.get("runAsNonRoot") is True
            or (pod_ctx.get("runAsNonRoot") is True and ctx.get("runAsNonRoot") is not False)
        ):
            found.append(f"{where}: runAsNonRoot must be true (pod or container)")
        if ctx.get("runAsUser") == 0:
            found.append(f"{where}: runAsUser must not be 0")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in SECCOMP_OK:
            found.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost")
        capabilities = ctx.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{where}: capabilities.drop must include ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{where}: only NET_BIND_SERVICE may be added")
        found += _selinux(f"{where}.securityContext", ctx)
    return found


def _selinux(where: str, ctx: Mapping[str, Any]) -> list[str]:
    options = ctx.get("seLinuxOptions") or {}
    found = []
    if options.get("type", "") not in SELINUX_TYPES:
        found.append(f"{where}.seLinuxOptions.type {options['type']} is not allowed")
    if options.get("user") or options.get("role"):
        found.append(f"{where}.seLinuxOptions user and role must be unset")
    return found
