from pathlib import Path
from typing import Any

import pytest
import yaml

from asyncaction.chart import build_rbac_rules, drift, main, split_rules
from asyncaction.rbac import build_hook_role, build_operator_role, lease_rules

ROOT = Path(__file__).resolve().parents[3]
FILES = ROOT / "charts" / "asyncaction" / "files"


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_committed_chart_rbac_matches_the_code() -> None:
    assert drift(FILES) == "", "the chart's files/rbac.yaml drifted: run `make chart`"


def test_check_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["write", str(tmp_path)]) == 0
    assert main(["check", str(tmp_path)]) == 0
    path = tmp_path / "rbac.yaml"
    path.write_text(path.read_text().replace("- delete\n", "- deletecollection\n", 1))
    assert main(["check", str(tmp_path)]) == 1
    assert "+    - delete" in capsys.readouterr().out


def test_the_split_loses_and_adds_nothing() -> None:
    rules = build_rbac_rules()
    for component, role in (("operator", build_operator_role()), ("hook", build_hook_role())):
        split = rules[component]
        assert grants(split["clusterRules"]) | grants(split["namespacedRules"]) == grants(
            role["rules"]
        )
        assert split["leaseRules"] == lease_rules()


def test_cluster_scoped_resources_never_land_in_a_role() -> None:
    mixed = [{"apiGroups": [""], "resources": ["namespaces", "pods"], "verbs": ["get"]}]
    cluster, namespaced = split_rules(mixed)
    assert cluster == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]
    assert namespaced == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    operator = build_rbac_rules()["operator"]
    resources = {r for rule in operator["namespacedRules"] for r in rule["resources"]}
    assert not resources & {"customresourcedefinitions", "namespaces"}
    assert {"asyncactions", "jobs", "secrets"} <= resources


def test_the_hook_stays_cluster_wide_because_it_watches_every_namespace() -> None:
    hook = build_rbac_rules()["hook"]
    assert hook["namespacedRules"] == []
    assert grants(hook["clusterRules"]) == grants(build_hook_role()["rules"])


def test_the_file_has_no_yaml_aliases() -> None:
    text = (FILES / "rbac.yaml").read_text()
    assert "&id" not in text
    assert "*id" not in text
    assert yaml.safe_load(text) == build_rbac_rules()
