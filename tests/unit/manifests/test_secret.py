import base64
import json

from asyncaction.api.names import (
    LABEL_ACTION_NAME,
    LABEL_ACTION_UID,
    LABEL_MANAGED_BY,
    SECRET_KEY_FIELD,
)
from asyncaction.manifests import build_secret, new_secret_key, secret_name_for
from tests.unit.manifests.samples import ACTION_UID, make_action

KEY = "k3y-value-that-must-stay-in-the-secret-data-only"


def test_secret_name_is_derived_from_the_action_name() -> None:
    assert secret_name_for("resize") == "resize-job-secret"
    assert secret_name_for("resize") == secret_name_for("resize")


def test_secret_name_of_a_maximal_action_name_fits() -> None:
    long_a, long_b = "a" * 252 + "b", "a" * 252 + "c"
    assert len(secret_name_for(long_a)) <= 253
    assert secret_name_for(long_a).endswith("-job-secret")
    assert secret_name_for(long_a) != secret_name_for(long_b)


def test_new_secret_keys_are_long_and_random() -> None:
    keys = {new_secret_key() for _ in range(20)}
    assert len(keys) == 20
    # token_urlsafe(32): 32 bytes = 256 bits, encoded as 43 URL-safe characters.
    assert all(len(key) >= 43 for key in keys)


def test_secret_is_a_mutable_opaque_secret_in_the_action_namespace() -> None:
    """Mutable: a new attempt's derived key replaces the last one (asyncaction.keys)."""
    secret = build_secret(make_action(), KEY)
    assert secret["apiVersion"] == "v1"
    assert secret["kind"] == "Secret"
    assert secret["type"] == "Opaque"
    assert "immutable" not in secret
    assert secret["metadata"]["name"] == "resize-job-secret"
    assert secret["metadata"]["namespace"] == "team-a"


def test_secret_holds_the_key_base64_encoded_under_the_contract_field() -> None:
    secret = build_secret(make_action(), KEY)
    assert list(secret["data"]) == [SECRET_KEY_FIELD]
    assert base64.b64decode(secret["data"][SECRET_KEY_FIELD]).decode() == KEY
    assert "stringData" not in secret


def test_secret_is_labelled_and_owned_by_the_action() -> None:
    meta = build_secret(make_action(), KEY)["metadata"]
    assert meta["labels"] == {
        LABEL_ACTION_NAME: "resize",
        LABEL_ACTION_UID: ACTION_UID,
        LABEL_MANAGED_BY: "asyncaction-operator",
    }
    (owner,) = meta["ownerReferences"]
    assert owner["uid"] == ACTION_UID
    assert owner["kind"] == "AsyncAction"
    assert owner["controller"] is True
    assert owner["blockOwnerDeletion"] is True


def test_key_appears_nowhere_but_in_the_data() -> None:
    secret = build_secret(make_action(), KEY)
    without_data = {k: v for k, v in secret.items() if k != "data"}
    assert KEY not in json.dumps(without_data)
    assert KEY not in json.dumps(secret)  # the data holds it base64-encoded only


def test_the_whole_secret_records_its_attempt() -> None:
    from asyncaction.api.names import ANNOTATION_KEY_ATTEMPT
    from asyncaction.manifests import owner_reference

    action = make_action()
    assert build_secret(action, KEY, attempt=2) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "resize-job-secret",
            "namespace": "team-a",
            "labels": {
                LABEL_ACTION_NAME: "resize",
                LABEL_ACTION_UID: ACTION_UID,
                LABEL_MANAGED_BY: "asyncaction-operator",
            },
            "ownerReferences": [owner_reference(action)],
            "annotations": {ANNOTATION_KEY_ATTEMPT: "2"},
        },
        "type": "Opaque",
        "data": {SECRET_KEY_FIELD: base64.b64encode(KEY.encode()).decode()},
    }
    assert "annotations" not in build_secret(action, KEY)["metadata"]
