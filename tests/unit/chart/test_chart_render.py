"""The chart, rendered offline by Helm's own engine (helm-python-sdk), with two value sets."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from asyncaction.api.crds import build_crds
from asyncaction.api.names import LABEL_HOOK_SHARD
from asyncaction.chart import build_rbac_rules
from asyncaction.main import parse_args
from tests.support.chart import CHART, NAMESPACED_VALUES, find, notes, objects, one, render

ROOT = CHART.parents[1]
HOOK_URL = "http://asyncaction-hook.asyncaction-system.svc.cluster.local:8080"
VALUE_SETS = {
    "defaults": {},
    "namespaced-toggles-existing": NAMESPACED_VALUES,
    "sharded-hook": {"hook": {"shards": 2}},
}


def containers(objs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(owner name, pod spec, container) of every workload the chart renders."""
    found = []
    for obj in objs:
        if obj["kind"] in ("Deployment", "Job"):
            pod = obj["spec"]["template"]["spec"]
            found += [(obj["metadata"]["name"], pod, c) for c in pod["containers"]]
    return found


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def mounted_file(pod: dict[str, Any], container: dict[str, Any], path: str) -> tuple[str, str]:
    """(Secret name, key) that a file path inside the container comes from."""
    for mount in container["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
            return volume["secret"]["secretName"], path[len(prefix) :]
    raise AssertionError(f"{path} is not mounted")


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_app_version_and_default_image_tag_are_the_project_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == project
    images = {c["image"] for _, _, c in containers(render(tests=True))}
    assert images == {f"docker.io/asyncaction/asyncaction:{project}"}


def test_image_tag_and_digest_override_the_default() -> None:
    tagged = render({"image": {"registry": "", "tag": "dev"}})
    assert {c["image"] for _, _, c in containers(tagged)} == {"asyncaction/asyncaction:dev"}
    digest = "sha256:" + "a" * 64
    pinned = render({"image": {"digest": digest}})
    assert {c["image"] for _, _, c in containers(pinned)} == {
        f"docker.io/asyncaction/asyncaction@{digest}"
    }


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_container_runs_restricted(values: dict[str, Any]) -> None:
    workloads = containers(render(values, tests=True))
    shards = values.get("hook", {}).get("shards", 1)
    hooks = {f"asyncaction-hook-{i}" for i in range(shards)} if shards > 1 else {"asyncaction-hook"}
    assert {name for name, _, _ in workloads} == {
        "asyncaction-operator",
        "asyncaction-test-hook",
        *hooks,
    }
    for name, pod, container in workloads:
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 65532, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        assert container["resources"]["requests"], name
        assert container["resources"]["limits"]["memory"], name


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_operator_command_line_is_what_the_operator_parses(values: dict[str, Any]) -> None:
    objs = render(values)
    deployment = one(objs, "Deployment", "asyncaction-operator")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["asyncaction-operator"]
    args = parse_args(container["args"])
    # The operator serves liveness at the --liveness URL and readiness at /readyz on the
    # same port: the kubelet probes each for its purpose.
    port = container["ports"][0]["containerPort"]
    assert args.liveness == f"http://0.0.0.0:{port}/healthz"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["ports"][0]["name"] == "health"
    namespaces = values.get("rbac", {}).get("namespaces")
    if namespaces:
        assert args.namespace == namespaces
        # where the operator would put it without the variable: its first namespace
        assert env_of(container)["ASYNCACTION_LEASE_NAMESPACE"] == namespaces[0]
    else:
        assert args.namespace is None  # all namespaces
        assert env_of(container)["ASYNCACTION_LEASE_NAMESPACE"] == "asyncaction-system"
    if values.get("operator", {}).get("warmStandby"):  # a warm pod ready before the old goes
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    else:
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # one at a time


def test_hook_service_is_the_job_hook_url_and_probes_hit_its_routes() -> None:
    objs = render()
    operator = one(objs, "Deployment", "asyncaction-operator")["spec"]["template"]["spec"]
    assert env_of(operator["containers"][0])["ASYNCACTION_HOOK_URL"] == HOOK_URL
    service = one(objs, "Service", "asyncaction-hook")
    hook = one(objs, "Deployment", "asyncaction-hook")
    assert service["spec"]["selector"] == hook["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["port"] == 8080
    container = hook["spec"]["template"]["spec"]["containers"][0]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    assert "--port=8080" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    custom = render({"hook": {"url": "https://hook.example.test/aa"}})
    operator = one(custom, "Deployment", "asyncaction-operator")["spec"]["template"]["spec"]
    assert env_of(operator["containers"][0])["ASYNCACTION_HOOK_URL"] == (
        "https://hook.example.test/aa"
    )


def test_the_master_key_is_created_once_and_mounted_into_both() -> None:
    objs = render()
    secret = one(objs, "Secret", "asyncaction-master-keys")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    keys = base64.b64decode(secret["data"]["keys"]).decode().splitlines()
    assert len(keys) == 1
    assert len(keys[0]) == 64
    # Offline there is no release to look up: every fresh render draws a new key.
    again = one(render(), "Secret", "asyncaction-master-keys")
    assert again["data"]["keys"] != secret["data"]["keys"]
    for name, pod, container in containers(objs):
        if name == "asyncaction-operator":
            path = env_of(container)["ASYNCACTION_MASTER_KEYS_FILE"]
        else:
            flags = [a for a in container["args"] if a.startswith("--master-keys-file=")]
            path = flags[0].split("=", 1)[1]
        assert mounted_file(pod, container, path) == ("asyncaction-master-keys", "keys"), name


def test_existing_secrets_are_used_by_name() -> None:
    objs = render(NAMESPACED_VALUES)
    assert find(objs, "Secret") == []
    for name, pod, container in containers(objs):
        env = env_of(container)
        if name == "asyncaction-operator":
            keys = env["ASYNCACTION_MASTER_KEYS_FILE"]
            stores = env["ASYNCACTION_ARCHIVE_CONFIG"]
            assert env["ASYNCACTION_ARCHIVE_STORE"] == "archive"
        else:
            args = dict(
                a.split("=", 1) for a in container["args"] if a.startswith("--") and "=" in a
            )
            keys, stores = args["--master-keys-file"], args["--stores-config"]
            assert container["args"][-2:] == ["--rate", "50"]
        assert mounted_file(pod, container, keys) == ("my-master-keys", "keys.txt"), name
        assert mounted_file(pod, container, stores) == ("my-stores", "stores.yaml"), name


def test_stores_from_values_become_a_secret_the_hook_reads() -> None:
    config = {"stores": {"default": {"endpoint": "http://s3:8333", "bucket": "actions"}}}
    objs = render({"stores": {"config": config}})
    secret = one(objs, "Secret", "asyncaction-stores")
    assert json.loads(base64.b64decode(secret["data"]["stores.json"])) == config
    hook = one(objs, "Deployment", "asyncaction-hook")["spec"]["template"]["spec"]
    assert mounted_file(hook, hook["containers"][0], "/etc/asyncaction/stores/stores.json") == (
        "asyncaction-stores",
        "stores.json",
    )
    # Without stores the hook gets no --stores-config.
    bare = one(render(), "Deployment", "asyncaction-hook")["spec"]["template"]["spec"]
    assert not [a for a in bare["containers"][0]["args"] if a.startswith("--stores-config")]


LEASES = ("coordination.k8s.io", "leases")


def lease_grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {g for g in grants(rules) if g[:2] == LEASES}


def check_lease_role(objs: list[dict[str, Any]], component: str, namespace: str) -> None:
    """The component's Leases are granted in ``namespace`` alone, to its service account."""
    name = f"asyncaction-{component}-lease"
    (role,) = find(objs, "Role", name)
    assert role["metadata"]["namespace"] == namespace
    assert grants(role["rules"]) == {(*LEASES, v) for v in ("get", "create", "update", "patch")}
    (binding,) = find(objs, "RoleBinding", name)
    assert binding["metadata"]["namespace"] == namespace
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": name,
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": f"asyncaction-{component}",
            "namespace": "asyncaction-system",
        }
    ]


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_no_cluster_role_grants_leases(name: str) -> None:
    """``update`` on Leases cluster-wide would let the operator, or the hook every pod can
    talk to, take over kube-system's leader elections or forge node heartbeats."""
    for role in find(render(VALUE_SETS[name]), "ClusterRole"):
        assert lease_grants(role["rules"]) == set(), role["metadata"]["name"]


