"""Start-up checks name the setting or the resource at fault."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from asyncaction.kube import ConnectionInfo, KubeClient
from asyncaction.kube.client import RetryPolicy
from asyncaction.preflight import StartupError, check_crds, check_files
from asyncaction.settings import OperatorSettings

KEY = "k" * 43


def settings(tmp_path: Path, **values: str) -> OperatorSettings:
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    return OperatorSettings.model_validate({"master_keys_file": str(keys), **values})


def test_valid_files_pass(tmp_path: Path) -> None:
    stores = tmp_path / "stores.json"
    stores.write_text(json.dumps({"stores": {"default": {"bucket": "b"}}}))
    check_files(settings(tmp_path, stores_config=str(stores), archive_config=str(stores)))


def test_master_keys_unset_or_too_short(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="ASYNCACTION_MASTER_KEYS_FILE is not set"):
        check_files(OperatorSettings())
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(StartupError, match=f"ASYNCACTION_MASTER_KEYS_FILE={short}: "):
        check_files(OperatorSettings(master_keys_file=str(short)))


def test_stores_and_archive_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(StartupError, match=f"ASYNCACTION_STORES_CONFIG={broken}: not a usable"):
        check_files(settings(tmp_path, stores_config=str(broken)))
    stores = tmp_path / "stores.json"
    stores.write_text(json.dumps({"stores": {"main": {"bucket": "b"}}}))
    with pytest.raises(
        StartupError, match=r"ASYNCACTION_ARCHIVE_STORE=default: no such store .*\(it has: main\)"
    ):
        check_files(settings(tmp_path, archive_config=str(stores)))
    with pytest.raises(StartupError, match="ASYNCACTION_ARCHIVE_CONFIG=/nonexistent"):
        check_files(settings(tmp_path, archive_config="/nonexistent"))


@pytest_asyncio.fixture
async def discovery() -> AsyncIterator[tuple[dict[str, list[str]], KubeClient]]:
    served: dict[str, list[str]] = {}

    async def group(_: web.Request) -> web.Response:
        if "resources" not in served:  # the API server's answer for a group it lacks
            return web.Response(status=404, text="404 page not found\n")
        return web.json_response({"resources": [{"name": n} for n in served["resources"]]})

    app = web.Application()
    app.router.add_get("/apis/asyncaction.dev/v1alpha1", group)
    async with TestServer(app) as srv:
        info = ConnectionInfo(server=str(srv.make_url("")).rstrip("/"))
        async with KubeClient(info, retry=RetryPolicy(base_delay=0.01)) as kube:
            yield served, kube


@pytest.mark.asyncio
async def test_crds_absent_or_partly_installed(
    discovery: tuple[dict[str, list[str]], KubeClient],
) -> None:
    served, kube = discovery
    with pytest.raises(
        StartupError, match=r"does not serve actionqueues\.asyncaction\.dev/v1alpha1"
    ):
        await check_crds(kube)
    served["resources"] = ["asyncactions", "asyncactions/status", "actiontemplates"]
    with pytest.raises(StartupError) as caught:
        await check_crds(kube)
    assert (
        "actionqueues.asyncaction.dev/v1alpha1, actionschedules.asyncaction.dev/v1alpha1:"
        in str(caught.value)
    )
    assert "asyncactions." not in str(caught.value)
    served["resources"].append("actionqueues")
    # the schedules' CRD came later: a chart upgrade that kept the old CRDs lacks it,
    # and the schedule controller's cache cannot start without it
    with pytest.raises(StartupError, match=r"does not serve actionschedules\.asyncaction"):
        await check_crds(kube)
    served["resources"].append("actionschedules")
    await check_crds(kube)
