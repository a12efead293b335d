"""kopf, imported without the Kubernetes client libraries it would load for nothing.

kopf imports ``kubernetes`` and ``kubernetes_asyncio`` when they are installed (they are:
the Python client and the test bed use them) only to recognise their model objects in
its adoption helpers, and to log in through them when no login handler is registered
(the default registry probes for them when it is made).
The operator hands kopf no such object and registers its own login
(``asyncaction.handlers``), and the two libraries cost the process about 40 MiB of
resident memory (issue 13: at most 300 MiB at 100,000 actions, measured in
``docs/performance.md``). They are hidden while kopf is imported, which kopf supports
(its ``_cogs.helpers.thirdparty`` falls back when they are absent), and importable
again right after, for any code that needs them.
"""

from __future__ import annotations

import sys

_CLIENTS = ("kubernetes", "kubernetes_asyncio")
_hidden = [name for name in _CLIENTS if name not in sys.modules]
for _name in _hidden:
    sys.modules[_name] = None  # type: ignore[assignment]  # import raises ImportError
try:
    import kopf

    # The default registry, made on the first ``@kopf.on`` decorator, probes for the
    # clients to choose its fallback logins: made now, it falls back to kopf's own
    # kubeconfig and service-account logins (the operator's login handler comes first).
    kopf.get_default_registry()
finally:
    for _name in _hidden:
        if sys.modules.get(_name, ...) is None:
            del sys.modules[_name]

__all__ = ["kopf"]
