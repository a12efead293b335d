from pathlib import Path
from typing import Any

import pytest

from asyncaction.api.crds import build_crds, drift, main
from asyncaction.api.openapi import untyped_nodes

ROOT = Path(__file__).resolve().parents[3]


def walk(node: Any, path: str = "") -> list[tuple[str, str]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((path, key))
            found += walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for item in node:
            found += walk(item, path)
    return found


@pytest.mark.parametrize("crd", build_crds(), ids=lambda c: c["metadata"]["name"])
def test_schemas_are_structural(crd: dict[str, Any]) -> None:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert untyped_nodes(schema) == []
    keys = walk(schema)
    assert not [p for p, k in keys if k in ("$ref", "$defs", "title", "anyOf")]
    # "type" as a keyword (not as a property called type) is forbidden inside oneOf.
    assert not [
        p for p, k in keys if k == "type" and "/oneOf" in p and not p.endswith("properties")
    ]
    assert not [p for p, k in keys if k == "default" and "/status" in p]


def test_action_crd_names_and_columns() -> None:
    action = build_crds()[0]
    assert action["metadata"]["name"] == "asyncactions.asyncaction.dev"
    assert action["spec"]["names"]["shortNames"] == ["aa"]
    version = action["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    normal = [name for name, c in columns.items() if not c.get("priority")]
    wide = [name for name, c in columns.items() if c.get("priority") == 1]
    assert normal == ["Phase", "Progress", "Queue", "Attempts", "Age", "Reason"]
    assert wide == ["Job", "Started", "Finished"]
    assert columns["Queue"]["jsonPath"] == ".status.queue"  # effective, defaults included
    phase = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["phase"]
    assert phase["enum"][:2] == ["SCHEDULED", "QUEUED"]


def test_committed_crds_match_the_models() -> None:
    assert drift(ROOT / "crds") == [], "crds/ drifted: run `make crds`"


def test_check_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["write", str(tmp_path)]) == 0
    assert main(["check", str(tmp_path)]) == 0
    path = tmp_path / "asyncaction.dev_asyncactions.yaml"
    path.write_text(path.read_text().replace("Progress", "Percent"))
    assert main(["check", str(tmp_path)]) == 1
    assert "-      name: Percent" in capsys.readouterr().out


def resource_names(crd: dict[str, Any]) -> set[str]:
    names = crd["spec"]["names"]
    return {names["plural"], names["singular"], names["kind"].lower(), *names.get("shortNames", [])}


def test_every_name_resolves_to_one_resource() -> None:
    """kubectl expands a category to all its resources: one equal to a resource's name made
    `kubectl get asyncaction NAME` fail with "you must specify only one resource"."""
    crds = build_crds()
    names = set().union(*(resource_names(crd) for crd in crds))
    categories = {c for crd in crds for c in crd["spec"]["names"]["categories"]}
    assert categories == {"asyncaction-all"}
    assert not categories & names


def undescribed(node: Any, path: str = "") -> list[str]:
    missing = []
    for name, child in (node.get("properties") or {}).items():
        if path == "" and name == "metadata":
            continue  # the server allows only a type there and explains ObjectMeta itself
        if not child.get("description"):
            missing.append(f"{path}.{name}")
        missing += undescribed(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        missing += undescribed(node["items"], f"{path}[]")
    return missing


@pytest.mark.parametrize("crd", build_crds(), ids=lambda c: c["metadata"]["name"])
def test_every_field_is_described(crd: dict[str, Any]) -> None:
    """`kubectl explain` shows these descriptions; a field without one explains nothing."""
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["description"]
    assert undescribed(schema) == []
