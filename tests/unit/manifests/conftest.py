"""Fixtures of the manifest builder tests: a fresh action and pod template per test."""

from typing import Any

import pytest

from tests.unit.manifests.samples import make_action, make_pod_template


@pytest.fixture
def action() -> dict[str, Any]:
    return make_action()


@pytest.fixture
def pod_template() -> dict[str, Any]:
    return make_pod_template()
