"""``--log-format json``: one JSON object a line, naming the action a line is about."""

from __future__ import annotations

import json
import logging

from asyncaction_hook.logs import JsonFormatter


def record(**extra: object) -> logging.LogRecord:
    made = logging.LogRecord("asyncaction_hook.app", logging.WARNING, "f", 1, "x %s", ("y",), None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_a_line_about_an_action_names_it() -> None:
    about = {"namespace": "ns", "name": "a", "uid": "u-1", "attempt": 2, "other": "dropped"}
    line = json.loads(JsonFormatter().format(record(action=about)))
    assert {k: v for k, v in line.items() if k != "timestamp"} == {
        "level": "warning",
        "logger": "asyncaction_hook.app",
        "message": "x y",
        "action": {"namespace": "ns", "name": "a", "uid": "u-1", "attempt": 2},
    }
    assert line["timestamp"].endswith("+00:00")


def test_other_lines_have_the_common_fields_only() -> None:
    line = json.loads(JsonFormatter().format(record()))
    assert set(line) == {"timestamp", "level", "logger", "message"}
