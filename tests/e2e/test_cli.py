"""The `asyncaction` CLI against the test bed: every command and every exit code.

The CLI runs as users run it, a separate process (``python -m asyncaction_cli``, and
``kubectl asyncaction`` for the plugin form) with ``KUBECONFIG`` pointing at the test
bed; actions run through the real operator, Job controller, node agent and job hook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from asyncaction.api.names import ACTION_PLURAL, GROUP, TEMPLATE_PLURAL, VERSION
from asyncaction.archive import archive_document, archive_key
from asyncaction_cli.outcomes import (
    EXIT_ABORTED,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_SUCCEEDED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    EXIT_WAIT_TIMEOUT,
)
from tests.support.kube import Kube, action_manifest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
BIN = Path(sys.executable).parent
SLEEPER = ["sh", "-c", "sleep 120"]


def run_cli(
    kubeconfig: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncaction_cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=240,
        env={**os.environ, "KUBECONFIG": str(kubeconfig), **(env or {})},
        check=False,
    )


def one_line(stderr: str) -> str:
    """Errors are one clear line (no traceback)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def manifest_file(tmp_path: Path, name: str, command: list[str], **spec: Any) -> Path:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AsyncAction",
        **action_manifest(name, command, **spec),
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def reporting_job(progress_steps: int = 3, pause: float = 0.2) -> list[str]:
    """A job that reports progress, details and log lines through the hook, then a result."""
    code = (
        "import time\n"
        "from asyncaction_job import client\n"
        "request = client.action()['request']\n"
        f"for step in range(1, {progress_steps} + 1):\n"
        f"    client.report(progress=step * 100 // {progress_steps + 1}, details={{'step': step}},"
        " logs=[f'step {step} done'])\n"
        f"    time.sleep({pause})\n"
        "client.succeed({'echo': request})\n"
    )
    return [sys.executable, "-c", code]


# -- submit and wait: exit codes from the outcome ------------------------------------------


