"""When the ActionTemplate an action names was first found missing, per template.

"No handler" is terminal, so an action whose template the API server lacks is given
``TEMPLATE_GRACE_SECONDS`` before it fails: a template applied after its actions (as
GitOps tools may order them) or re-created (``kubectl replace --force``) is briefly
absent. An absence whose grace ended ``TEMPLATE_FORGET_SECONDS`` ago is over: each
action waiting then was reconciled at the grace's end and failed, and a new action
naming the template later (the same typo again) gets a grace, and its explanation, of
its own. Absences that are over are swept, so a name that never comes keeps no entry for
the operator's life.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TEMPLATE_GRACE_SECONDS = 30.0  # a template missing this long fails its waiting actions
TEMPLATE_FORGET_SECONDS = 30.0  # an absence whose grace ended this long ago is over


@dataclass
class TemplateAbsences:
    """First-missing times by ``namespace/name``, on a monotonic clock."""

    grace: float = TEMPLATE_GRACE_SECONDS
    forget_after: float = TEMPLATE_FORGET_SECONDS
    first_missing: dict[str, float] = field(default_factory=dict)
    _swept_at: float = float("-inf")

    def grace_left(self, key: str, now: float) -> float:
        """``key`` is missing now: seconds of its grace left (at most 0: it is over)."""
        self._sweep(now)
        since = self.first_missing.get(key)
        if since is None or self._over(since, now):
            since = self.first_missing[key] = now
        return since + self.grace - now

    def found(self, key: str) -> None:
        """``key`` exists: a later absence is a new one, with its own grace."""
        self.first_missing.pop(key, None)

    def _over(self, since: float, now: float) -> bool:
        return now - since > self.grace + self.forget_after

    def _sweep(self, now: float) -> None:
        """Forget the absences that are over, at most once per ``forget_after``."""
        if now - self._swept_at < self.forget_after:
            return
        self._swept_at = now
        for key in [k for k, since in self.first_missing.items() if self._over(since, now)]:
            del self.first_missing[key]
