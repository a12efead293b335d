from typing import Any

import pytest

from asyncaction_hook.dataplane import (
    S3Ref,
    declared_input,
    recorded_output,
    task_input,
    upload_target,
)
from asyncaction_hook.errors import HookError

SPEC = {
    "arguments": [
        {"type": "input", "name": "text", "value": "s3://bkt/in/a.txt"},
        {"type": "parameter", "value": "5"},
        {"type": "output", "value": "s3://bkt/out/b.json"},
    ],
    "stdout": {"type": "uri", "value": "s3://bkt/logs/out"},
    "outputs": ["s3://bkt/results/"],
}


def target(prop: str, **kw: Any) -> tuple[str, bool]:
    ref, own = upload_target(
        SPEC,
        prop=prop,
        md5="0" * 32,
        metadata=kw.get("metadata", {}),
        store_bucket="bkt",
        store_prefix="p/",
        namespace="ns",
        uid="u1",
    )
    return ref.uri, own


def uri_of(ref: S3Ref | None) -> str | None:
    return ref.uri if ref is not None else None


def test_declared_objects() -> None:
    assert uri_of(declared_input(SPEC, "text")) == "s3://bkt/in/a.txt"
    assert uri_of(declared_input(SPEC, "arg0")) == "s3://bkt/in/a.txt"
    assert declared_input(SPEC, "arg2") is None  # an output is not downloadable as input
    assert target("arg2") == ("s3://bkt/out/b.json", False)
    assert target("stdout") == ("s3://bkt/logs/out", False)
    assert target("outputs", metadata={"path": "x/y.csv"}) == ("s3://bkt/results/x/y.csv", False)


def test_undeclared_properties_stay_under_the_actions_prefix() -> None:
    assert target("report") == (f"s3://bkt/p/actions/ns/u1/report/{'0' * 32}", True)


@pytest.mark.parametrize(
    ("prop", "metadata"),
    [
        ("outputs", {"path": "../../other/x"}),
        ("outputs", {"path": "/abs"}),
        ("stderr", {}),
        ("../x", {}),
    ],
)
def test_escapes_are_refused(prop: str, metadata: dict[str, Any]) -> None:
    with pytest.raises(HookError):
        target(prop, metadata=metadata)


def test_an_output_path_past_s3s_key_bound_is_a_422_before_any_s3_call() -> None:
    """S3 refuses keys over 1024 bytes with a 400: to the hook's HEAD on some servers
    (answered as 503 STORE_UNAVAILABLE, a retry that cannot succeed), else to the job's
    PUT of the presigned URL."""
    prefix = "results/"  # SPEC's outputs prefix, part of the key
    fits = "x" * (1024 - len(prefix))
    assert target("outputs", metadata={"path": fits}) == (f"s3://bkt/{prefix}{fits}", False)
    for path, size in (("x" * (1025 - len(prefix)), 1025), ("é" * 600, 1208)):
        with pytest.raises(HookError) as caught:
            target("outputs", metadata={"path": path})
        assert (caught.value.status, caught.value.reason, caught.value.message) == (
            422,
            "INVALID",
            f"metadata.path makes an S3 key of {size} bytes; S3 keys are at most 1024 "
            "bytes of UTF-8",
        )


def test_an_output_path_with_a_control_character_is_a_422() -> None:
    """S3 lists keys in XML, which cannot carry NUL or most other control characters:
    refused before a URL is handed out whose PUT fails or whose object cannot be listed."""
    for char in ("\x00", "\n", "\x1f", "\x7f"):
        with pytest.raises(HookError) as caught:
            target("outputs", metadata={"path": f"dir/a{char}b.txt"})
        assert (caught.value.status, caught.value.reason, caught.value.message) == (
            422,
            "INVALID",
            f"metadata.path holds the control character {char!r}: name outputs with "
            "printable characters",
        )
    # the printable neighbours, and non-ASCII text, pass
    for path in ("a b.txt", "a~b.txt", "é/ü.txt", "a\u00a0b"):
        assert target("outputs", metadata={"path": path}) == (f"s3://bkt/results/{path}", False)


def test_recorded_outputs_by_index() -> None:
    outputs = [
        {"name": "r", "uri": "s3://bkt/1"},
        {"name": "q", "uri": "s3://bkt/2"},
        {"name": "r", "uri": "s3://bkt/3"},
    ]
    assert recorded_output(outputs, "r", 1).uri == "s3://bkt/3"
    with pytest.raises(HookError) as caught:
        recorded_output(outputs, "r", 2)
    assert caught.value.status == 404


def test_task_inputs_by_task_id_and_index() -> None:
    spec = {
        "tasks": [
            {"name": "a", "inputs": ["s3://b/ns/in/a.txt", "s3://b/ns/in/a2.txt"]},
            {"name": "b"},
        ],
        "arguments": [{"type": "input", "name": "task-9", "value": "s3://b/ns/arg"}],
    }
    assert task_input(spec, "task-0", 1) == S3Ref("b", "ns/in/a2.txt")
    assert task_input(spec, "task-0", 0) == S3Ref("b", "ns/in/a.txt")
    for prop, index, message in (
        ("task-1", 0, "task 1 has 0 input(s)"),
        ("task-0", 2, "task 0 has 2 input(s)"),
        ("task-2", 0, "no task 2"),
        ("task-9", 0, "no task 9"),  # reserved in an action of tasks
    ):
        with pytest.raises(HookError) as refused:
            task_input(spec, prop, index)
        assert (refused.value.status, refused.value.message) == (404, message)
    # not a task's name: left to the other properties
    assert task_input(spec, "task-01", 0) is None
    assert task_input(spec, "tasks", 0) is None
    assert task_input({"arguments": spec["arguments"]}, "task-9", 0) is None


def test_a_task_input_that_is_not_an_s3_uri_is_refused() -> None:
    with pytest.raises(HookError) as refused:
        task_input({"tasks": [{"inputs": ["http://elsewhere/x"]}]}, "task-0", 0)
    assert refused.value.status == 422
