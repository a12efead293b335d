from pathlib import Path

import pytest

from asyncaction_job.cli import main
from asyncaction_job.entrypoint import UnsafePath, inside, plan_run

ACTION = {
    "arguments": [
        {"type": "input", "name": "text", "value": "s3://b/in/a.txt"},
        {"type": "parameter", "value": "--top=5"},
        {"type": "output", "value": "s3://b/out/counts.json"},
    ],
    "stdin": {"type": "uri", "value": "s3://b/in/stdin"},
    "stdout": {"type": "pipe"},
    "stderr": {"type": "uri", "value": "s3://b/logs/err"},
    "outputs": ["s3://b/results/"],
}


def test_arguments_become_local_paths_in_order(tmp_path: Path) -> None:
    plan = plan_run(ACTION, ["wc", "-w"], tmp_path)
    assert plan.argv == [
        "wc",
        "-w",
        str(tmp_path / "input/text/a.txt"),
        "--top=5",
        str(tmp_path / "output/arg2/counts.json"),
    ]
    assert plan.downloads == [("text", tmp_path / "input/text/a.txt")]
    assert plan.uploads == [("arg2", tmp_path / "output/arg2/counts.json")]
    assert plan.stdin == tmp_path / "streams/stdin"
    assert plan.stdout is None
    assert plan.stderr == tmp_path / "streams/stderr"
    assert plan.outputs_dir == tmp_path / "outputs"
    assert plan.inputs_dir is None


def test_plain_action_runs_the_command_as_is(tmp_path: Path) -> None:
    plan = plan_run({"arguments": []}, ["true"], tmp_path)
    assert plan.argv == ["true"]
    assert (plan.downloads, plan.uploads) == ([], [])


def test_cli_usage_errors(capsys: object) -> None:
    assert main(["run", "--"]) == 2


def test_cli_without_job_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOB_ID", raising=False)
    assert main(["report", "--progress", "3"]) == 2


@pytest.mark.parametrize(
    "key", ["../escape.txt", "a/../../escape", "/etc/passwd", "a//b", "./a", "", "a\\..\\..\\b"]
)
def test_object_keys_leaving_the_work_directory_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(UnsafePath):
        inside(tmp_path, key)


def test_symlinks_out_of_the_work_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "link").symlink_to(tmp_path)
    assert inside(tmp_path / "work", "sub/dir/file.txt") == tmp_path / "work/sub/dir/file.txt"
    with pytest.raises(UnsafePath):
        inside(tmp_path / "work", "link/outside.txt")


def test_argument_names_cannot_leave_the_work_directory(tmp_path: Path) -> None:
    action = {"arguments": [{"type": "input", "name": "../../x", "value": "s3://b/k"}]}
    with pytest.raises(UnsafePath):
        plan_run(action, ["cat"], tmp_path)
