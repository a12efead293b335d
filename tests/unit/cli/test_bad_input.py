"""The CLI on a bad day, without a cluster: every mistake in the setup or the command line
ends in one line naming what is wrong (the setting, file, flag or field) and a non-zero
exit code, never a traceback, a bare library message or a request sent anyway."""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from asyncaction_cli.console import Output
from asyncaction_cli.main import run
from asyncaction_cli.outcomes import EXIT_ERROR, EXIT_USAGE


def closed_loopback_url() -> str:
    """An https URL on a loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}"


def kubeconfig(
    server: str, *, current: str = "ctx", cluster: str = "c", user: str = "u"
) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": cluster, "user": user}}],
        "current-context": current,
    }


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A HOME with no ~/.kube, no KUBECONFIG, not in a pod; the working directory is tmp."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def use_kubeconfig(
    home: Path, monkeypatch: pytest.MonkeyPatch, content: str | dict[str, object]
) -> Path:
    """``content`` (text as is, a mapping as YAML) as the file KUBECONFIG names."""
    path = home / "config"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


def cli(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = run(list(argv), Output(out, err))
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def test_no_kubeconfig_at_all_says_so_not_in_cluster_jargon(no_cluster: Path) -> None:
    code, out, err = cli("get", "a")
    assert (code, out, one_error_line(err)) == (
        EXIT_ERROR,
        "",
        "error: no kubeconfig: KUBECONFIG is not set and ~/.kube/config does not exist "
        "(give --kubeconfig FILE)",
    )


@pytest.mark.parametrize("how", ["env", "flag"])
def test_a_missing_kubeconfig_file_is_named_with_its_setting(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    missing = str(no_cluster / "nope.yaml")
    if how == "env":
        monkeypatch.setenv("KUBECONFIG", missing)
        code, _, err = cli("list")
    else:
        code, _, err = cli("list", "--kubeconfig", missing)
    setting = "KUBECONFIG" if how == "env" else "--kubeconfig"
    assert (code, one_error_line(err)) == (
        EXIT_ERROR,
        f"error: kubeconfig {missing} ({setting}): no such file",
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "is empty"),
        (
            "apiVersion: v1\nclusters: [\n  - bad: : :\n",
            "is not valid YAML: expected the node content, but found '-' (line 3, column 3)",
        ),
        (
            "- a\n- b\n",
            "is not a kubeconfig: it holds a YAML list, "
            "not a mapping with clusters, users and contexts",
        ),
        (
            "just a string\n",
            "is not a kubeconfig: it holds a YAML str, "
            "not a mapping with clusters, users and contexts",
        ),
    ],
)
def test_an_unusable_kubeconfig_file_is_named_with_what_is_wrong(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch, content: str, says: str
) -> None:
    path = use_kubeconfig(no_cluster, monkeypatch, content)
    code, _, err = cli("get", "a")
    assert (code, one_error_line(err)) == (
        EXIT_ERROR,
        f"error: kubeconfig {path} (KUBECONFIG) {says}",
    )


def test_a_kubeconfig_that_is_a_directory_is_named(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(no_cluster))
    code, _, err = cli("get", "a")
    assert (code, one_error_line(err)) == (
        EXIT_ERROR,
        f"error: kubeconfig {no_cluster} (KUBECONFIG) is a directory, not a file",
    )


@pytest.mark.parametrize(
    ("changes", "argv", "says"),
    [
        (
            {"current": "gone"},
            [],
            'context "gone" (current-context) is not in kubeconfig {path} (KUBECONFIG); it has ctx',
        ),
        (
            {},
            ["--context", "other"],
            'context "other" (--context) is not in kubeconfig {path} (KUBECONFIG); it has ctx',
        ),
        (
            {"cluster": "nocluster"},
            [],
            'context "ctx" names cluster "nocluster", '
            "which is not in kubeconfig {path} (KUBECONFIG)",
        ),
        (
            {"user": "nouser"},
            [],
            'context "ctx" names user "nouser", which is not in kubeconfig {path} (KUBECONFIG)',
        ),
        (
            {"current": ""},
            [],
            "kubeconfig {path} (KUBECONFIG) has no current-context: "
            "give --context NAME (one of ctx)",
        ),
    ],
)
def test_a_context_cluster_or_user_the_kubeconfig_lacks_is_named(
    no_cluster: Path,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, str],
    argv: list[str],
    says: str,
) -> None:
    path = use_kubeconfig(no_cluster, monkeypatch, kubeconfig(closed_loopback_url(), **changes))
    code, _, err = cli("get", "a", *argv)
    assert (code, one_error_line(err)) == (EXIT_ERROR, "error: " + says.format(path=path))


@pytest.mark.parametrize(
    ("server", "user", "says"),
    [
        (None, {"token": "t"}, 'cluster "c" has no server'),
        ("not-a-url", {"token": "t"}, 'cluster "c" server "not-a-url" is not an https:// URL'),
        (
            "https://127.0.0.1:abc",
            {"token": "t"},
            'cluster "c" server "https://127.0.0.1:abc" is not a URL '
            "(Port could not be cast to integer value as 'abc')",
        ),
        (
            "https://127.0.0.1:9",
            {"exec": {"apiVersion": "v1beta1", "command": "no-such-credential-plugin"}},
            'user "u" runs credential plugin "no-such-credential-plugin", which is not found',
        ),
    ],
)
def test_a_server_or_credential_plugin_that_cannot_work_is_named_before_any_request(
    no_cluster: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: str | None,
    user: dict[str, object],
    says: str,
) -> None:
    config = kubeconfig(server or "")
    config["clusters"] = [{"name": "c", "cluster": {"server": server} if server else {}}]
    config["users"] = [{"name": "u", "user": user}]
    path = use_kubeconfig(no_cluster, monkeypatch, config)
    code, _, err = cli("get", "a")
    assert (code, one_error_line(err)) == (
        EXIT_ERROR,
        f'error: {says}, in kubeconfig {path} (KUBECONFIG) for context "ctx"',
    )


def test_an_unreachable_api_server_is_one_short_line_naming_it(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = closed_loopback_url()
    use_kubeconfig(no_cluster, monkeypatch, kubeconfig(server))
    code, _, err = cli("get", "a")
    line = one_error_line(err)
    assert code == EXIT_ERROR
    assert line == f"error: cannot reach the API server {server}: Connection refused"


def test_a_context_without_a_user_is_used_anonymously_as_kubectl_does(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = closed_loopback_url()
    config = kubeconfig(server)
    del config["contexts"][0]["context"]["user"]  # type: ignore[index]
    config["users"] = []
    use_kubeconfig(no_cluster, monkeypatch, config)
    code, _, err = cli("get", "a")
    assert code == EXIT_ERROR
    # past the kubeconfig check: the request went to the server
    assert one_error_line(err) == f"error: cannot reach the API server {server}: Connection refused"


@pytest.fixture
def refused(no_cluster: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A valid kubeconfig whose server refuses: any request sent shows as 'cannot reach'."""
    path = use_kubeconfig(no_cluster, monkeypatch, kubeconfig(closed_loopback_url()))
    return str(path)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["submit", "--template", "t", "--name", "a", "--wait", "--timeout", "5x"],
            "not a duration: '5x' (use e.g. 30s, 5m, 1h30m, 2d)",
        ),
        (
            ["submit", "--template", "t", "--name", "a", "--wait", "--timeout=-5m"],
            "not a duration: '-5m' (use e.g. 30s, 5m, 1h30m, 2d)",
        ),
        (
            ["rerun", "a", "--wait", "--timeout", "soon"],
            "not a duration: 'soon' (use e.g. 30s, 5m, 1h30m, 2d)",
        ),
    ],
)
def test_a_bad_wait_timeout_is_refused_before_anything_is_submitted(
    refused: str, argv: list[str], says: str
) -> None:
    code, _, err = cli(*argv)
    # refused by the CLI itself: not 'cannot reach the API server', so nothing was sent
    assert (code, one_error_line(err)) == (EXIT_USAGE, f"error: --timeout: {says}")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--since", "5x"], "--since: not a duration: '5x' (use e.g. 30s, 5m, 1h30m, 2d)"),
        (["--since=-1h"], "--since: not a duration: '-1h' (use e.g. 30s, 5m, 1h30m, 2d)"),
        (
            ["--older-than", "abc"],
            "--older-than: not a duration: 'abc' (use e.g. 30s, 5m, 1h30m, 2d)",
        ),
        (["--since", ""], "--since: empty duration"),
        (["--since", "99999999999d"], "--since: duration too long: '99999999999d'"),
    ],
)
def test_list_names_a_bad_duration_flag_as_a_usage_error(
    refused: str, argv: list[str], says: str
) -> None:
    code, _, err = cli("list", *argv)
    assert (code, one_error_line(err)) == (EXIT_USAGE, f"error: {says}")


