"""Build the CustomResourceDefinitions from the models, and write or check ``crds/``.

``python -m asyncaction.api.crds write DIR [DIR...]`` writes one YAML file per CRD;
``python -m asyncaction.api.crds check DIR [DIR...]`` exits 1 with a diff when a file
drifted from the models (CI runs it through ``make crds-check`` and a unit test).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from asyncaction.api import models, schedules
from asyncaction.api.names import (
    ACTION_KIND,
    ACTION_PLURAL,
    ACTION_SHORT_NAMES,
    ACTION_SINGULAR,
    GROUP,
    QUEUE_KIND,
    QUEUE_PLURAL,
    QUEUE_SINGULAR,
    SCHEDULE_KIND,
    SCHEDULE_PLURAL,
    SCHEDULE_SHORT_NAMES,
    SCHEDULE_SINGULAR,
    TEMPLATE_KIND,
    TEMPLATE_PLURAL,
    TEMPLATE_SINGULAR,
    VERSION,
)
from asyncaction.api.openapi import to_openapi, without_defaults

HEADER = "# Generated from asyncaction.api.models by `make crds`. Do not edit.\n"
# The API server refuses anything but a type here (kubectl explain shows ObjectMeta's own).
METADATA = {"type": "object"}
API_VERSION_FIELD = {"type": "string", "description": "the versioned schema of this object"}
KIND_FIELD = {"type": "string", "description": "the REST resource this object represents"}
# `kubectl get asyncaction-all` lists every resource of the operator. A category must not
# equal a resource's singular, plural or short name: kubectl would expand such a name to
# every resource of the category ("you must specify only one resource").
CATEGORY = "asyncaction-all"


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return to_openapi(model.model_json_schema(by_alias=True, mode="validation"))


def _root(
    spec: type[BaseModel], status: type[BaseModel] | None, spec_required: bool, description: str
) -> dict[str, Any]:
    properties = {
        "apiVersion": API_VERSION_FIELD,
        "kind": KIND_FIELD,
        "metadata": METADATA,
        "spec": without_defaults(schema_of(spec), keep_top=True),
    }
    if status is not None:
        properties["status"] = without_defaults(schema_of(status))
    root: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": properties,
    }
    if spec_required:
        root["required"] = ["spec"]
    return root


def _crd(
    kind: str,
    plural: str,
    singular: str,
    schema: dict[str, Any],
    *,
    short_names: list[str] | None = None,
    columns: list[dict[str, Any]] | None = None,
    status: bool = True,
) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
    }
    if status:
        version["subresources"] = {"status": {}}
    if columns:
        version["additionalPrinterColumns"] = columns
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": singular,
        "categories": [CATEGORY],
    }
    if short_names:
        names["shortNames"] = short_names
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {"group": GROUP, "scope": "Namespaced", "names": names, "versions": [version]},
    }


ACTION_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Progress", "type": "integer", "jsonPath": ".status.progress"},
    # status.queue: the effective queue, also when spec.queue was left to its default.
    {"name": "Queue", "type": "string", "jsonPath": ".status.queue"},
    {"name": "Attempts", "type": "integer", "jsonPath": ".status.attempts"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Reason", "type": "string", "jsonPath": ".status.error.reason"},
    # priority 1: only with `-o wide`.
    {"name": "Job", "type": "string", "jsonPath": ".status.jobName", "priority": 1},
    {"name": "Started", "type": "date", "jsonPath": ".status.startedAt", "priority": 1},
    {"name": "Finished", "type": "date", "jsonPath": ".status.finishedAt", "priority": 1},
]


SCHEDULE_COLUMNS: list[dict[str, Any]] = [
    {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
    {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
    {"name": "Active", "type": "string", "jsonPath": ".status.active[*].name"},
    {"name": "Last", "type": "date", "jsonPath": ".status.lastScheduleTime"},
    # A string: kubectl shows a future "date" column as <invalid>.
    {"name": "Next", "type": "string", "jsonPath": ".status.nextScheduleTime"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Zone", "type": "string", "jsonPath": ".spec.timeZone", "priority": 1},
    {"name": "Policy", "type": "string", "jsonPath": ".spec.concurrencyPolicy", "priority": 1},
]


def build_crds() -> list[dict[str, Any]]:
    return [
        _crd(
            ACTION_KIND,
            ACTION_PLURAL,
            ACTION_SINGULAR,
            _root(
                models.AsyncActionSpec,
                models.AsyncActionStatus,
                True,
                "An async action: a Job run to completion, reporting progress and a result.",
            ),
            short_names=ACTION_SHORT_NAMES,
            columns=ACTION_COLUMNS,
        ),
        _crd(
            QUEUE_KIND,
            QUEUE_PLURAL,
            QUEUE_SINGULAR,
            _root(
                models.ActionQueueSpec,
                models.ActionQueueStatus,
                False,
                "A queue of AsyncActions: admission limits for the actions naming it.",
            ),
            columns=[
                {"name": "Max", "type": "integer", "jsonPath": ".spec.maxConcurrent"},
                {"name": "Active", "type": "integer", "jsonPath": ".status.active"},
                {"name": "Suspended", "type": "boolean", "jsonPath": ".spec.suspend"},
            ],
        ),
        _crd(
            TEMPLATE_KIND,
            TEMPLATE_PLURAL,
            TEMPLATE_SINGULAR,
            _root(
                models.ActionTemplateSpec,
                None,
                True,
                "A pod template and defaults that AsyncActions refer to by templateRef.",
            ),
            status=False,
        ),
        _crd(
            SCHEDULE_KIND,
            SCHEDULE_PLURAL,
            SCHEDULE_SINGULAR,
            _root(
                schedules.ActionScheduleSpec,
                schedules.ActionScheduleStatus,
                True,
                "Creates AsyncActions on a cron schedule, as a CronJob creates Jobs.",
            ),
            short_names=SCHEDULE_SHORT_NAMES,
            columns=SCHEDULE_COLUMNS,
        ),
    ]


def render(crd: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(crd, sort_keys=True, width=100)


def file_name(crd: dict[str, Any]) -> str:
    spec = crd["spec"]
    return f"{spec['group']}_{spec['names']['plural']}.yaml"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for crd in build_crds():
        path = directory / file_name(crd)
        path.write_text(render(crd))
        written.append(path)
    return written


def drift(directory: Path) -> list[str]:
    """Unified diffs of every file that differs from the models; empty when in sync."""
    diffs = []
    for crd in build_crds():
        path = directory / file_name(crd)
        current = path.read_text() if path.exists() else ""
        wanted = render(crd)
        if current != wanted:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        current.splitlines(True), wanted.splitlines(True), str(path), "generated"
                    )
                )
            )
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncaction.api.crds")
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("dirs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = False
    for directory in args.dirs:
        if args.command == "write":
            for path in write(directory):
                print(f"wrote {path}")
        else:
            for diff in drift(directory):
                failed = True
                sys.stdout.write(diff)
    if failed:
        print("CRDs drifted from the models: run `make crds`", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
