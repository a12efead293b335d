"""The runtime's informer and leader election against the real API server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes import client

from asyncaction.kube import KubeClient, paths
from asyncaction.runtime import Informer, LeaderElector
from tests.support.kube import Kube

pytestmark = pytest.mark.cluster


def config_map(name: str, **labels: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels))


def test_informer_lists_in_pages_by_label_then_follows_the_watch(
    kube: Kube, namespace: str, admin_kubeconfig: Path
) -> None:
    for i in range(7):
        kube.core.create_namespaced_config_map(namespace, config_map(f"ours-{i}", mine="yes"))
    kube.core.create_namespaced_config_map(namespace, config_map("theirs", mine="no"))

    async def scenario() -> tuple[set[str], set[str], int]:
        async with await KubeClient.from_kubeconfig(admin_kubeconfig) as api:
            path = paths.pod_path(namespace).replace("/pods", "/configmaps")
            informer = Informer(api, path, label_selector="mine=yes", page_size=3)
            task = asyncio.create_task(informer.run())
            await asyncio.wait_for(informer.synced.wait(), 30)
            listed = {key.split("/")[1] for key in informer.items}
            await asyncio.to_thread(
                kube.core.create_namespaced_config_map, namespace, config_map("late", mine="yes")
            )
            await asyncio.to_thread(kube.core.delete_namespaced_config_map, "ours-0", namespace)
            for _ in range(300):
                if f"{namespace}/late" in informer.items and len(informer.items) == 7:
                    break
                await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return listed, {key.split("/")[1] for key in informer.items}, informer.lists

    listed, watched, lists = asyncio.run(scenario())
    assert listed == {f"ours-{i}" for i in range(7)}  # 3 pages, no foreign object
    assert watched == {f"ours-{i}" for i in range(1, 7)} | {"late"}
    assert lists == 1


def test_only_one_of_two_candidates_leads_until_the_lease_is_released(
    namespace: str, admin_kubeconfig: Path
) -> None:
    async def scenario() -> tuple[list[bool], bool, bool]:
        async with await KubeClient.from_kubeconfig(admin_kubeconfig) as api:
            first = LeaderElector(api, namespace, "election", identity="first", lease_seconds=30)
            second = LeaderElector(api, namespace, "election", identity="second", lease_seconds=30)
            both = await asyncio.gather(first.try_acquire_or_renew(), second.try_acquire_or_renew())
            leader, other = (first, second) if both[0] else (second, first)
            renewed = await leader.try_acquire_or_renew()
            await leader.release()
            taken_over = await other.try_acquire_or_renew()
            return list(both), renewed, taken_over

    both, renewed, taken_over = asyncio.run(scenario())
    assert sorted(both) == [False, True]
    assert renewed
    assert taken_over