def test_cluster_scope_grants_each_component_its_whole_role_cluster_wide() -> None:
    objs = render()
    rules = build_rbac_rules()
    assert {r["metadata"]["name"] for r in find(objs, "Role")} == {
        "asyncaction-operator-lease",
        "asyncaction-hook-lease",
    }
    operator = one(objs, "Deployment", "asyncaction-operator")["spec"]["template"]["spec"]
    assert env_of(operator["containers"][0])["ASYNCACTION_LEASE_NAMESPACE"] == (
        "asyncaction-system"
    )
    for component in ("operator", "hook"):
        check_lease_role(objs, component, "asyncaction-system")
        name = f"asyncaction-{component}"
        cluster_name = f"{name}-asyncaction-system"  # cluster-scoped: with the namespace
        role = one(objs, "ClusterRole", cluster_name)
        own = rules[component]
        assert grants(role["rules"]) == grants(own["clusterRules"] + own["namespacedRules"])
        binding = one(objs, "ClusterRoleBinding", cluster_name)
        assert binding["roleRef"]["name"] == cluster_name
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": name, "namespace": "asyncaction-system"}
        ]
        one(objs, "ServiceAccount", name)


def test_namespaced_scope_grants_roles_in_each_listed_namespace() -> None:
    objs = render(NAMESPACED_VALUES)
    rules = build_rbac_rules()["operator"]
    # Only cluster-scoped needs go in a ClusterRole; with none, none is rendered.
    clusters = find(objs, "ClusterRole", "asyncaction-operator-asyncaction-system")
    assert [grants(c["rules"]) for c in clusters] == (
        [grants(rules["clusterRules"])] if rules["clusterRules"] else []
    )
    roles = find(objs, "Role", "asyncaction-operator")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    # The leader Lease stays in the first served namespace; the hook's shard Leases in the
    # release's.
    operator = one(objs, "Deployment", "asyncaction-operator")["spec"]["template"]["spec"]
    assert env_of(operator["containers"][0])["ASYNCACTION_LEASE_NAMESPACE"] == "team-a"
    check_lease_role(objs, "operator", "team-a")
    check_lease_role(objs, "hook", "asyncaction-system")
    for role in roles:
        assert grants(role["rules"]) == grants(rules["namespacedRules"])
    bindings = find(objs, "RoleBinding", "asyncaction-operator")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    assert all(b["roleRef"]["kind"] == "Role" for b in bindings)
    # The hook watches every namespace: its role stays a ClusterRole.
    assert find(objs, "Role", "asyncaction-hook") == []
    one(objs, "ClusterRole", "asyncaction-hook-asyncaction-system")
    # With no list, the release's namespace is the one watched.
    alone = render({"rbac": {"scope": "namespaced"}})
    assert [r["metadata"]["namespace"] for r in find(alone, "Role", "asyncaction-operator")] == [
        "asyncaction-system"
    ]
    check_lease_role(alone, "operator", "asyncaction-system")


