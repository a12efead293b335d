"""The task records of actions with ``spec.tasks``: the code lives in
``asyncaction_client.taskbook`` (the CLI reads these records in a client-only install,
which carries no ``asyncaction``); the operator and the hook import it from here."""

from asyncaction_client.taskbook import *  # noqa: F403
from asyncaction_client.taskbook import __all__ as __all__
