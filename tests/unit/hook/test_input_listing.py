"""The objects an action's input prefixes stage, as ``GET /download/.../inputs/N`` lists
them (found by a review: each case failed or lost data on the code before)."""

from __future__ import annotations

from typing import Any

import pytest

from asyncaction.stores import ObjectInfo, Store
from asyncaction_hook.callers import Caller
from asyncaction_hook.errors import HookError
from tests.support.hookserver import UID, build_hook
from tests.unit.hook.test_report_path import ACTION, OneActionApi


async def listing(keys: list[str], prefixes: list[str]) -> list[tuple[str, str]]:
    config = {"bucket": "b", "endpoint": "http://127.0.0.1:9", "accessKeyId": "x"}
    grants = {"ns": ["data/", "day1/", "day2/", "in/"]}
    store = Store("default", {**config, "secretAccessKey": "y", "grants": grants}, 300)

    async def listed(prefix: str) -> list[ObjectInfo]:
        found = [k for k in keys if k.startswith(prefix)]
        return [ObjectInfo(k, 0 if k.endswith("/") else 1, "m") for k in found]

    store.list = listed  # type: ignore[method-assign]
    api: Any = OneActionApi()
    hook = build_hook(api, store=store)
    caller = Caller(uid=UID, namespace="ns", attempt=1, version=2, body=b"")
    spec = {"inputs": [f"s3://b/{p}" for p in prefixes]}
    return await hook.input_listing(caller, store, ACTION, spec)


@pytest.mark.asyncio
async def test_folder_markers_are_no_files() -> None:
    """A zero-byte "folder" object (the S3 console, s3fs, Hadoop) failed every attempt:
    its name ("" or "2024/") was refused as leaving the work directory."""
    keys = ["data/", "data/2024/", "data/2024/a.csv"]
    assert await listing(keys, ["data/"]) == [("data/2024/a.csv", "2024/a.csv")]


@pytest.mark.asyncio
async def test_inputs_that_cannot_all_be_staged_as_named_are_refused_naming_both() -> None:
    with pytest.raises(HookError) as same:  # the second overwrote the first
        await listing(["day1/data.csv", "day2/data.csv"], ["day1/", "day2/"])
    assert (same.value.status, same.value.reason) == (409, "INPUT_CLASH")
    assert same.value.message == "inputs day1/data.csv and day2/data.csv would both be data.csv"
    with pytest.raises(HookError) as folder:  # a traceback, and no report
        await listing(["in/x", "in/x/y"], ["in/"])
    assert folder.value.message == "input in/x is a file where in/x/y needs the folder x"