@pytest.mark.usefixtures("hooked_operator")
def test_submit_wait_succeeds_with_the_result(
    admin_kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    path = manifest_file(tmp_path, "ok", reporting_job(), request={"who": "world"})
    got = run_cli(
        admin_kubeconfig, "submit", "-n", namespace, "-f", str(path), "--wait", "-o", "json"
    )
    assert got.returncode == EXIT_SUCCEEDED, got.stderr
    action = json.loads(got.stdout)  # stdout is data only: one JSON document
    assert action["status"]["phase"] == "SUCCEEDED"
    assert action["status"]["result"] == {"echo": {"who": "world"}}
    assert "ok SUCCEEDED" in got.stderr
    assert "\x1b" not in got.stderr  # no progress bar when not at a terminal

    result = run_cli(admin_kubeconfig, "get", "-n", namespace, "ok", "-o", "result")
    assert json.loads(result.stdout) == {"echo": {"who": "world"}}


@pytest.mark.usefixtures("operator")
def test_submit_wait_of_a_failing_action_exits_3(
    admin_kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    path = manifest_file(tmp_path, "bad", ["sh", "-c", "exit 7"])
    got = run_cli(admin_kubeconfig, "submit", "-n", namespace, "-f", str(path), "--wait")
    assert got.returncode == EXIT_FAILED, got.stderr
    assert "bad FAILED: BackoffLimitExceeded" in got.stderr
    assert got.stdout.splitlines()[1].split()[:2] == ["bad", "FAILED"]
    again = run_cli(admin_kubeconfig, "wait", "-n", namespace, "bad", "-o", "name")
    assert again.returncode == EXIT_FAILED
    assert again.stdout == "asyncaction.asyncaction.dev/bad\n"


@pytest.mark.usefixtures("operator")
def test_abort_while_waiting_exits_4(kube: Kube, admin_kubeconfig: Path, namespace: str) -> None:
    kube.create_action(namespace, action_manifest("long", SLEEPER))
    kube.wait_phase(namespace, "long", "RUNNING")
    env = {**os.environ, "KUBECONFIG": str(admin_kubeconfig)}
    waiter = subprocess.Popen(
        [sys.executable, "-m", "asyncaction_cli", "wait", "-n", namespace, "long"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        aborted = run_cli(admin_kubeconfig, "abort", "-n", namespace, "long")
        assert aborted.returncode == EXIT_SUCCEEDED, aborted.stderr
        assert aborted.stdout == "asyncaction.asyncaction.dev/long\n"
        _, err = waiter.communicate(timeout=120)
    finally:
        waiter.kill()
    assert waiter.returncode == EXIT_ABORTED, err
    assert "long ABORTED: Aborted" in err


@pytest.mark.usefixtures("operator")
def test_an_action_past_its_deadline_exits_5(
    admin_kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    path = manifest_file(tmp_path, "slow", SLEEPER, activeDeadlineSeconds=1)
    got = run_cli(admin_kubeconfig, "submit", "-n", namespace, "-f", str(path), "--wait")
    assert got.returncode == EXIT_TIMEOUT, got.stderr
    assert "slow TIMEOUT: DeadlineExceeded" in got.stderr


@pytest.mark.usefixtures("operator")
def test_the_waits_own_timeout_exits_6(kube: Kube, admin_kubeconfig: Path, namespace: str) -> None:
    kube.create_action(namespace, action_manifest("forever", SLEEPER))
    got = run_cli(admin_kubeconfig, "wait", "-n", namespace, "forever", "--timeout", "2s")
    assert got.returncode == EXIT_WAIT_TIMEOUT, got.stderr
    assert "timed out after 2s waiting for forever" in one_line(got.stderr)
    assert got.stdout == ""
    assert run_cli(admin_kubeconfig, "abort", "-n", namespace, "forever").returncode == 0


# -- submit from a template; rerun --------------------------------------------------------


@pytest.mark.usefixtures("operator")
def test_submit_a_template_with_request_queue_priority_and_generated_name(
    kube: Kube, admin_kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    template = {"spec": {"containers": [{"name": "main", "image": "x", "command": ["true"]}]}}
    kube.create_object(namespace, TEMPLATE_PLURAL, "ActionTemplate", "noop", {"template": template})
    request = tmp_path / "request.json"
    request.write_text('{"n": 3}')
    got = run_cli(
        admin_kubeconfig,
        "submit",
        "-n",
        namespace,
        "--template",
        "noop",
        "--request",
        f"@{request}",
        "--queue",
        "batch",
        "--priority",
        "5",
        "--generate-name",
        "job-",
        "--label",
        "team=a",
    )
    assert got.returncode == 0, got.stderr
    created = got.stdout.strip()
    assert created.startswith("asyncaction.asyncaction.dev/job-")
    name = created.split("/")[1]
    action = kube.get_action(namespace, name)
    assert action["spec"]["templateRef"] == "noop"
    assert action["spec"]["request"] == {"n": 3}
    assert (action["spec"]["queue"], action["spec"]["priority"]) == ("batch", 5)
    assert action["metadata"]["labels"] == {"team": "a"}
    done = run_cli(admin_kubeconfig, "wait", "-n", namespace, name, "-o", "wide")
    assert done.returncode == 0, done.stderr
    assert "batch" in done.stdout.splitlines()[1].split()  # the effective queue column

    rerun = run_cli(admin_kubeconfig, "rerun", "-n", namespace, name, "--wait", "-o", "json")
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads(rerun.stdout)
    assert again["metadata"]["name"] != name
    assert again["metadata"]["name"].startswith("job-")
    assert again["spec"]["request"] == {"n": 3}
    assert again["status"]["phase"] == "SUCCEEDED"


@pytest.mark.usefixtures("crds")
def test_bad_input_is_one_line_and_exit_2(
    admin_kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    got = run_cli(
        admin_kubeconfig, "submit", "-n", namespace, "--template", "x", "--request", "[1]"
    )
    assert got.returncode == EXIT_USAGE
    assert "--request must be a JSON object" in one_line(got.stderr)
    nameless = run_cli(admin_kubeconfig, "submit", "-n", namespace, "--template", "x")
    assert nameless.returncode == EXIT_USAGE
    assert "needs a name" in one_line(nameless.stderr)
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(yaml.safe_dump({"metadata": {"name": "x", "namespace": "other"}}))
    mismatch = run_cli(admin_kubeconfig, "submit", "-n", namespace, "-f", str(elsewhere))
    assert mismatch.returncode == EXIT_USAGE
    assert 'from the file ("other") does not match -n' in one_line(mismatch.stderr)
    phase = run_cli(admin_kubeconfig, "list", "-n", namespace, "--phase", "DONE")
    assert phase.returncode == EXIT_USAGE
    assert "unknown phase" in one_line(phase.stderr)
    flags = run_cli(admin_kubeconfig, "wait")
    assert flags.returncode == EXIT_USAGE  # argparse's own usage error


@pytest.mark.usefixtures("crds")
def test_errors_are_one_line_and_exit_1(admin_kubeconfig: Path, namespace: str) -> None:
    for args in (["get", "nope"], ["describe", "nope"], ["wait", "nope"], ["abort", "nope"]):
        got = run_cli(
            admin_kubeconfig,
            *args,
            "-n",
            namespace,
            "-o" if args[0] == "get" else "-v",
            *(["json"] if args[0] == "get" else []),
        )
        assert got.returncode == EXIT_ERROR, (args, got.stderr)
        assert got.stdout == ""
        assert f'"nope" not found in namespace "{namespace}"' in got.stderr.splitlines()[-1]
    unreachable = tmp_kubeconfig_to_nowhere(admin_kubeconfig)
    down = run_cli(unreachable, "list", "-n", namespace)
    assert down.returncode == EXIT_ERROR
    one_line(down.stderr)


def tmp_kubeconfig_to_nowhere(kubeconfig: Path) -> Path:
    doc = yaml.safe_load(kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    path = kubeconfig.parent / "nowhere.kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


# -- list, get, describe, watch -------------------------------------------------------------


def set_status(kube: Kube, namespace: str, name: str, status: dict[str, Any]) -> None:
    kube.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, ACTION_PLURAL, name, {"status": status}
    )


@pytest.mark.usefixtures("crds")
def test_list_filters(kube: Kube, admin_kubeconfig: Path, namespace: str) -> None:
    """Phases, queues and labels as the operator would have written them (no operator runs
    in this namespace, so nothing changes them under the test)."""
    for name, phase, queue, team in (
        ("a1", "SUCCEEDED", "default", "red"),
        ("a2", "FAILED", "batch", "red"),
        ("a3", "QUEUED", "batch", "blue"),
    ):
        body = action_manifest(name, ["true"], **({"queue": queue} if queue != "default" else {}))
        body["metadata"]["labels"] = {"team": team}
        kube.create_action(namespace, body)
        set_status(kube, namespace, name, {"phase": phase, "queue": queue})

    def names(*args: str) -> list[str]:
        got = run_cli(admin_kubeconfig, "list", "-n", namespace, "-o", "name", *args)
        assert got.returncode == 0, got.stderr
        return sorted(line.split("/")[1] for line in got.stdout.split())

    assert names() == ["a1", "a2", "a3"]
    assert names("--phase", "FAILED,QUEUED") == ["a2", "a3"]
    assert names("--phase", "succeeded") == ["a1"]
    assert names("--queue", "batch") == ["a2", "a3"]
    assert names("--queue", "default") == ["a1"]
    assert names("-l", "team=red") == ["a1", "a2"]
    assert names("-l", "team=red", "--phase", "FAILED") == ["a2"]
    assert names("--since", "1h") == ["a1", "a2", "a3"]
    assert names("--older-than", "1h") == []
    everywhere = run_cli(admin_kubeconfig, "list", "-A", "-l", "team=blue")
    header, *rows = everywhere.stdout.splitlines()
    assert header.split()[:2] == ["NAMESPACE", "NAME"]
    assert [namespace, "a3", "QUEUED"] in [r.split()[:3] for r in rows]
    nothing = run_cli(admin_kubeconfig, "list", "-n", namespace, "-l", "team=green")
    assert (nothing.stdout, nothing.stderr) == ("", "No actions found.\n")
    as_json = run_cli(admin_kubeconfig, "list", "-n", namespace, "-o", "json")
    assert [i["metadata"]["name"] for i in json.loads(as_json.stdout)["items"]] == [
        "a1",
        "a2",
        "a3",
    ]


@pytest.mark.usefixtures("crds")
def test_list_prints_a_list_whatever_matched(
    kube: Kube, admin_kubeconfig: Path, namespace: str
) -> None:
    """Scripts run ``jq '.items[]'`` on ``list -o json``: one match is still a List."""
    kube.create_action(namespace, action_manifest("only", ["true"]))
    for fmt, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        for selector in ("", "nobody=here"):
            got = run_cli(admin_kubeconfig, "list", "-n", namespace, "-o", fmt, "-l", selector)
            assert got.returncode == EXIT_SUCCEEDED, got.stderr
            document = load(got.stdout)
            assert (document["apiVersion"], document["kind"]) == ("v1", "List"), got.stdout
            names = [item["metadata"]["name"] for item in document["items"]]
            assert names == ([] if selector else ["only"])


@pytest.mark.usefixtures("crds")
def test_wait_reports_each_outcome_reached_before_its_deadline(
    kube: Kube, admin_kubeconfig: Path, namespace: str
) -> None:
    """``wait slow done --timeout 2s``: waiting for ``slow`` uses up the time, yet ``done``
    had SUCCEEDED all along and is reported; the exit code is the wait's timeout (no
    operator runs here: the phases are set as the operator would have)."""
    for name, phase in (("slow", "RUNNING"), ("done", "SUCCEEDED")):
        kube.create_action(namespace, action_manifest(name, ["true"]))
        set_status(kube, namespace, name, {"phase": phase, "result": {"who": name}})
    got = run_cli(
        admin_kubeconfig, "wait", "-n", namespace, "slow", "done", "--timeout", "2s", "-o", "json"
    )
    assert got.returncode == EXIT_WAIT_TIMEOUT, got.stderr
    assert got.stderr.splitlines() == [
        "error: timed out after 2s waiting for slow (RUNNING)",
        "done SUCCEEDED",
    ]
    assert json.loads(got.stdout)["status"]["result"] == {"who": "done"}


@pytest.mark.usefixtures("hooked_operator")
def test_get_describe_watch_and_logs(kube: Kube, admin_kubeconfig: Path, namespace: str) -> None:
    watcher = subprocess.Popen(
        [sys.executable, "-m", "asyncaction_cli", "watch", "-v", "-n", namespace, "rep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "KUBECONFIG": str(admin_kubeconfig)},
    )
    try:
        assert watcher.stderr is not None
        assert "watching" in watcher.stderr.readline()  # listening before the action exists
        kube.create_action(namespace, action_manifest("rep", reporting_job(), request={"x": 1}))
        out, err = watcher.communicate(timeout=180)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "PHASE", "PROGRESS"]
    assert lines[-1].split()[:2] == ["rep", "SUCCEEDED"]  # ends once the named action finished
    phases = [line.split()[1] for line in lines[1:]]
    assert {"<none>", "RUNNING", "SUCCEEDED"} <= set(phases)  # a line per change

    got = run_cli(admin_kubeconfig, "get", "-n", namespace, "rep", "-o", "yaml")
    assert yaml.safe_load(got.stdout)["status"]["phase"] == "SUCCEEDED"

    described = run_cli(admin_kubeconfig, "describe", "-n", namespace, "rep")
    assert described.returncode == 0, described.stderr
    text = described.stdout
    for expected in (
        "Phase:        SUCCEEDED",
        'Request:      {"x": 1}',
        "Result:",
        "Conditions:",
        "Attempt history:",
        "Last log lines:",
        "step 3 done",
        "Events:",
        "Started",
    ):
        assert expected in text, text

    logs = run_cli(admin_kubeconfig, "logs", "-n", namespace, "rep")
    # The node agent serves no kubelet log endpoint: the CLI says so and shows what the
    # job reported instead (on a real node, the pod's log itself).
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.splitlines() == ["step 1 done", "step 2 done", "step 3 done"]
    assert "warning: pod log unavailable" in logs.stderr
    tail = run_cli(admin_kubeconfig, "logs", "-n", namespace, "rep", "--tail", "1")
    assert tail.stdout == "step 3 done\n"
    missing = run_cli(admin_kubeconfig, "logs", "-n", namespace, "rep", "--attempt", "2")
    assert missing.returncode == EXIT_ERROR
    assert "rep has no attempt 2" in one_line(missing.stderr)


@pytest.mark.usefixtures("hooked_operator")
def test_logs_follow_until_the_attempt_ends(
    kube: Kube, admin_kubeconfig: Path, namespace: str
) -> None:
    kube.create_action(namespace, action_manifest("chatty", reporting_job(pause=1.0)))
    kube.wait_phase(namespace, "chatty", {"RUNNING", "SUCCEEDED"})
    followed = run_cli(admin_kubeconfig, "logs", "-f", "-n", namespace, "chatty")
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.splitlines() == ["step 1 done", "step 2 done", "step 3 done"]
    assert kube.get_action(namespace, "chatty")["status"]["phase"] == "SUCCEEDED"


@pytest.mark.usefixtures("operator")
def test_pause_and_resume(kube: Kube, admin_kubeconfig: Path, namespace: str) -> None:
    kube.create_action(namespace, action_manifest("nap", SLEEPER))
    kube.wait_phase(namespace, "nap", "RUNNING")
    paused = run_cli(admin_kubeconfig, "pause", "-n", namespace, "nap")
    assert paused.returncode == 0, paused.stderr
    assert "asyncaction.asyncaction.dev/nap paused" in paused.stderr
    kube.wait_phase(namespace, "nap", "PAUSED")
    resumed = run_cli(admin_kubeconfig, "resume", "-n", namespace, "nap", "-o", "json")
    assert json.loads(resumed.stdout)["spec"]["suspend"] is False
    running = kube.wait_phase(namespace, "nap", "RUNNING")
    assert running["status"]["attempts"] == 2  # resumed as a new attempt
    run_cli(admin_kubeconfig, "abort", "-n", namespace, "nap")
    kube.wait_phase(namespace, "nap", "ABORTED")


# -- outputs and the archive, with the user's own S3 credentials -------------------------


def aws_env(s3: Any) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_S3": s3.endpoint,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_DEFAULT_REGION": s3.region,
    }


@pytest.mark.usefixtures("crds")
def test_outputs_list_and_download(
    kube: Kube, admin_kubeconfig: Path, namespace: str, s3: Any, tmp_path: Path
) -> None:
    import hashlib

    body = b"word,count\na,2\n"
    key = f"{namespace}/out/counts.csv"
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=body)
    kube.create_action(namespace, action_manifest("made", ["true"]))
    record = {
        "name": "counts",
        "uri": f"s3://{s3.bucket}/{key}",
        "size": len(body),
        "md5": hashlib.md5(body).hexdigest(),
    }
    set_status(kube, namespace, "made", {"phase": "SUCCEEDED", "outputs": [record]})

    listed = run_cli(admin_kubeconfig, "outputs", "-n", namespace, "made")
    assert listed.stdout.splitlines()[1].split() == [
        "counts",
        record["uri"],
        str(len(body)),
        record["md5"],
    ]
    dest = tmp_path / "dl"
    got = run_cli(
        admin_kubeconfig,
        "outputs",
        "-n",
        namespace,
        "made",
        "--download",
        str(dest),
        env=aws_env(s3),
    )
    assert got.returncode == 0, got.stderr
    assert (dest / key).read_bytes() == body
    assert got.stdout == f"{(dest / key).resolve()}\n"

    escaping = {**record, "uri": f"s3://{s3.bucket}/../../escaped.csv"}
    set_status(kube, namespace, "made", {"outputs": [record, escaping]})
    refused = run_cli(
        admin_kubeconfig,
        "outputs",
        "-n",
        namespace,
        "made",
        "--download",
        str(tmp_path / "x"),
        env=aws_env(s3),
    )
    assert refused.returncode == EXIT_ERROR
    assert "would escape" in one_line(refused.stderr)
    assert not (tmp_path / "x").exists()  # checked before anything is written
    assert not (tmp_path / "escaped.csv").exists()


@pytest.mark.usefixtures("crds")
def test_archive_list_and_get(kube: Kube, admin_kubeconfig: Path, namespace: str, s3: Any) -> None:
    """Records laid out as the operator's TTL writes them (asyncaction.archive; the
    operator side is tests/e2e/test_archive.py)."""
    created = kube.create_action(namespace, action_manifest("old", ["true"], request={"k": "v"}))
    set_status(kube, namespace, "old", {"phase": "SUCCEEDED", "result": {"r": 1}})
    action = kube.get_action(namespace, "old")
    prefix = "cli-test/"
    s3.client().put_object(
        Bucket=s3.bucket, Key=archive_key(prefix, action), Body=archive_document(action)
    )
    env = {**aws_env(s3), "ASYNCACTION_ARCHIVE": f"s3://{s3.bucket}/{prefix}"}
    listed = run_cli(admin_kubeconfig, "archive", "list", "-n", namespace, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:3] == [
        namespace,
        "old",
        created["metadata"]["uid"],
    ]
    day = archive_key(prefix, action).split("/")[-2]
    assert listed.stdout.splitlines()[1].split()[3] == day
    same_day = run_cli(admin_kubeconfig, "archive", "list", "-n", namespace, "--day", day, env=env)
    rows = [line.split()[:4] for line in listed.stdout.splitlines()]  # not the ARCHIVED age
    assert [line.split()[:4] for line in same_day.stdout.splitlines()] == rows
    other = run_cli(
        admin_kubeconfig, "archive", "list", "-n", namespace, "--day", "1999-01-01", env=env
    )
    assert (other.returncode, other.stdout) == (0, ""), other.stderr
    assert "No archived records of 1999-01-01" in other.stderr
    wrong = run_cli(admin_kubeconfig, "archive", "list", "-n", namespace, "--day", "today", env=env)
    assert wrong.returncode != 0
    assert "expected a UTC date as YYYY-MM-DD" in wrong.stderr
    for extra in ((), ("--day", day)):
        got = run_cli(
            admin_kubeconfig,
            "archive",
            "get",
            "-n",
            namespace,
            "old",
            "-o",
            "json",
            *extra,
            env=env,
        )
        record = json.loads(got.stdout)
        assert record["spec"]["request"] == {"k": "v"}
        assert record["status"]["result"] == {"r": 1}
    missing = run_cli(admin_kubeconfig, "archive", "get", "-n", namespace, "new", env=env)
    assert missing.returncode == EXIT_ERROR
    assert 'no archived record of "new"' in one_line(missing.stderr)


# -- the kubectl plugin form ---------------------------------------------------------------


@pytest.mark.usefixtures("crds")
def test_kubectl_plugin_form(kube: Kube, admin_kubeconfig: Path, namespace: str) -> None:
    assert (BIN / "kubectl-asyncaction").exists(), "make install puts the plugin in the venv"
    kube.create_action(namespace, action_manifest("plug", ["true"]))
    set_status(kube, namespace, "plug", {"phase": "SUCCEEDED", "queue": "default"})
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("KUBECONFIG", None)
    kubeconfig = str(admin_kubeconfig)
    got = subprocess.run(
        ["kubectl", "asyncaction", "get", "plug", "-n", namespace, "--kubeconfig", kubeconfig],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines()[1].split()[:2] == ["plug", "SUCCEEDED"]
    waited = subprocess.run(
        ["kubectl", "asyncaction", "wait", "plug", "-n", namespace, "--kubeconfig", kubeconfig],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert waited.returncode == 0, waited.stderr
