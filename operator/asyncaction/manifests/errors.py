"""The one error the manifest builders raise.

A ``ManifestError`` means the *user's* objects cannot be turned into valid children (an
empty pod template, a command the data plane cannot wrap, an action without identity).
The reconciler turns it into a failed action with a readable message instead of a crash
loop, so its message is written for the person who submitted the action.
"""


class ManifestError(ValueError):
    """The action (or its template) cannot be rendered into valid Kubernetes objects."""