def test_rbac_create_false_renders_no_rbac() -> None:
    objs = render({"rbac": {"create": False}})
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert find(objs, kind) == []


def test_crds_are_the_generated_ones_behind_enabled_and_keep() -> None:
    objs = render()
    crds = find(objs, "CustomResourceDefinition")
    generated = {c["metadata"]["name"]: c for c in build_crds()}
    assert {c["metadata"]["name"] for c in crds} == set(generated)
    for crd in crds:
        wanted = generated[crd["metadata"]["name"]]
        assert crd["spec"] == wanted["spec"]
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    loose = find(render({"crds": {"keep": False}}), "CustomResourceDefinition")
    assert loose
    assert all("annotations" not in c["metadata"] for c in loose)
    assert find(render({"crds": {"enabled": False}}), "CustomResourceDefinition") == []


def test_toggles_are_off_by_default_and_render_when_on() -> None:
    kinds = {o["kind"] for o in render()}
    assert not kinds & {"PodMonitor", "PodDisruptionBudget", "NetworkPolicy", "PrometheusRule"}
    objs = render(NAMESPACED_VALUES)
    for component in ("operator", "hook"):
        monitor = one(objs, "PodMonitor", f"asyncaction-{component}")
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        pods = one(objs, "Deployment", f"asyncaction-{component}")["spec"]["selector"]
        assert monitor["spec"]["selector"]["matchLabels"] == pods["matchLabels"]
        endpoint = monitor["spec"]["podMetricsEndpoints"][0]
        assert endpoint["port"] == "metrics"
        # the series' own namespace label (the action's) is kept: without honorLabels
        # prometheus-operator's namespace (the Pod's) replaced it, and every alert and
        # panel by namespace read the operator's namespace (found by a review)
        assert endpoint["honorLabels"] is True
    budget = one(objs, "PodDisruptionBudget", "asyncaction-hook")
    assert budget["spec"]["maxUnavailable"] == 1
    metrics_port = {"ports": [{"port": "metrics", "protocol": "TCP"}]}
    hook_policy = one(objs, "NetworkPolicy", "asyncaction-hook")
    assert hook_policy["spec"]["ingress"] == [
        {"ports": [{"port": "http", "protocol": "TCP"}]},
        metrics_port,
    ]
    operator_policy = one(objs, "NetworkPolicy", "asyncaction-operator")
    assert operator_policy["spec"]["ingress"] == [metrics_port]


