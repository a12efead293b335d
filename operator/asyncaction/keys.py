"""Per-action, per-attempt job keys derived from master keys (contract, section 2).

Only the operator and the job hook hold the master keys. The operator writes the key of
an action's CURRENT attempt into the action's Secret (jobs receive it as
``JOB_SECRET_KEY``); the hook derives the same key from what its watch of actions tells
it (namespace, uid, attempt), so it never reads a Secret. Whatever a tenant creates (a
Secret with a victim's labels, say) cannot change which key the hook accepts, and a job
of an earlier attempt holds a key the hook no longer accepts.

Rotation: the master keys file holds one key per line. The first line issues keys,
every line is accepted. To rotate, add the new key as the first line (both processes
re-read the file), and remove the old one once the attempts started under it ended.

Pure, apart from ``load_master_keys`` and ``MasterKeysFile`` reading the file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from pathlib import Path

#: The environment variable naming the operator's master keys file (the hook takes
#: ``--master-keys-file``).
MASTER_KEYS_ENV = "ASYNCACTION_MASTER_KEYS_FILE"
#: Shortest master key accepted: 32 characters of a random key carry well over the
#: contract's 256 bits when drawn from ``secrets.token_urlsafe(32)`` (43 characters).
MIN_MASTER_KEY_CHARS = 32
_DOMAIN = b"asyncaction.dev/job-key/v1"


class MasterKeyError(ValueError):
    """The master keys file is missing, empty or holds a key too short to be safe."""


def derive_action_key(master: bytes, namespace: str, uid: str, attempt: int) -> str:
    """The job key of ``attempt`` of the action ``namespace``/``uid``.

    HMAC-SHA256 of the master key over a domain tag and the three values, separated by
    a byte no Kubernetes name or uid contains, as unpadded URL-safe base64: 256 bits,
    ASCII, so it signs the same under the seed's latin-1 encoding.
    """
    if attempt < 1:
        raise ValueError(f"attempts count from 1, not {attempt}")
    message = b"\0".join((_DOMAIN, namespace.encode(), uid.encode(), str(attempt).encode()))
    digest = hmac.new(master, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class MasterKeys:
    """The master keys in file order: ``issuing`` signs new keys, all are accepted."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise MasterKeyError("no master key")
        for key in self.keys:
            if len(key) < MIN_MASTER_KEY_CHARS:
                raise MasterKeyError(
                    f"a master key is shorter than {MIN_MASTER_KEY_CHARS} characters"
                )

    @property
    def issuing(self) -> bytes:
        return self.keys[0]

    def issue(self, namespace: str, uid: str, attempt: int) -> str:
        """The key the operator gives ``attempt`` of this action."""
        return derive_action_key(self.issuing, namespace, uid, attempt)

    def accepted(self, namespace: str, uid: str, attempt: int) -> tuple[str, ...]:
        """Every key the hook accepts for ``attempt`` of this action (one per master key)."""
        return tuple(derive_action_key(k, namespace, uid, attempt) for k in self.keys)

    @classmethod
    def parse(cls, text: str) -> MasterKeys:
        """One key per line; blank lines and lines starting with ``#`` are ignored."""
        lines = (line.strip() for line in text.splitlines())
        return cls(tuple(line.encode() for line in lines if line and not line.startswith("#")))


def load_master_keys(path: str | Path) -> MasterKeys:
    """Read and check the master keys file (the message never contains a key)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise MasterKeyError(f"cannot read the master keys file {path}: {exc}") from exc
    try:
        return MasterKeys.parse(text)
    except MasterKeyError as exc:
        raise MasterKeyError(f"{path}: {exc}") from exc


class MasterKeysFile:
    """The master keys file, re-read when it changes (rotation without a restart).

    ``current()`` stats the file at most every ``check_seconds``; a file that became
    unreadable or invalid keeps the last good keys (and the error is raised only when
    there never were any), so a half-written rotation cannot lock jobs out.
    """

    def __init__(self, path: str | Path, check_seconds: float = 5.0) -> None:
        self.path = Path(path)
        self.check_seconds = check_seconds
        self._keys = load_master_keys(self.path)
        self._stamp = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def current(self) -> MasterKeys:
        now = time.monotonic()
        if now - self._checked >= self.check_seconds:
            self._checked = now
            stamp = self._stat()
            if stamp is not None and stamp != self._stamp:
                try:
                    self._keys = load_master_keys(self.path)
                    self._stamp = stamp
                except MasterKeyError:
                    pass  # keep the last good keys; the next change is tried again
        return self._keys
