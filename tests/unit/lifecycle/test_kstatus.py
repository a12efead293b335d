"""Every phase's status, as the pure lifecycle writes it, read by the kstatus rules.

Flux (kustomize-controller and helm-controller health checks) and ``kubectl wait`` read
custom resources through kstatus (sigs.k8s.io/cli-utils): deletion -> Terminating; an
observedGeneration behind metadata.generation -> InProgress; condition Reconciling=True
-> InProgress; Stalled=True -> Failed; otherwise Current (``tests.support.gitops``), so
this test pins what GitOps tools conclude for each phase.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from asyncaction.api.phases import TERMINAL_PHASES, Phase
from asyncaction.lifecycle.conditions import conditions_for
from tests.support.gitops import kstatus

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# What Flux and `kubectl wait` should conclude, per phase.
EXPECTED = {
    Phase.SCHEDULED: "InProgress",
    Phase.QUEUED: "InProgress",
    Phase.STARTING: "InProgress",
    Phase.RUNNING: "InProgress",
    Phase.PAUSED: "Current",  # nothing left to do until resumed: not an error, not work
    Phase.SUCCEEDED: "Current",
    Phase.FAILED: "Failed",
    Phase.ABORTED: "Failed",
    Phase.TIMEOUT: "Failed",
}


def action(phase: Phase, generation: int = 3, observed: int = 3) -> dict[str, Any]:
    """An action in ``phase`` with the status fields the lifecycle writes on a transition."""
    return {
        "metadata": {"name": "a", "namespace": "n", "generation": generation},
        "status": {
            "phase": phase.value,
            "observedGeneration": observed,
            "conditions": conditions_for(phase, now=NOW, observed_generation=observed),
        },
    }


def condition(obj: dict[str, Any], kind: str) -> str | None:
    found = [c["status"] for c in obj["status"]["conditions"] if c["type"] == kind]
    return found[0] if found else None


@pytest.mark.parametrize("phase", list(Phase), ids=str)
def test_kstatus_reads_every_phase_as_intended(phase: Phase) -> None:
    assert kstatus(action(phase)) == EXPECTED[phase]


@pytest.mark.parametrize("phase", list(Phase), ids=str)
def test_kubectl_wait_for_ready_returns_only_on_success(phase: Phase) -> None:
    # `kubectl wait --for=condition=Ready` returns when Ready is True, i.e. on success only;
    # `--for=condition=Succeeded=False` catches the failures.
    obj = action(phase)
    assert (condition(obj, "Ready") == "True") == (phase is Phase.SUCCEEDED)
    assert (condition(obj, "Succeeded") == "False") == (
        phase in TERMINAL_PHASES and phase is not Phase.SUCCEEDED
    )


@pytest.mark.parametrize("phase", list(Phase), ids=str)
def test_a_spec_change_not_yet_observed_is_in_progress(phase: Phase) -> None:
    assert kstatus(action(phase, generation=4, observed=3)) == "InProgress"


def test_every_condition_carries_the_observed_generation() -> None:
    for phase in Phase:
        for item in action(phase, observed=7)["status"]["conditions"]:
            assert item["observedGeneration"] == 7