def test_helm_test_job_reaches_the_hook_healthz() -> None:
    job = one(render(tests=True), "Job", "asyncaction-test-hook")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == HOOK_URL
    assert '"/healthz"' in container["command"][2]
    assert find(render({"tests": {"enabled": False}}, tests=True), "Job") == []


def test_notes_name_the_hook_and_the_test() -> None:
    text = notes()
    assert HOOK_URL in text
    assert "helm test asyncaction -n asyncaction-system" in text
    assert "No S3 stores" in text


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_lint_is_clean_for_the_test_beds_kubernetes(values: dict[str, Any]) -> None:
    from helm_python import lint

    for kube in ("v1.20.2", None):
        report = lint(CHART, values, strict=True, kube_version=kube)
        assert report["errors"] == [], report
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


BAD_VALUES = {
    "wrong type": ({"operator": {"replicas": "one"}}, "/operator/replicas"),
    "unknown key": ({"operator": {"replica": 1}}, "'replica' not allowed"),
    "unknown top-level key": ({"crd": {"enabled": False}}, "'crd' not allowed"),
    "bad enum": ({"rbac": {"scope": "everywhere"}}, "/rbac/scope"),
    "bad pull policy": ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    "too many operator replicas": ({"operator": {"replicas": 4}}, "/operator/replicas"),
    "unsharded hook replicas": ({"hook": {"replicas": 2}}, "/hook/replicas"),
    "no hook shard": ({"hook": {"shards": 0}}, "/hook/shards"),
    "negative retired shards": ({"hook": {"retiredShards": -1}}, "/hook/retiredShards"),
    "bad digest": ({"image": {"digest": "latest"}}, "/image/digest"),
    "bad namespace": ({"rbac": {"namespaces": ["Team_A"]}}, "/rbac/namespaces/0"),
}


