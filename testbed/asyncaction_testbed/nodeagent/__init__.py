"""The local node agent: a dev/test-only stand-in for the kubelet.

This machine has no container runtime, so the agent plays the node: it registers a
Node, binds pending Pods to it (there is no scheduler either), runs each container's
``command`` + ``args`` as a local process with the Pod's environment resolved, and
reports Pod status through the status subresource, so the real Job controller drives
retries, completions and failures.

What differs from a kubelet, on purpose:

- Images are not pulled: the command runs on the host. ``PATH`` starts with the
  directory of the agent's Python, so ``python3`` means the project's environment.
- Host variables passed through: ``PATH``, ``HOME``, ``LANG``, ``LC_ALL``, ``TMPDIR``,
  ``PYTHONPATH`` (so commands find the interpreter and its packages); everything else
  comes from the Pod spec.
- ``restartPolicy`` is treated as ``Never``: a failed container fails the Pod, and the
  Job controller creates a new Pod, which is what Jobs do with ``Never``.
- Each pod runs in a fresh temporary directory (removed when it ends) unless a
  container sets ``workingDir``.
- No volumes, probes, resources or networking: the pod IP is 127.0.0.1.

Run it: ``python -m asyncaction_testbed.nodeagent --kubeconfig K --log-dir D``.
"""

from asyncaction_testbed.nodeagent.env import EnvError, expand, resolve_env
from asyncaction_testbed.nodeagent.status import pod_log_path

__all__ = ["EnvError", "expand", "pod_log_path", "resolve_env"]
