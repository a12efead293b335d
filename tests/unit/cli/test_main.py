import io
import json
from pathlib import Path

import pytest
import yaml

from asyncaction_cli.console import Output, print_actions
from asyncaction_cli.outcomes import (
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_SUCCEEDED,
    EXIT_TIMEOUT,
    EXIT_WAIT_TIMEOUT,
    exit_code_for,
)
from asyncaction_cli.parser import build_parser
from asyncaction_cli.reference import main as reference_main
from asyncaction_cli.reference import render
from asyncaction_client import WaitTimeout

ROOT = Path(__file__).resolve().parents[3]


def action(name: str, phase: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "status": {"phase": phase, "result": {"n": name}}}


def test_exit_code_is_the_first_outcome_that_did_not_succeed() -> None:
    assert exit_code_for([action("a", "SUCCEEDED")]) == EXIT_SUCCEEDED
    assert exit_code_for(
        [action("a", "SUCCEEDED"), action("b", "ABORTED"), action("c", "FAILED")]
    ) == (EXIT_ABORTED)
    assert exit_code_for([action("a", "TIMEOUT")]) == EXIT_TIMEOUT
    assert exit_code_for([action("a", "FAILED")]) == EXIT_FAILED
    assert len({EXIT_SUCCEEDED, EXIT_FAILED, EXIT_ABORTED, EXIT_TIMEOUT, 6}) == 5


def buffers() -> tuple[Output, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Output(out, err), out, err


@pytest.mark.parametrize("fmt", ["json", "name", "result", "yaml"])
def test_data_formats_write_nothing_but_data(fmt: str) -> None:
    output, out, err = buffers()
    print_actions(output, [action("a", "SUCCEEDED")], fmt)
    assert err.getvalue() == ""
    text = out.getvalue()
    if fmt == "json":
        assert json.loads(text)["metadata"]["name"] == "a"
    elif fmt == "name":
        assert text == "asyncaction.asyncaction.dev/a\n"
    elif fmt == "result":
        assert json.loads(text) == {"n": "a"}


def test_an_empty_table_is_a_message_not_data() -> None:
    output, out, err = buffers()
    print_actions(output, [], "table")
    assert (out.getvalue(), err.getvalue()) == ("", "No actions found.\n")


def test_kubectl_flags_on_every_cluster_command() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["list", "-A", "-l", "a=b", "--context", "c", "--kubeconfig", "k", "-o", "wide"]
    )
    assert (args.all_namespaces, args.selector, args.context, args.kubeconfig, args.output) == (
        True,
        "a=b",
        "c",
        "k",
        "wide",
    )
    assert parser.parse_args(["wait", "a", "b", "-n", "ns", "--timeout", "5m"]).names == ["a", "b"]
    with pytest.raises(SystemExit):
        parser.parse_args(["submit", "-f", "x", "--template", "t"])  # one source only


def test_the_committed_reference_matches_the_parser() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == render(), "run `make cli-docs`"


def test_check_reports_drift(tmp_path: Path) -> None:
    path = tmp_path / "cli.md"
    assert reference_main(["write", str(path)]) == 0
    assert reference_main(["check", str(path)]) == 0
    path.write_text(path.read_text().replace("Submit", "Send"))
    assert reference_main(["check", str(path)]) == 1


@pytest.mark.parametrize("count", [0, 1, 2])
def test_a_listing_is_always_a_list_in_json_and_yaml(count: int) -> None:
    actions = [action(f"a{i}", "SUCCEEDED") for i in range(count)]
    for fmt, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        output, out, _ = buffers()
        print_actions(output, actions, fmt, listing=True)
        document = load(out.getvalue())
        assert document == {"apiVersion": "v1", "kind": "List", "items": actions}


def test_one_action_asked_by_name_prints_bare_as_kubectl_does() -> None:
    for fmt, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        output, out, _ = buffers()
        print_actions(output, [action("a", "SUCCEEDED")], fmt)
        assert load(out.getvalue()) == action("a", "SUCCEEDED")
        output, out, _ = buffers()
        print_actions(output, [action("a", "SUCCEEDED"), action("b", "FAILED")], fmt)
        assert [i["metadata"]["name"] for i in load(out.getvalue())["items"]] == ["a", "b"]


def test_a_wait_that_ran_out_of_time_counts_in_its_place() -> None:
    late = WaitTimeout("b", 2.0, None)
    assert exit_code_for([action("a", "SUCCEEDED"), late]) == EXIT_WAIT_TIMEOUT
    assert exit_code_for([action("a", "FAILED"), late]) == EXIT_FAILED
    assert exit_code_for([late, action("a", "FAILED")]) == EXIT_WAIT_TIMEOUT
