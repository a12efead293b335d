"""The chart's Argo CD health check, run by a real Lua interpreter the way Argo CD runs it.

Argo CD loads ``health.lua`` with the live object as the global ``obj`` and reads the
table it returns; ``health_test.yaml`` lists each testdata case and the expected answer
(the layout of Argo CD's own resource_customizations). Argo CD's interpreter is a Lua 5.1
(gopher-lua): every case runs in Lua 5.1 and 5.4, which ``make tools`` installs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from asyncaction.api.models import AsyncAction
from asyncaction.api.phases import Phase
from asyncaction.lifecycle.conditions import matches
from tests.support.chart import CHART
from tests.support.gitops import HEALTH, INTERPRETERS, run_health

CASES = yaml.safe_load((HEALTH / "health_test.yaml").read_text())["tests"]
# The contract's mapping of phases to Argo CD health.
EXPECTED = {
    Phase.SCHEDULED: "Progressing",
    Phase.QUEUED: "Progressing",
    Phase.STARTING: "Progressing",
    Phase.RUNNING: "Progressing",
    Phase.PAUSED: "Suspended",
    Phase.SUCCEEDED: "Healthy",
    Phase.FAILED: "Degraded",
    Phase.TIMEOUT: "Degraded",
    Phase.ABORTED: "Degraded",
}


@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: Path(c["inputPath"]).stem)
def test_health_lua_answers_every_case(case: dict[str, Any], interpreter: str) -> None:
    obj = yaml.safe_load((HEALTH / case["inputPath"]).read_text())
    assert run_health(obj, interpreter) == case["healthStatus"]


def test_every_phase_has_a_case_with_the_contracts_health() -> None:
    seen: dict[Phase, set[str]] = {}
    for case in CASES:
        obj = yaml.safe_load((HEALTH / case["inputPath"]).read_text())
        phase = (obj.get("status") or {}).get("phase")
        if phase is None:
            assert case["healthStatus"]["status"] == "Progressing"
            continue
        generation_seen = (
            obj["status"].get("observedGeneration", 0) >= obj["metadata"]["generation"]
        )
        if generation_seen:
            seen.setdefault(Phase(phase), set()).add(case["healthStatus"]["status"])
    assert seen == {phase: {health} for phase, health in EXPECTED.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: Path(c["inputPath"]).stem)
def test_testdata_are_valid_actions_with_the_lifecycles_conditions(case: dict[str, Any]) -> None:
    obj = yaml.safe_load((HEALTH / case["inputPath"]).read_text())
    AsyncAction.model_validate(obj)
    status = obj.get("status")
    if status:
        assert matches(Phase(status["phase"]), status["conditions"])


def test_a_phase_the_check_does_not_know_is_unknown() -> None:
    obj = {"metadata": {"generation": 1}, "status": {"phase": "HIBERNATING"}}
    assert run_health(obj) == {"status": "Unknown", "message": "Unknown phase HIBERNATING"}


def test_a_failure_without_error_details_still_says_why() -> None:
    obj = {"metadata": {"generation": 1}, "status": {"phase": "FAILED"}}
    assert run_health(obj) == {"status": "Degraded", "message": "FAILED: FAILED"}


def test_the_chart_names_its_health_check() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    path = chart["annotations"]["asyncaction.dev/argocd-health"]
    assert (CHART / path) == HEALTH / "health.lua"


def test_the_docs_argo_cd_snippet_is_the_shipped_check() -> None:
    docs = (CHART.parents[1] / "docs" / "helm.md").read_text()
    key = "resource.customizations.health.asyncaction.dev_AsyncAction: |\n"
    snippet = docs.split(key, 1)[1].split("```", 1)[0]
    lines = [line.removeprefix("    ") for line in snippet.splitlines()]
    assert "\n".join(lines).strip() == (HEALTH / "health.lua").read_text().strip()
