from datetime import UTC, datetime, timedelta

from asyncaction_cli import render

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def action(**status: object) -> dict[str, object]:
    return {
        "metadata": {
            "name": "hello",
            "namespace": "ns",
            "creationTimestamp": "2026-11-23T11:58:00Z",
        },
        "spec": {"request": {"who": "world"}},
        "status": status,
    }


def test_ages_as_kubectl_prints_them() -> None:
    ages = [
        render.age(NOW - timedelta(seconds=s), NOW)
        for s in (5, 119, 600, 3 * 3600 + 240, 9 * 3600, 3 * 86400)
    ]
    assert ages == ["5s", "119s", "10m", "3h4m", "9h", "3d"]
    assert render.age(None, NOW) == "<none>"


def test_table_and_wide_columns() -> None:
    running = action(
        phase="RUNNING",
        progress=42,
        attempts=1,
        jobName="hello-1",
        startedAt="2026-11-23T11:59:00Z",
    )
    assert render.actions_table([running], NOW, wide=False, namespaces=False) == (
        "NAME    PHASE     PROGRESS   QUEUE     ATTEMPTS   AGE   REASON\n"
        "hello   RUNNING   42%        default   1          2m\n"
    )
    wide = render.actions_table([running], NOW, wide=True, namespaces=True).splitlines()
    assert wide[0].split() == ["NAMESPACE", *render.COLUMNS, *render.WIDE]
    assert wide[1].split()[:2] == ["ns", "hello"]
    assert "hello-1" in wide[1].split()


def test_progress_line_fits_the_terminal() -> None:
    line = render.progress_line(
        action(phase="RUNNING", progress=50, statusDetails={"step": 3}), 200
    )
    assert line == 'hello RUNNING   [############............]  50% {"step":3}'
    assert (
        len(render.progress_line(action(phase="RUNNING", statusDetails={"x": "y" * 300}), 60)) == 60
    )
    assert "  -%" in render.progress_line(action(), 100)


def test_new_lines_of_a_sliding_log_tail() -> None:
    assert render.new_lines([], ["a", "b"]) == ["a", "b"]
    assert render.new_lines(["a", "b"], ["a", "b", "c"]) == ["c"]
    assert render.new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]  # "a" fell off
    assert render.new_lines(["a", "b"], ["a", "b"]) == []
    assert render.new_lines(["x"], ["y"]) == ["y"]


def test_describe_shows_error_outputs_log_and_events() -> None:
    failed = action(
        phase="FAILED",
        attempts=2,
        failures=2,
        error={"reason": "BackoffLimitExceeded", "message": "exit code 3"},
        outputs=[{"name": "o", "uri": "s3://b/k", "size": 3, "md5": "abc"}],
        logTail=["one", "two"],
        conditions=[{"type": "Ready", "status": "False", "reason": "BackoffLimitExceeded"}],
    )
    text = render.describe(failed, NOW, attempts=[["1", "j-1", "Failed", "p", "Failed", "3"]],
                           events=[["Warning", "Failed", "1m", "exit code 3"]])  # fmt: skip
    for expected in (
        "Error:        BackoffLimitExceeded: exit code 3",
        'Request:      {"who": "world"}',
        "Attempts:     2 (failures 2, backoffLimit 0)",
        "s3://b/k",
        "  two\n",
        "Warning   Failed   1m    exit code 3",
        "1         j-1   Failed",
    ):
        assert expected in text, text
