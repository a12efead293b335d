from typing import Any

import pytest

from asyncaction_hook.dataplane import declared_input, recorded_output, upload_target
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


def test_declared_objects() -> None:
    assert declared_input(SPEC, "text").uri == "s3://bkt/in/a.txt"  # type: ignore[union-attr]
    assert declared_input(SPEC, "arg0").uri == "s3://bkt/in/a.txt"  # type: ignore[union-attr]
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