@pytest.mark.parametrize(
    ("argv", "stdin", "says"),
    [
        (["-f", "-"], "", "error: stdin holds no manifest (it is empty)"),
        (["-f", "empty.yaml"], "", "error: empty.yaml holds no manifest (it is empty)"),
        (["-f", "missing.yaml"], "", "error: cannot read missing.yaml: No such file or directory"),
        (["-f", "."], "", "error: cannot read .: Is a directory"),
        (["-f", "binary.yaml"], "", "error: cannot read binary.yaml: not UTF-8 text"),
        (
            ["-f", "bad.yaml"],
            "",
            "error: bad.yaml is not valid YAML: expected the node content, but found "
            "'<stream end>' (line 2, column 1)",
        ),
        (
            ["-f", "two.yaml"],
            "",
            "error: two.yaml is not valid YAML: expected a single document in the stream, "
            "but found another document (line 3, column 1)",
        ),
        (
            ["--template", "t", "--request", "{a"],
            "",
            "error: --request is not valid YAML: expected ',' or '}', but got '<stream end>' "
            "(line 1, column 3)",
        ),
        (
            ["--template", "t", "--request", "@missing.json"],
            "",
            "error: cannot read missing.json: No such file or directory",
        ),
        (["-f", "list.yaml"], "", "error: list.yaml does not hold one AsyncAction manifest"),
        (["-f", "meta.yaml"], "", "error: metadata must be a mapping, got int"),
        (["-f", "spec.yaml"], "", "error: spec must be a mapping, got list"),
        (
            ["-f", "labels.yaml", "--label", "a=b"],
            "",
            "error: metadata.labels must be a mapping, got list",
        ),
        (
            ["-f", "version.yaml"],
            "",
            "error: expected apiVersion asyncaction.dev/v1alpha1, got v9",
        ),
    ],
)
def test_submit_names_what_is_wrong_with_its_input(
    refused: str, argv: list[str], stdin: str, says: str
) -> None:
    Path("empty.yaml").write_text("")
    Path("binary.yaml").write_bytes(b"\xff\xfe kind")
    Path("bad.yaml").write_text("a: [\n")
    Path("two.yaml").write_text("---\na: 1\n---\nb: 2\n")
    Path("list.yaml").write_text("[]\n")
    Path("meta.yaml").write_text("kind: AsyncAction\nmetadata: 5\n")
    Path("spec.yaml").write_text("kind: AsyncAction\nmetadata: {name: a}\nspec: [1]\n")
    Path("labels.yaml").write_text(
        "kind: AsyncAction\nmetadata: {name: a, labels: [x]}\nspec: {templateRef: t}\n"
    )
    Path("version.yaml").write_text(
        "apiVersion: v9\nkind: AsyncAction\nmetadata: {name: a}\nspec: {templateRef: t}\n"
    )
    code, out, err = cli("submit", *argv, stdin=stdin)
    assert (code, out, one_error_line(err)) == (EXIT_USAGE, "", says)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--tail=-5"], "argument --tail: must be 0 or more, got -5"),
        (["--attempt", "0"], "argument --attempt: must be 1 or more, got 0"),
        (["--attempt=-1"], "argument --attempt: must be 1 or more, got -1"),
        (["--tail", "ten"], "argument --tail: not a whole number: 'ten'"),
    ],
)
def test_logs_refuses_counts_out_of_range_before_asking_the_cluster(
    refused: str, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("logs", "a", *argv)
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err == f"error: {says} (see 'asyncaction logs --help')\n"


@pytest.mark.parametrize(
    ("argv", "prog", "extra"),
    [
        (["describe", "a", "b"], "asyncaction describe", "b"),
        (["get", "a", "--bogus"], "asyncaction get", "--bogus"),
        (["archive", "get", "a", "b"], "asyncaction archive get", "b"),
    ],
)
def test_extra_arguments_are_reported_with_the_usage_of_the_command_given(
    refused: str, capsys: pytest.CaptureFixture[str], argv: list[str], prog: str, extra: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(*argv)
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"error: unrecognized arguments: {extra} (see '{prog} --help')\n"
    )


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, no_cluster: Path) -> pytest.MonkeyPatch:
    """No AWS credentials anywhere, no instance metadata lookups, S3 on a closed port."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(no_cluster / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(no_cluster / "no-aws-credentials"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", closed_loopback_url().replace("https", "http"))
    monkeypatch.delenv("ASYNCACTION_ARCHIVE", raising=False)
    monkeypatch.delenv("ASYNCACTION_BUCKET", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "argv", "says"),
    [
        (
            {"ASYNCACTION_ARCHIVE": "foo"},
            [],
            "ASYNCACTION_ARCHIVE: not an s3://bucket/key URI: 'foo'",
        ),
        ({}, ["--archive", "s3://"], "--archive: not an s3://bucket/key URI: 's3://'"),
    ],
)
def test_a_malformed_archive_location_names_its_setting(
    no_aws: pytest.MonkeyPatch, env: dict[str, str], argv: list[str], says: str
) -> None:
    for name, value in env.items():
        no_aws.setenv(name, value)
    code, _, err = cli("archive", "list", *argv)
    assert (code, one_error_line(err)) == (EXIT_USAGE, f"error: {says}")


def test_no_s3_credentials_says_which_settings_give_them(no_aws: pytest.MonkeyPatch) -> None:
    code, _, err = cli("archive", "list", "--archive", "s3://bucket/")
    assert (code, one_error_line(err)) == (
        EXIT_ERROR,
        "error: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "or AWS_PROFILE (the standard AWS settings)",
    )


def test_a_malformed_s3_endpoint_names_its_setting(no_aws: pytest.MonkeyPatch) -> None:
    no_aws.setenv("AWS_ACCESS_KEY_ID", "id")
    no_aws.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    no_aws.setenv("AWS_ENDPOINT_URL_S3", "notaurl")
    code, _, err = cli("archive", "list", "--archive", "s3://bucket/")
    assert (code, one_error_line(err)) == (
        EXIT_ERROR,
        "error: AWS_ENDPOINT_URL_S3 'notaurl' is not a usable endpoint: Invalid endpoint: notaurl",
    )


def test_archives_without_boto3_say_which_extra_to_install(
    no_aws: pytest.MonkeyPatch,
) -> None:
    no_aws.setitem(sys.modules, "boto3", None)  # as after `pip install ./client` alone
    code, _, err = cli("archive", "list", "--archive", "s3://bucket/")
    assert (code, one_error_line(err)) == (
        EXIT_ERROR,
        "error: S3 access needs boto3: pip install 'asyncaction-client[s3]'",
    )


@pytest.mark.parametrize(
    ("section", "key", "says"),
    [
        ("clusters", "certificate-authority", 'cluster "c" certificate-authority "ca.crt"'),
        ("users", "client-certificate", 'user "u" client-certificate "ca.crt"'),
        ("users", "tokenFile", 'user "u" tokenFile "ca.crt"'),
    ],
)
def test_a_certificate_or_token_file_the_kubeconfig_names_must_exist(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch, section: str, key: str, says: str
) -> None:
    config = kubeconfig(closed_loopback_url())
    entries = config[section]
    assert isinstance(entries, list)
    entries[0]["cluster" if section == "clusters" else "user"][key] = "ca.crt"
    path = no_cluster / "kube" / "config"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    code, _, err = cli("get", "a")
    assert (code, one_error_line(err)) == (
        EXIT_ERROR,
        f'error: {says} does not exist, in kubeconfig {path} (KUBECONFIG) for context "ctx"',
    )
    (path.parent / "ca.crt").write_text("not checked further here")  # relative to the file
    code, _, err = cli("get", "a")
    assert "does not exist" not in err


@pytest.mark.parametrize(
    "argv", [["-n", "x", "list"], ["--kubeconfig", "/x", "get", "a"], ["-v", "list"]]
)
def test_options_before_the_command_are_reported_as_such(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(*argv)
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err == (
        "error: options go after the command, as in "
        f"'asyncaction list -n NAMESPACE': {argv[0]!r} came first (see 'asyncaction --help')\n"
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "the following arguments are required: COMMAND (see 'asyncaction --help')"),
        (
            ["list", "-o", "xml"],
            "argument -o/--output: invalid choice: 'xml' (choose from 'table', 'wide', "
            "'json', 'yaml', 'name') (see 'asyncaction list --help')",
        ),
        (
            ["archive", "list", "--bogus"],
            "unrecognized arguments: --bogus (see 'asyncaction archive list --help')",
        ),
        (
            ["tasks"],
            "the following arguments are required: WORD (see 'asyncaction tasks --help')",
        ),
    ],
)
def test_a_command_line_error_is_one_line_pointing_at_the_help(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(*argv)
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err == f"error: {says}\n"


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["get", "a", "-n", ""], "-n/--namespace"),
        (["abort", "a", "--namespace="], "-n/--namespace"),
        (["list", "--context", ""], "--context"),
        (["describe", "a", "--kubeconfig", ""], "--kubeconfig"),
        (["submit", "-f", ""], "-f/--filename"),
        (["submit", "--template", ""], "--template"),
        (["submit", "--template", "t", "--request", ""], "--request"),
        (["submit", "--template", "t", "--name", ""], "--name"),
        (["submit", "--template", "t", "--generate-name", ""], "--generate-name"),
        (["submit", "--template", "t", "--queue", ""], "--queue"),
        (["rerun", "a", "--generate-name", ""], "--generate-name"),
        (["archive", "list", "-n", ""], "-n/--namespace"),
        (["archive", "list", "--archive", ""], "--archive"),
        (["archive", "list", "--kubeconfig", ""], "--kubeconfig"),
        (["archive", "list", "--context", ""], "--context"),
    ],
)
def test_an_empty_flag_value_is_refused_not_read_as_unset(
    no_cluster: Path, argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-n "$NS"`` with NS unset would otherwise abort in the context's namespace."""
    with pytest.raises(SystemExit) as exited:
        cli(*argv)
    assert exited.value.code == EXIT_USAGE
    command = " ".join(argv[:2]) if argv[0] == "archive" else argv[0]  # 'archive list'
    assert capsys.readouterr().err == (
        f"error: argument {flag}: empty: give a value, or leave the flag out"
        f" (see 'asyncaction {command} --help')\n"
    )


