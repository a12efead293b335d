"""Deterministic names and label values that always fit Kubernetes' length limits.

Child object names are derived from the action's name, which may itself be as long as
the API server allows (253 characters). Rather than failing on long names, a name that
would not fit is cut and given a short hash of the full text: the result stays
deterministic (the operator finds the same child on every pass) and distinct actions with
a common long prefix still get distinct children.
"""

import hashlib

# metav1.ObjectMeta.name for most kinds (DNS-1123 subdomain).
MAX_NAME_LENGTH = 253
# Label values (and DNS-1123 labels, such as the names the Job controller copies into labels).
MAX_LABEL_VALUE_LENGTH = 63

_HASH_LENGTH = 8
# Characters that may not end a DNS name segment or a label value.
_UNSAFE_TAIL = "-._"


def short_hash(text: str) -> str:
    """A stable 8-hex-digit digest of ``text`` (not a secret: only for uniqueness)."""
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]


def bounded_name(base: str, suffix: str = "", limit: int = MAX_NAME_LENGTH) -> str:
    """``base + suffix`` if it fits in ``limit``; else ``base`` cut, hashed, then ``suffix``.

    ``base`` is assumed to be a valid name already (an object name); ``suffix`` starts with
    a separator such as ``-`` or ``.``. The cut never leaves ``-``, ``.`` or ``_`` before the
    hash, which would make an invalid DNS segment.
    """
    if len(base) + len(suffix) <= limit:
        return base + suffix
    room = limit - len(suffix) - _HASH_LENGTH - 1
    if room < 1:
        raise ValueError(f"suffix {suffix!r} leaves no room within {limit} characters")
    head = base[:room].rstrip(_UNSAFE_TAIL)
    digest = short_hash(base)
    return f"{head}-{digest}{suffix}" if head else f"{digest}{suffix}"


def label_value(text: str) -> str:
    """``text`` as a valid label value: unchanged when short enough, else cut and hashed."""
    return bounded_name(text, "", MAX_LABEL_VALUE_LENGTH)
