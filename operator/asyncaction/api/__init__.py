"""Public API of the custom resources: names, phases and pydantic models."""

from asyncaction.api.names import (
    ACTION_KIND,
    ACTION_PLURAL,
    API_VERSION,
    GROUP,
    QUEUE_KIND,
    QUEUE_PLURAL,
    TEMPLATE_KIND,
    TEMPLATE_PLURAL,
    VERSION,
)
from asyncaction.api.phases import ACTIVE_PHASES, TERMINAL_PHASES, Phase

__all__ = [
    "ACTION_KIND",
    "ACTION_PLURAL",
    "ACTIVE_PHASES",
    "API_VERSION",
    "GROUP",
    "QUEUE_KIND",
    "QUEUE_PLURAL",
    "TEMPLATE_KIND",
    "TEMPLATE_PLURAL",
    "TERMINAL_PHASES",
    "VERSION",
    "Phase",
]
