import os
import re
from pathlib import Path

import pytest

from asyncaction.keys import (
    MasterKeyError,
    MasterKeys,
    MasterKeysFile,
    derive_action_key,
    load_master_keys,
)

MASTER = b"m" * 48
UID = "0b9f1a52-52d4-4bd6-9b4f-8f7c0a0e1c11"


def test_keys_are_256_bits_of_ascii_and_bound_to_namespace_uid_and_attempt() -> None:
    key = derive_action_key(MASTER, "team-a", UID, 1)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key)  # 32 bytes, unpadded base64url
    assert key == derive_action_key(MASTER, "team-a", UID, 1)  # deterministic
    others = {
        derive_action_key(MASTER, "team-b", UID, 1),
        derive_action_key(MASTER, "team-a", UID.replace("0b", "0c"), 1),
        derive_action_key(MASTER, "team-a", UID, 2),
        derive_action_key(b"n" * 48, "team-a", UID, 1),
        # no ambiguity from concatenation: ("ab", "c...") differs from ("a", "bc...")
        derive_action_key(MASTER, "team-a" + UID[:1], UID[1:], 1),
    }
    assert key not in others
    assert len(others) == 5


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        derive_action_key(MASTER, "ns", UID, 0)


def test_the_first_key_issues_and_every_key_is_accepted() -> None:
    keys = MasterKeys.parse("# rotated 2026-11\nnew-" + "x" * 40 + "\n\n  old-" + "y" * 40 + "\n")
    assert keys.issuing == b"new-" + b"x" * 40
    assert keys.issue("ns", UID, 2) == derive_action_key(keys.issuing, "ns", UID, 2)
    accepted = keys.accepted("ns", UID, 2)
    assert accepted == (
        derive_action_key(b"new-" + b"x" * 40, "ns", UID, 2),
        derive_action_key(b"old-" + b"y" * 40, "ns", UID, 2),
    )


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "short\n"])
def test_missing_or_weak_keys_are_refused(text: str) -> None:
    with pytest.raises(MasterKeyError):
        MasterKeys.parse(text)


def test_the_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("a" * 40 + "\n")
    watched = MasterKeysFile(path, check_seconds=0)
    assert watched.current().keys == (b"a" * 40,)
    path.write_text("b" * 40 + "\n" + "a" * 40 + "\n" + "extra-to-change-size" * 3 + "\n")
    assert watched.current().keys == (b"b" * 40, b"a" * 40, b"extra-to-change-size" * 3)
    path.write_text("x\n")  # a broken rotation keeps the last good keys
    assert watched.current().issuing == b"b" * 40
    with pytest.raises(MasterKeyError, match="cannot read"):
        load_master_keys(tmp_path / "missing")


def test_a_key_of_exactly_the_minimum_length_is_accepted() -> None:
    assert MasterKeys.parse("k" * 32).issuing == b"k" * 32
    with pytest.raises(MasterKeyError, match="shorter than 32 characters"):
        MasterKeys.parse("k" * 31)


class FakeMonotonic:
    """time.monotonic under the test's control: the re-read interval without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write_keeping_stat(path: Path, text: str) -> None:
    """New content of the same size with the old mtime: a stat cannot tell it changed."""
    before = path.stat()
    path.write_text(text)
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_the_file_is_stat_ed_at_most_every_check_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeMonotonic()
    monkeypatch.setattr("asyncaction.keys.time.monotonic", clock)
    path = tmp_path / "keys"
    path.write_text("a" * 40 + "\n")
    watched = MasterKeysFile(path)  # the default interval: 5 s
    path.write_text("b" * 40 + "\nc" + "\n")  # another size: a change a stat sees
    clock.now += 4.999
    assert watched.current().issuing == b"a" * 40  # not looked at yet
    clock.now = 1005.0
    with pytest.raises(MasterKeyError):
        MasterKeys.parse(path.read_text())  # "c" is too short: a broken rotation
    assert watched.current().issuing == b"a" * 40  # looked, kept the last good keys
    path.write_text("b" * 40 + "\n")
    clock.now = 1009.999
    assert watched.current().issuing == b"a" * 40  # the check at 1005 reset the interval
    clock.now = 1010.0
    assert watched.current().issuing == b"b" * 40


def test_an_unchanged_stat_is_not_reread(tmp_path: Path) -> None:
    """The file is re-read only when its (mtime, size) changed, on start and after a reload."""
    path = tmp_path / "keys"
    path.write_text("a" * 40 + "\n")
    watched = MasterKeysFile(path, check_seconds=0)
    write_keeping_stat(path, "z" * 40 + "\n")
    assert watched.current().issuing == b"a" * 40
    path.write_text("b" * 41 + "\n")
    assert watched.current().issuing == b"b" * 41
    write_keeping_stat(path, "y" * 41 + "\n")
    assert watched.current().issuing == b"b" * 41
    path.unlink()  # a missing file keeps the keys
    assert watched.current().issuing == b"b" * 41


def test_a_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("short\n")
    with pytest.raises(MasterKeyError, match=f"^{re.escape(str(path))}: a master key is shorter"):
        load_master_keys(path)