class _JsonServer(BaseHTTPRequestHandler):
    """A quiet handler that answers JSON bodies."""

    def answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


class _NothingHere(_JsonServer):
    """An API server with no AsyncAction at all: every GET is the 404 Status naming the
    object that the API server answers."""

    def do_GET(self) -> None:
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        details = {"name": name, "group": "asyncaction.dev", "kind": "asyncactions"}
        message = f'asyncactions.asyncaction.dev "{name}" not found'
        status = {"kind": "Status", "code": 404, "reason": "NotFound", "message": message}
        self.answer(404, json.dumps({**status, "details": details}).encode())


@pytest.mark.parametrize("verb", ["retry", "exclude"])
def test_tasks_verb_without_the_actions_name_says_so(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    """'asyncaction tasks retry' read 'retry' as the action's name: 'not found'."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NothingHere)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        use_kubeconfig(
            no_cluster, monkeypatch, kubeconfig(f"http://127.0.0.1:{server.server_address[1]}")
        )
        code, out, err = cli("tasks", verb)
    finally:
        server.shutdown()
        server.server_close()
    assert (code, out) == (EXIT_USAGE, "")
    assert one_error_line(err) == f"error: name the action: asyncaction tasks {verb} NAME ..."


class _ThreeActions(_JsonServer):
    """``a`` FAILED, ``c`` SUCCEEDED, no ``gone``: lists by name, and empty watches."""

    def do_GET(self) -> None:
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        found = {
            "a": {"phase": "FAILED", "error": {"reason": "JobFailed", "message": "exit 1"}},
            "c": {"phase": "SUCCEEDED", "result": {"ok": 1}},
        }
        name = next((n for n in found if f"metadata.name%3D{n}" in query), None)
        if "watch=true" in query:
            body = b""
        else:
            items = []
            if name is not None:
                meta = {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": "5"}
                items = [{"kind": "AsyncAction", "metadata": meta, "status": found[name]}]
            body = json.dumps({"metadata": {"resourceVersion": "10"}, "items": items}).encode()
        self.answer(200, body)


def test_wait_for_several_goes_on_past_one_not_found_and_reports_the_rest(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a review: one name not found stopped ``wait a gone c`` there: exit 1,
    ``c`` never waited for, nothing on stdout (docs/cli.md: the code of the first that
    did not succeed, and every action that finished reported)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ThreeActions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = kubeconfig(f"http://127.0.0.1:{server.server_address[1]}")
        use_kubeconfig(no_cluster, monkeypatch, config)
        code, out, err = cli("wait", "a", "gone", "c", "-n", "ns", "-o", "name")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 3  # a FAILED, the first that did not succeed
    assert out == "asyncaction.asyncaction.dev/a\nasyncaction.asyncaction.dev/c\n"
    assert 'error: asyncaction "gone" not found in namespace "ns"' in err.splitlines()
