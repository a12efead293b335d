import pytest

from asyncaction.api.phases import TERMINAL_PHASES, Phase
from asyncaction.lifecycle import ALLOWED, can_transition

ALL: list[Phase | None] = [None, *Phase]
EXPECTED = {
    (None, Phase.SCHEDULED),
    (None, Phase.QUEUED),
    (None, Phase.STARTING),  # a new action finding a free slot: one status write
    (None, Phase.PAUSED),
    (None, Phase.FAILED),
    (None, Phase.ABORTED),
    (Phase.SCHEDULED, Phase.QUEUED),
    (Phase.SCHEDULED, Phase.PAUSED),
    (Phase.SCHEDULED, Phase.FAILED),
    (Phase.SCHEDULED, Phase.ABORTED),
    (Phase.SCHEDULED, Phase.TIMEOUT),  # resumed after its first start, deadline passed
    (Phase.QUEUED, Phase.STARTING),
    (Phase.QUEUED, Phase.PAUSED),
    (Phase.QUEUED, Phase.FAILED),
    (Phase.QUEUED, Phase.ABORTED),
    (Phase.QUEUED, Phase.TIMEOUT),
    *((Phase.STARTING, p) for p in (Phase.RUNNING, Phase.QUEUED, Phase.PAUSED, *TERMINAL_PHASES)),
    *((Phase.RUNNING, p) for p in (Phase.QUEUED, Phase.PAUSED, *TERMINAL_PHASES)),
    (Phase.PAUSED, Phase.QUEUED),
    (Phase.PAUSED, Phase.SCHEDULED),
    (Phase.PAUSED, Phase.FAILED),
    (Phase.PAUSED, Phase.ABORTED),
}


@pytest.mark.parametrize("src", ALL, ids=str)
@pytest.mark.parametrize("dst", list(Phase), ids=str)
def test_every_pair_of_the_grid(src: Phase | None, dst: Phase) -> None:
    assert can_transition(src, dst) == ((src, dst) in EXPECTED)


@pytest.mark.parametrize("src", sorted(TERMINAL_PHASES), ids=str)
def test_terminal_phases_are_final(src: Phase) -> None:
    assert ALLOWED[src] == frozenset()
    assert not any(can_transition(src, dst) for dst in Phase)
