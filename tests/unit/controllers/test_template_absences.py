"""How long an action waits for a missing ActionTemplate, and what is kept meanwhile
(``template_absences``: pure, on a given clock)."""

from __future__ import annotations

from asyncaction.controllers.template_absences import TemplateAbsences


def test_a_grace_runs_from_the_first_absence_and_ends_with_the_template() -> None:
    absences = TemplateAbsences(grace=30, forget_after=30)
    assert absences.grace_left("ns/t", 100) == 30
    assert absences.grace_left("ns/t", 110) == 20  # the same absence: its grace goes on
    assert absences.grace_left("ns/t", 130) == 0  # over: its actions fail
    assert absences.grace_left("ns/t", 160) == -30  # still that absence, 30 s after
    assert absences.first_missing == {"ns/t": 100}
    assert absences.grace_left("ns/t", 161) == 30  # then over: a new action's own grace
    absences.found("ns/t")
    assert absences.first_missing == {}
    assert absences.grace_left("ns/t", 170) == 30  # after the template came: a new grace


def test_absences_that_are_over_are_swept_at_most_once_per_forget_window() -> None:
    absences = TemplateAbsences(grace=30, forget_after=30)
    absences.grace_left("ns/typo", 100)  # swept (nothing) at 100
    absences.grace_left("ns/other", 150)  # swept at 150: typo (50 s) is not over
    assert absences.grace_left("ns/new", 175) == 30  # no sweep (25 s since the last)
    assert absences.first_missing == {"ns/typo": 100, "ns/other": 150, "ns/new": 175}
    # 30 s since the last sweep: swept, and typo (80 s) is over
    assert absences.grace_left("ns/new", 180) == 25
    assert absences.first_missing == {"ns/other": 150, "ns/new": 175}
    absences.found("ns/never-missing")  # nothing kept, nothing to forget
    # swept at 215: "other" (65 s) is over and goes; "new" (40 s) stays
    assert absences.grace_left("ns/typo", 215) == 30
    assert absences.first_missing == {"ns/new": 175, "ns/typo": 215}
