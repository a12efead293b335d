"""The AsyncAction operator: runs units of work described by ``AsyncAction`` resources.

Sub-packages keep pure data apart from I/O: ``asyncaction.api`` holds the resource
models (the one source of the CRD schemas), ``asyncaction.lifecycle`` the pure state
machine, ``asyncaction.manifests`` the pure ``build_*`` functions, and ``asyncaction.kube``
the narrow async client the kopf handlers use to talk to the API server.
"""

__version__ = "0.1.0"
