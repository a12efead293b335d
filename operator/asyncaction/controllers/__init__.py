"""Domain controllers on top of ``asyncaction.runtime``.

- ``actions``: the AsyncAction controller (caches in, pure lifecycle, writes out);
- ``admission``: per-queue priority heaps and free slots;
- ``queues``: the ActionQueue controller (limits in, status counts out);
- ``manager``: builds and runs them under leader election.
"""
