from datetime import UTC, datetime

from asyncaction.runtime.leader import lease_expired

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def test_a_lease_without_holder_is_free() -> None:
    assert lease_expired({}, NOW)
    assert lease_expired({"holderIdentity": None, "renewTime": "2026-11-23T12:00:00.000000Z"}, NOW)


def test_a_lease_expires_after_its_duration_since_the_last_renewal() -> None:
    spec = {
        "holderIdentity": "other",
        "leaseDurationSeconds": 15,
        "renewTime": "2026-11-23T11:59:50.000000Z",
    }
    assert not lease_expired(spec, NOW)
    assert lease_expired({**spec, "renewTime": "2026-11-23T11:59:40.000000Z"}, NOW)
    assert lease_expired({"holderIdentity": "other", "leaseDurationSeconds": 15}, NOW)
