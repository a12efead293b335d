"""The client's copy of the contract's names equals the operator's (the client keeps its
own so that it installs without the operator)."""

from __future__ import annotations

from datetime import UTC, datetime

from asyncaction.api import names, phases
from asyncaction.manifests import taskrecords
from asyncaction.timeutil import parse_time as operator_parse_time
from asyncaction_client import contract


def test_names_equal_the_operators() -> None:
    for name in (
        "GROUP",
        "VERSION",
        "API_VERSION",
        "ACTION_KIND",
        "ACTION_PLURAL",
        "LABEL_ACTION_UID",
        "LABEL_ATTEMPT",
    ):
        assert getattr(contract, name) == getattr(names, name), name
    assert contract.LABEL_TASK_CHUNK == taskrecords.LABEL_TASK_CHUNK


def test_phases_equal_the_operators() -> None:
    assert [p.value for p in contract.Phase] == [p.value for p in phases.Phase]
    assert {p.value for p in contract.TERMINAL_PHASES} == {p.value for p in phases.TERMINAL_PHASES}


def test_times_parse_as_the_operator_parses_them() -> None:
    for text in ("2026-11-23T03:00:00Z", "2026-11-23T03:00:00.5+01:00", "2026-11-23T03:00:00"):
        assert contract.parse_time(text) == operator_parse_time(text)
    assert contract.parse_time("2026-11-23T03:00:00Z") == datetime(2026, 11, 23, 3, tzinfo=UTC)
    assert contract.parse_time(None) is None
    assert contract.parse_time("") is None