@pytest.mark.parametrize(("values", "where"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_schema_refuses_bad_values(values: dict[str, Any], where: str) -> None:
    from helm_python import HelmValuesError

    with pytest.raises(HelmValuesError) as caught:
        render(values)
    assert where in str(caught.value)


def test_schema_is_strict_everywhere() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def loose(node: Any, path: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            props = node.get("properties")
            if props is not None and node.get("additionalProperties") is not False:
                found.append(path)
            for key, value in (props or {}).items():
                found += loose(value, f"{path}/{key}")
        return found

    assert loose(schema, "") == []
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(schema["properties"]) == set(defaults) | {"global"}


def test_archive_without_stores_fails_with_a_clear_message() -> None:
    from helm_python import HelmRenderError

    with pytest.raises(HelmRenderError, match=r"operator\.archive\.enabled needs stores"):
        render({"operator": {"archive": {"enabled": True}}})


def test_release_name_prefixes_every_cluster_wide_name() -> None:
    objs = render(name="blue", namespace="ns1")
    cluster_wide = [o for o in objs if "namespace" not in o["metadata"]]
    names = {o["metadata"]["name"] for o in cluster_wide if o["kind"] != "CustomResourceDefinition"}
    assert names == {"blue-asyncaction-operator-ns1", "blue-asyncaction-hook-ns1"}
    assert all(o["metadata"]["namespace"] == "ns1" for o in objs if "namespace" in o["metadata"])


def test_every_template_is_covered_by_a_value_set() -> None:
    rendered = {Path(p).name for p in _rendered_paths(NAMESPACED_VALUES)}
    templates = {p.name for p in (CHART / "templates").rglob("*.yaml")}
    assert templates <= rendered | {"secrets.yaml"}  # existing secrets: nothing to create
    assert "secrets.yaml" in {Path(p).name for p in _rendered_paths({})}


def _rendered_paths(values: dict[str, Any]) -> list[str]:
    from helm_python import Chart

    with Chart.load(CHART) as chart:
        out = chart.render(values, name="asyncaction", namespace="asyncaction-system")
    return [path for path, text in out.items() if text.strip()]


def test_committed_chart_crds_match_the_models() -> None:
    from asyncaction.api.crds import drift

    assert drift(CHART / "files" / "crds") == [], "the chart's CRDs drifted: run `make crds`"


def test_images_run_as_the_charts_user_and_ship_its_commands() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    workloads = containers(render(tests=True))
    uids = {pod["securityContext"]["runAsUser"] for _, pod, _ in workloads}
    for image in ("asyncaction", "job-python"):
        dockerfile = (ROOT / "images" / image / "Dockerfile").read_text()
        users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
        assert users == [f"{uid}:{uid}" for uid in uids], image
        assert f"ARG VERSION={project['version']}" in dockerfile, image
    commands = {c["command"][0] for name, _, c in workloads if name != "asyncaction-test-hook"}
    assert commands <= set(project["scripts"])


def test_the_packaged_chart_carries_its_generated_files_and_health_check(tmp_path: Path) -> None:
    from helm_python import Chart, package

    archive = package(CHART, destination=tmp_path)
    assert Path(archive).name == "asyncaction-0.1.0.tgz"
    with Chart.load(archive) as packed:
        names = {f["name"] for f in packed.files}
        assert {
            "files/rbac.yaml",
            "files/crds/asyncaction.dev_asyncactions.yaml",
            "health/asyncaction.dev/AsyncAction/health.lua",
            "health/asyncaction.dev/AsyncAction/health_test.yaml",
        } <= names
        assert packed.schema is not None
        rendered = packed.render({"imagePullSecrets": [{"name": "regcred"}]}, name="asyncaction")
    for _, pod, _ in containers(objects(rendered, tests=True)):
        assert pod["imagePullSecrets"] == [{"name": "regcred"}]


def test_operator_settings_reach_the_operator_as_it_reads_them() -> None:
    from asyncaction.settings import OperatorSettings

    values = {
        "operator": {
            "settings": {
                "backoffBaseSeconds": 2.5,
                "pollSeconds": 7,
                "defaultMaxConcurrent": 3,
                "defaultRetention": "Delete",
            },
            "extraEnv": [{"name": "ASYNCACTION_WATCH_SERVER_TIMEOUT", "value": "120"}],
        }
    }
    deployment = one(render(values), "Deployment", "asyncaction-operator")
    settings = OperatorSettings.from_env(
        env_of(deployment["spec"]["template"]["spec"]["containers"][0])
    )
    assert settings.hook_url == HOOK_URL
    assert settings.backoff_base_seconds == 2.5
    assert settings.backoff_max_seconds == 300
    assert settings.poll_seconds == 7
    assert settings.default_max_concurrent == 3
    assert settings.default_retention == "Delete"
    assert settings.watch_server_timeout == 120
    kept = one(render({}), "Deployment", "asyncaction-operator")
    assert (
        OperatorSettings.from_env(
            env_of(kept["spec"]["template"]["spec"]["containers"][0])
        ).default_retention
        == "Keep"
    )


def test_hook_command_line_is_what_the_hook_parses() -> None:
    from asyncaction_hook.main import parse_args as parse_hook_args

    objs = render(NAMESPACED_VALUES)
    container = one(objs, "Deployment", "asyncaction-hook")["spec"]["template"]["spec"]
    args = container["containers"][0]["args"]
    keys_flag = "--master-keys-file=/etc/asyncaction/master-keys/keys.txt"
    assert keys_flag in args
    parsed = parse_hook_args(args)
    assert str(parsed.master_keys_file) == "/etc/asyncaction/master-keys/keys.txt"
    assert parsed.port == 8080
    assert str(parsed.stores_config) == "/etc/asyncaction/stores/stores.yaml"
    assert parsed.rate == 50


SHARDED_URL = "http://asyncaction-hook-{shard}.asyncaction-system.svc.cluster.local:8080"


def test_hook_shards_get_a_deployment_and_a_service_each_and_the_operator_pins_actions() -> None:
    from asyncaction.settings import OperatorSettings
    from asyncaction.sharding import hook_url_for
    from asyncaction_hook.main import parse_args as parse_hook_args

    objs = render({"hook": {"shards": 3}}, tests=True)
    names = [f"asyncaction-hook-{shard}" for shard in range(3)]
    assert sorted(o["metadata"]["name"] for o in find(objs, "Service")) == [
        "asyncaction-hook",
        *names,
    ]
    # the unsharded name stays, in front of every hook pod: a job started before the
    # hooks were sharded reaches one, and follows the 421 naming its shard
    front = one(objs, "Service", "asyncaction-hook")["spec"]["selector"]
    assert front == one(render({}), "Service", "asyncaction-hook")["spec"]["selector"]
    assert sorted(o["metadata"]["name"] for o in find(objs, "Deployment")) == [
        *names,
        "asyncaction-operator",
    ]
    selectors = []
    for shard, name in enumerate(names):
        deployment, service = one(objs, "Deployment", name), one(objs, "Service", name)
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert service["spec"]["selector"] == selector
        assert selector[LABEL_HOOK_SHARD] == str(shard)  # the label the operator sets
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        selectors.append(selector)
        parsed = parse_hook_args(deployment["spec"]["template"]["spec"]["containers"][0]["args"])
        assert (parsed.shard, parsed.shards, parsed.hook_url) == (shard, 3, SHARDED_URL)
        # one Lease per shard, named from this prefix: asyncaction-hook-shard-<shard>
        assert parsed.shard_lease_name == "asyncaction-hook"
    assert len({tuple(sorted(s.items())) for s in selectors}) == 3  # no pod in two Services
    operator = one(objs, "Deployment", "asyncaction-operator")
    settings = OperatorSettings.from_env(
        env_of(operator["spec"]["template"]["spec"]["containers"][0])
    )
    assert (settings.hook_url, settings.hook_shards) == (SHARDED_URL, 3)
    uid = "0b7f3c2e-6a43-4c52-9a53-1f0d3c7e9a10"
    host = hook_url_for(settings.hook_url, uid, 3).split("//")[1].split(".")[0]
    assert host in names
    test_job = one(objs, "Job", "asyncaction-test-hook")["spec"]["template"]["spec"]
    assert test_job["containers"][0]["command"][-1] == SHARDED_URL.replace("{shard}", "0")
    assert SHARDED_URL in notes({"hook": {"shards": 3}})
    # one shard: the names, selectors and flags of before (an upgrade changes nothing)
    single = render({})
    hook = one(single, "Deployment", "asyncaction-hook")
    assert "asyncaction.dev/hook-shard" not in hook["spec"]["selector"]["matchLabels"]
    parsed = parse_hook_args(hook["spec"]["template"]["spec"]["containers"][0]["args"])
    assert (parsed.shard, parsed.shards, parsed.hook_url) == (0, 1, "")
    assert (
        one(single, "Service", "asyncaction-hook")["spec"]["selector"]
        == (hook["spec"]["selector"]["matchLabels"])
    )


def test_retired_shards_keep_their_services_in_front_of_every_hook_pod() -> None:
    """Lowering hook.shards removed the higher shards' Services, and the jobs still
    running with those URLs lost their hook. With hook.retiredShards set to the count
    before, their Services stay and select every hook pod, whose 421 names the new
    shard (the project's clients follow it); lowered to one shard, shard 0's goes too."""
    every_pod = one(render({}), "Service", "asyncaction-hook")["spec"]["selector"]

    def hook_services(values: dict[str, Any]) -> dict[str, dict[str, str]]:
        return {
            o["metadata"]["name"]: o["spec"]["selector"]
            for o in find(render(values), "Service")
            if o["metadata"]["name"].startswith("asyncaction-hook")
        }

    lowered = hook_services({"hook": {"shards": 2, "retiredShards": 4}})
    assert sorted(lowered) == [f"asyncaction-hook{s}" for s in ("", "-0", "-1", "-2", "-3")]
    assert lowered["asyncaction-hook-0"][LABEL_HOOK_SHARD] == "0"  # a shard that stays
    assert lowered["asyncaction-hook-2"] == lowered["asyncaction-hook-3"] == every_pod
    unsharded = hook_services({"hook": {"shards": 1, "retiredShards": 3}})
    assert unsharded == {f"asyncaction-hook{s}": every_pod for s in ("", "-0", "-1", "-2")}
    # the default renders what it did before
    assert hook_services({"hook": {"shards": 2}}).keys() == {
        "asyncaction-hook",
        "asyncaction-hook-0",
        "asyncaction-hook-1",
    }


def test_retired_shards_not_above_the_shards_name_the_mistake() -> None:
    from helm_python import HelmRenderError

    with pytest.raises(
        HelmRenderError, match=r"hook\.retiredShards \(2\) must be more than hook\.shards \(2\)"
    ):
        render({"hook": {"shards": 2, "retiredShards": 2}})


def hook_deployment(values: dict[str, Any]) -> dict[str, Any]:
    return next(
        o for o in render(values) if o["kind"] == "Deployment" and "hook" in o["metadata"]["name"]
    )


def test_the_hook_hands_its_shard_over_in_a_rollout_and_can_refuse_signature_v1() -> None:
    deployment = hook_deployment({})
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = deployment["spec"]["template"]["spec"]
    hook = pod["containers"][0]
    assert pod["terminationGracePeriodSeconds"] == 23
    assert "--shard-lease-name=asyncaction-hook" in hook["args"]
    assert "--drain-seconds=3" in hook["args"]
    assert "--no-allow-v1" not in hook["args"]
    assert {"--global-rate=5000", "--namespace-rate=2000", "--rate=200", "--burst=400"} <= set(
        hook["args"]
    )
    namespace_env = next(e for e in hook["env"] if e["name"] == "POD_NAMESPACE")
    assert namespace_env["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    strict = hook_deployment({"hook": {"allowSignatureV1": False}})
    assert "--no-allow-v1" in strict["spec"]["template"]["spec"]["containers"][0]["args"]
    hook_rules = grants(build_rbac_rules()["hook"]["clusterRules"])
    assert ("coordination.k8s.io", "leases", "update") in grants(
        build_rbac_rules()["hook"]["leaseRules"]
    )
    assert ("asyncaction.dev", "actiontemplates", "watch") in hook_rules


def test_a_warm_standby_rolls_out_one_ready_pod_at_a_time() -> None:
    """Off: standbys hold nothing and the Deployment is recreated. On: each standby keeps
    the caches (the operator reads the variable as the setting) and the Deployment rolls
    out one new pod at a time, which is ready only once its caches synced
    (asyncaction.handlers.Runtime.readiness), so the Lease goes to a warm replica."""
    from asyncaction.settings import OperatorSettings

    def operator(values: dict[str, Any]) -> tuple[dict[str, Any], OperatorSettings]:
        deployment = one(render(values), "Deployment", "asyncaction-operator")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        return deployment["spec"], OperatorSettings.from_env(env_of(container))

    spec, settings = operator({})
    assert spec["strategy"] == {"type": "Recreate"}
    assert settings.warm_standby is False
    spec, settings = operator({"operator": {"replicas": 2, "warmStandby": True}})
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert settings.warm_standby is True
    assert spec["replicas"] == 2
    container = spec["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize(
    ("limits", "bursts"),
    [
        # fractional and large rates (a float64 of a million prints as 1e+06)
        (
            {
                "unauthenticatedPerSecond": 2.5,
                "namespacePerSecond": 1000000,
                "actionPerSecond": 0.4,
            },
            (3, 1000000, 1),
        ),
        (
            {"unauthenticatedPerSecond": 300, "namespacePerSecond": 2000, "actionPerSecond": 50},
            (300, 2000, 100),
        ),
    ],
)
def test_any_rate_the_schema_accepts_is_a_command_line_the_hook_accepts(
    limits: dict[str, float], bursts: tuple[int, int, int]
) -> None:
    """``--global-burst=2.5`` and ``--namespace-burst=1e+06`` made the hook exit 2 (its
    bursts are integers), and ``actionPerSecond: 0.4`` rendered ``--burst=0``, a bucket
    that never holds a token: every job's report was refused 429 (found by review)."""
    from asyncaction_hook.main import parse_args as parse_hook_args

    values = {
        "hook": {"rateLimits": limits},
        "operator": {"settings": {"defaultMaxConcurrent": 1000000}},
    }
    objs = render(values)
    hook = one(objs, "Deployment", "asyncaction-hook")["spec"]["template"]["spec"]["containers"][0]
    parsed = parse_hook_args(hook["args"])
    assert (parsed.global_rate, parsed.namespace_rate, parsed.rate) == (
        limits["unauthenticatedPerSecond"],
        limits["namespacePerSecond"],
        limits["actionPerSecond"],
    )
    assert (parsed.global_burst, parsed.namespace_burst, parsed.burst) == bursts
    from asyncaction.settings import OperatorSettings

    operator = one(objs, "Deployment", "asyncaction-operator")["spec"]["template"]["spec"]
    settings = OperatorSettings.from_env(env_of(operator["containers"][0]))
    assert settings.default_max_concurrent == 1000000


def test_a_custom_hook_url_without_the_shard_fails_to_render_with_shards() -> None:
    """``hook.url`` without ``{shard}`` and ``hook.shards: 2`` rendered, and the operator
    then refused to start (``ASYNCACTION_HOOK_URL must contain '{shard}'``): the render
    refuses it now, naming both values (found by review)."""
    from helm_python import HelmRenderError

    with pytest.raises(
        HelmRenderError, match=r"hook\.url .* must contain \{shard\} when hook\.shards is 2"
    ):
        render({"hook": {"url": "https://hook.example.test/aa", "shards": 2}})
    sharded = "https://hook-{shard}.example.test/aa"
    objs = render({"hook": {"url": sharded, "shards": 2}})
    operator = one(objs, "Deployment", "asyncaction-operator")["spec"]["template"]["spec"]
    assert env_of(operator["containers"][0])["ASYNCACTION_HOOK_URL"] == sharded


def test_the_operator_reads_the_stores_grants_whenever_stores_are_configured() -> None:
    """The operator got the stores file only with archiving on: in every other chart
    install its check that an action names only its namespace's S3 keys, before any Job
    is created (``StoreAccessDenied``), was off; only the hook refused, after the Job
    had started (found by review)."""
    from asyncaction.settings import OperatorSettings

    stores = {"stores": {"default": {"bucket": "data", "grants": {"team-a": ["actions/team-a/"]}}}}
    objs = render({"stores": {"config": stores}})
    pod = one(objs, "Deployment", "asyncaction-operator")["spec"]["template"]["spec"]
    operator = pod["containers"][0]
    settings = OperatorSettings.from_env(env_of(operator))
    assert settings.stores_config == "/etc/asyncaction/stores/stores.json"
    assert mounted_file(pod, operator, settings.stores_config) == (
        "asyncaction-stores",
        "stores.json",
    )
    assert settings.archive_config == ""  # archiving stays a toggle of its own
    bare = one(render({}), "Deployment", "asyncaction-operator")["spec"]["template"]["spec"]
    assert "ASYNCACTION_STORES_CONFIG" not in env_of(bare["containers"][0])


def test_releases_of_one_name_in_two_namespaces_claim_no_common_cluster_object() -> None:
    """docs/helm.md suggests a release per team with ``rbac.scope: namespaced``: two
    releases named alike in team-a and team-b rendered the same ClusterRole and
    ClusterRoleBinding, and Helm refused the second install (found by review)."""
    team = {"rbac": {"scope": "namespaced"}, "crds": {"enabled": False}}
    cluster_kinds = ("ClusterRole", "ClusterRoleBinding")

    def cluster_names(namespace: str) -> set[str]:
        objs = render(team, namespace=namespace)
        return {o["metadata"]["name"] for o in objs if o["kind"] in cluster_kinds}

    first, second = cluster_names("team-a"), cluster_names("team-b")
    assert first
    assert second
    assert not first & second
