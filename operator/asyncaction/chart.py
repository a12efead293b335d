"""Files the Helm chart takes from the code, generated so the chart never drifts from it.

``python -m asyncaction.chart write DIR`` writes ``DIR/rbac.yaml`` (the chart's
``files/``) from the role builders of ``asyncaction.rbac``; ``check DIR`` exits 1 with a
diff when it drifted (``make chart-check`` and a unit test run it). The chart's templates
read this file and turn each component's rules into a ClusterRole (cluster-wide scope)
or into Roles in the listed namespaces (namespaced scope), and its ``leaseRules`` into a
Role in the one namespace of its Leases, whatever the scope.

Some rules can only ever be cluster-wide: those on cluster-scoped resources (a Role
cannot grant them), and every rule of a component that watches all namespaces whatever
the scope (the hook lists and watches actions and templates cluster-wide: it has no
namespace flag yet).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

import yaml

from asyncaction.rbac import build_hook_role, build_operator_role, lease_rules

HEADER = "# Generated from asyncaction.rbac by `make chart`. Do not edit.\n"
RBAC_FILE = "rbac.yaml"
# (apiGroup, resource) pairs that are not namespaced: a Role cannot grant them.
CLUSTER_SCOPED = frozenset(
    {
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("", "namespaces"),
        ("", "nodes"),
        ("rbac.authorization.k8s.io", "clusterroles"),
    }
)
# Components whose processes watch every namespace, whatever the chart's scope.
CLUSTER_WIDE_COMPONENTS = frozenset({"hook"})


def split_rules(
    rules: list[dict[str, Any]], cluster_wide: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(cluster rules, namespaced rules): a rule is split by resource when it mixes both."""
    cluster: list[dict[str, Any]] = []
    namespaced: list[dict[str, Any]] = []
    for rule in rules:
        if cluster_wide:
            cluster.append(rule)
            continue
        groups = rule["apiGroups"]
        wide = [r for r in rule["resources"] if any((g, r) in CLUSTER_SCOPED for g in groups)]
        narrow = [r for r in rule["resources"] if r not in wide]
        if wide:
            cluster.append({**rule, "resources": wide})
        if narrow:
            namespaced.append({**rule, "resources": narrow})
    return cluster, namespaced


def build_rbac_rules() -> dict[str, Any]:
    """Each component's rules, split into what must be cluster-wide and what may be not,
    and the Lease rules its Role in the Leases' namespace grants."""
    result: dict[str, Any] = {}
    for component, role in (("operator", build_operator_role()), ("hook", build_hook_role())):
        cluster, namespaced = split_rules(
            role["rules"], cluster_wide=component in CLUSTER_WIDE_COMPONENTS
        )
        result[component] = {
            "clusterRules": cluster,
            "namespacedRules": namespaced,
            "leaseRules": lease_rules(),
        }
    return result


class _PlainDumper(yaml.SafeDumper):
    """No anchors and aliases: the builders share lists, readers want them spelled out."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_rbac() -> str:
    return HEADER + yaml.dump(build_rbac_rules(), Dumper=_PlainDumper, sort_keys=True, width=100)


def write(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RBAC_FILE
    path.write_text(render_rbac())
    return path


def drift(directory: Path) -> str:
    """A unified diff of the chart's RBAC file against the code; empty when in sync."""
    path = directory / RBAC_FILE
    current = path.read_text() if path.exists() else ""
    wanted = render_rbac()
    if current == wanted:
        return ""
    return "".join(
        difflib.unified_diff(
            current.splitlines(True), wanted.splitlines(True), str(path), "generated"
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncaction.chart")
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("directory", type=Path, help="the chart's files/ folder")
    args = parser.parse_args(argv)
    if args.command == "write":
        print(f"wrote {write(args.directory)}")
        return 0
    diff = drift(args.directory)
    if diff:
        sys.stdout.write(diff)
        print("the chart's RBAC drifted from asyncaction.rbac: run `make chart`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
