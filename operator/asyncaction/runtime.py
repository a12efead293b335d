"""What the handlers share within one operator process, kept in kopf's memo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asyncaction.admission import Admissions
from asyncaction.kube import KubeClient
from asyncaction.reconciler import Reconciler
from asyncaction.settings import OperatorSettings
from asyncaction.stores import Stores
from asyncaction.wakeups import Wakeups


@dataclass
class Runtime:
    settings: OperatorSettings
    kube: KubeClient
    admissions: Admissions
    wakeups: Wakeups
    reconciler: Reconciler

    @classmethod
    def create(cls, settings: OperatorSettings, kube: KubeClient) -> Runtime:
        admissions = Admissions(settings.default_max_concurrent)
        archive = None
        if settings.archive_config:
            stores = Stores.from_file(Path(settings.archive_config), expiry=0)
            archive = stores.get(settings.archive_store)
            if archive is None:
                raise ValueError(
                    f"archive store {settings.archive_store!r} is not in {settings.archive_config}"
                )
        scopes = None
        if settings.stores_config:
            scopes = Stores.from_file(Path(settings.stores_config), expiry=0).scopes
        return cls(
            settings=settings,
            kube=kube,
            admissions=admissions,
            wakeups=Wakeups(),
            reconciler=Reconciler(kube, settings, admissions, archive, scopes),
        )
