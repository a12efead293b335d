"""Turning actions into what a person reads: tables, ages, a progress bar, ``describe``
(pure functions of the objects, so they are tested without a cluster)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import yaml

from asyncaction_cli.waiting import waiting_reason
from asyncaction_client.contract import ACTION_PLURAL, GROUP, parse_time
from asyncaction_client.model import effective_queue, name_of, namespace_of

NONE = "<none>"
COLUMNS = ["NAME", "PHASE", "PROGRESS", "QUEUE", "ATTEMPTS", "AGE", "REASON"]
WIDE = ["JOB", "STARTED", "FINISHED", "MESSAGE"]


def age(when: object, now: datetime) -> str:
    """kubectl's short ages: 45s, 12m, 3h4m, 5d."""
    moment = parse_time(when) if not isinstance(when, datetime) else when
    if moment is None:
        return NONE
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if hours < 8 and minutes else f"{hours}h"
    return f"{hours // 24}d"


def row(action: Mapping[str, Any], now: datetime, *, wide: bool, namespaces: bool) -> list[str]:
    status = action.get("status") or {}
    meta = action.get("metadata") or {}
    progress = status.get("progress")
    cells = [
        name_of(action),
        status.get("phase") or NONE,
        f"{progress}%" if progress is not None else NONE,
        effective_queue(action),
        str(status.get("attempts") or 0),
        age(meta.get("creationTimestamp"), now),
        (waiting_reason(action) or ("",))[0],
    ]
    if wide:
        cells += [
            status.get("jobName") or NONE,
            age(status.get("startedAt"), now) if status.get("startedAt") else NONE,
            age(status.get("finishedAt"), now) if status.get("finishedAt") else NONE,
            status.get("message") or "",
        ]
    return ([namespace_of(action)] if namespaces else []) + cells


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Columns padded as kubectl pads them (three spaces apart), no trailing spaces."""
    widths = [len(h) for h in header]
    for cells in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]
    lines = []
    for cells in [header, *rows]:
        line = "   ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def actions_table(
    actions: Iterable[Mapping[str, Any]], now: datetime, *, wide: bool, namespaces: bool
) -> str:
    header = (["NAMESPACE"] if namespaces else []) + COLUMNS + (WIDE if wide else [])
    return table([row(a, now, wide=wide, namespaces=namespaces) for a in actions], header)


def resource_name(action: Mapping[str, Any]) -> str:
    """``-o name``: the form kubectl prints and accepts back."""
    return f"{ACTION_PLURAL[:-1]}.{GROUP}/{name_of(action)}"


def as_json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def as_yaml(values: Sequence[object]) -> str:
    return "---\n".join(yaml.safe_dump(v, sort_keys=True) for v in values)


def progress_line(action: Mapping[str, Any], width: int) -> str:
    """``NAME PHASE [#####.....] 42% {details}`` cut to ``width`` (one terminal line)."""
    status = action.get("status") or {}
    progress = status.get("progress")
    bar_width = 24
    filled = round(bar_width * (progress or 0) / 100)
    bar = "[" + "#" * filled + "." * (bar_width - filled) + "]"
    percent = f"{progress:3d}%" if isinstance(progress, int) else "  -%"
    details = status.get("statusDetails")
    detail = json.dumps(details, separators=(",", ":"), sort_keys=True) if details else ""
    if not detail:
        detail = status.get("message") or ""
    line = f"{name_of(action)} {status.get('phase') or 'PENDING':<9} {bar} {percent} {detail}"
    line = line.rstrip()
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


def outcome_line(action: Mapping[str, Any]) -> str:
    status = action.get("status") or {}
    error = status.get("error") or {}
    detail = ": ".join(p for p in (error.get("reason"), error.get("message")) if p)
    return f"{name_of(action)} {status.get('phase')}" + (f": {detail}" if detail else "")


def new_lines(printed: Sequence[str], tail: Sequence[str]) -> list[str]:
    """Lines of a sliding ``tail`` not printed yet: the longest end of ``printed`` that
    starts ``tail`` is skipped (the tail is bounded, so old lines fall off its front)."""
    for overlap in range(min(len(printed), len(tail)), 0, -1):
        if list(printed[-overlap:]) == list(tail[:overlap]):
            return list(tail[overlap:])
    return list(tail)


def _field(label: str, value: object) -> str:
    return f"{label + ':':<14}{value}\n"


def _compact(value: object) -> str:
    return json.dumps(value, separators=(", ", ": "), sort_keys=True)


def describe(
    action: Mapping[str, Any],
    now: datetime,
    *,
    attempts: Sequence[Sequence[str]] = (),
    events: Sequence[Sequence[str]] = (),
    position: tuple[int, int] | None = None,
) -> str:
    """kubectl-describe-like text: what it is, where it stands, and what happened."""
    meta = action.get("metadata") or {}
    spec = action.get("spec") or {}
    status = action.get("status") or {}
    out = [
        _field("Name", meta.get("name")),
        _field("Namespace", meta.get("namespace")),
        _field(
            "Labels", ",".join(f"{k}={v}" for k, v in (meta.get("labels") or {}).items()) or NONE
        ),
        _field(
            "Created",
            f"{meta.get('creationTimestamp')} ({age(meta.get('creationTimestamp'), now)} ago)",
        ),
        _field(
            "Template",
            f"templateRef {spec['templateRef']}"
            if spec.get("templateRef") and not spec.get("template")
            else "inline",
        ),
        _field("Queue", f"{effective_queue(action)} (priority {spec.get('priority') or 0})"),
        _field("Phase", status.get("phase") or NONE),
    ]
    waiting = waiting_reason(action)
    if waiting is not None and not status.get("error"):
        out.append(_field("Waiting", f"{waiting[0]}: {waiting[1]}" if waiting[1] else waiting[0]))
    if position is not None:
        out.append(_field("Position", f"{position[0]} of {position[1]} waiting in its queue"))
    if status.get("progress") is not None:
        out.append(_field("Progress", f"{status['progress']}%"))
    if status.get("message"):
        out.append(_field("Message", status["message"]))
    out.append(
        _field(
            "Attempts",
            f"{status.get('attempts') or 0} (failures {status.get('failures') or 0}, "
            f"backoffLimit {spec.get('backoffLimit') or 0})",
        )
    )
    for label, key in (
        ("Job", "jobName"),
        ("Started", "startedAt"),
        ("Finished", "finishedAt"),
        ("Next attempt", "nextAttemptAt"),
    ):
        if status.get(key):
            out.append(_field(label, status[key]))
    if spec.get("request") is not None:
        out.append(_field("Request", _compact(spec["request"])))
    if status.get("statusDetails"):
        out.append(_field("Details", _compact(status["statusDetails"])))
    if status.get("result") is not None:
        out.append(_field("Result", _compact(status["result"])))
    if status.get("error"):
        error = status["error"]
        out.append(_field("Error", f"{error.get('reason')}: {error.get('message', '')}"))
    conditions = status.get("conditions") or []
    if conditions:
        out.append("Conditions:\n")
        out.append(
            _indent(
                table(
                    [
                        [
                            c.get("type", ""),
                            c.get("status", ""),
                            c.get("reason") or "",
                            age(c.get("lastTransitionTime"), now),
                            c.get("message") or "",
                        ]
                        for c in conditions
                    ],
                    ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"],
                )
            )
        )
    if attempts:
        out.append("Attempt history:\n")
        out.append(
            _indent(table(attempts, ["ATTEMPT", "JOB", "JOB STATE", "POD", "POD PHASE", "EXIT"]))
        )
    outputs = status.get("outputs") or []
    if outputs:
        out.append("Outputs:\n")
        out.append(_indent(outputs_table(outputs)))
    tail = status.get("logTail") or []
    if tail:
        out.append("Last log lines:\n")
        out.extend(f"  {line}\n" for line in tail[-10:])
    out.append("Events:\n")
    out.append(
        _indent(table(events, ["TYPE", "REASON", "AGE", "MESSAGE"])) if events else "  <none>\n"
    )
    return "".join(out)


def outputs_table(outputs: Sequence[Mapping[str, Any]]) -> str:
    return table(
        [
            [
                str(o.get("name", "")),
                str(o.get("uri", "")),
                str(o.get("size", "")),
                str(o.get("md5", "")),
            ]
            for o in outputs
        ],
        ["NAME", "URI", "SIZE", "MD5"],
    )


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())
