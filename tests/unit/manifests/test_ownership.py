from collections.abc import Callable
from typing import Any

import pytest

from asyncaction.api.names import LABEL_ACTION_NAME, LABEL_ACTION_UID, LABEL_MANAGED_BY
from asyncaction.manifests import ManifestError, action_labels, owner_reference
from asyncaction.manifests.ownership import action_namespace
from tests.unit.manifests.samples import ACTION_UID, make_action


def test_owner_reference_points_at_the_action_as_its_controller() -> None:
    assert owner_reference(make_action()) == {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "AsyncAction",
        "name": "resize",
        "uid": ACTION_UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_labels_identify_the_action() -> None:
    assert action_labels(make_action()) == {
        LABEL_ACTION_NAME: "resize",
        LABEL_ACTION_UID: ACTION_UID,
        LABEL_MANAGED_BY: "asyncaction-operator",
    }


def test_long_action_name_label_fits_the_label_limit() -> None:
    labels = action_labels(make_action(name="long-" * 40 + "name"))
    assert len(labels[LABEL_ACTION_NAME]) <= 63


@pytest.mark.parametrize(
    ("field", "reader"),
    [("name", owner_reference), ("uid", owner_reference), ("namespace", action_namespace)],
)
def test_action_without_identity_is_rejected(
    field: str, reader: Callable[[dict[str, Any]], object]
) -> None:
    action = make_action()
    del action["metadata"][field]
    with pytest.raises(ManifestError, match=f"metadata.{field}"):
        reader(action)


@pytest.mark.parametrize("value", [5, ["resize"], ""])
def test_a_name_that_is_not_a_non_empty_string_is_refused(value: object) -> None:
    action = make_action()
    action["metadata"]["name"] = value
    with pytest.raises(ManifestError, match=r"no metadata\.name"):
        action_labels(action)
