"""Checks at start: the files and API resources the operator cannot run without.

Each failure is a ``StartupError`` whose message names the setting (the
``ASYNCACTION_*`` variable and its value) or the API resource at fault, so a
misconfigured operator stops within seconds with a line that says what to fix, rather
than running on with a manager that never started. What the caches need beyond the CRDs
(list and watch permissions in each namespace) is checked by the caches themselves as
they start (``runtime.informer.CacheError``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from asyncaction.api.names import (
    ACTION_PLURAL,
    API_VERSION,
    QUEUE_PLURAL,
    SCHEDULE_PLURAL,
    TEMPLATE_PLURAL,
)
from asyncaction.keys import MASTER_KEYS_ENV, MasterKeyError, load_master_keys
from asyncaction.kube import ApiError, KubeClient, NotServed
from asyncaction.settings import OperatorSettings, env_name
from asyncaction.stores import Stores


class StartupError(RuntimeError):
    """The operator cannot start; the message names the setting or resource to fix."""


def _stores(variable: str, path: str) -> Stores:
    try:
        return Stores.from_file(Path(path), expiry=0)
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise StartupError(f"{variable}={path}: not a usable stores file: {exc}") from exc


def check_files(settings: OperatorSettings) -> None:
    """The master keys, stores and archive files: present, readable and well-formed."""
    if not settings.master_keys_file:
        raise StartupError(
            f"{MASTER_KEYS_ENV} is not set: the operator derives every job's key from the"
            " master keys file it names (the hook reads the same file)"
        )
    try:
        load_master_keys(settings.master_keys_file)
    except MasterKeyError as exc:
        raise StartupError(f"{MASTER_KEYS_ENV}={settings.master_keys_file}: {exc}") from exc
    if settings.stores_config:
        _stores(env_name("stores_config"), settings.stores_config)
    if settings.archive_config:
        stores = _stores(env_name("archive_config"), settings.archive_config)
        if stores.get(settings.archive_store) is None:
            raise StartupError(
                f"{env_name('archive_store')}={settings.archive_store}: no such store in"
                f" {env_name('archive_config')}={settings.archive_config}"
                f" (it has: {', '.join(sorted(stores.by_name)) or 'none'})"
            )


async def check_crds(kube: KubeClient, within: float = 10.0) -> None:
    """The project's resources are served (its CRDs are installed and established)."""
    wanted = {ACTION_PLURAL, QUEUE_PLURAL, SCHEDULE_PLURAL, TEMPLATE_PLURAL}
    path = f"/apis/{API_VERSION}"
    try:
        async with asyncio.timeout(within):
            found = await kube.get(path)
    except NotServed:  # (after the client's retries: not an API server just starting)
        found = {}
    except ApiError as exc:
        raise StartupError(f"cannot read {path} from the API server: {exc}") from exc
    except TimeoutError as exc:
        raise StartupError(f"the API server did not answer {path} within {within}s") from exc
    served = {str(item.get("name")) for item in found.get("resources") or []}
    missing = sorted(wanted - served)
    if missing:
        raise StartupError(
            f"the API server does not serve {', '.join(f'{m}.{API_VERSION}' for m in missing)}:"
            " install the CustomResourceDefinitions (crds/, or the chart with crds.enabled)"
        )
