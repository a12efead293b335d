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
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Phase", "Progress", "Queue", "Age", "Reason"]
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
