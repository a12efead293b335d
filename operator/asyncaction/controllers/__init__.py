"""Domain controllers on top of ``asyncaction.runtime``.

The AsyncAction controller, from what it reads to what it writes:

- ``caches``: the informers' summaries of actions, Jobs, Pods and Secrets, and their
  indexes; ``compact`` shares equal values across those summaries;
- ``action_reads``: what one reconcile reads of an action from the caches;
- ``actions``: the controller itself (events become keys, the pure lifecycle decides,
  the effects run in order);
- ``executor``: runs each ``Effect`` of a decision (the Job, removals, Events), with
  ``job_secrets`` (the per-attempt key Secret) and ``status_writes`` (the status patch,
  read back when a write may have landed) beside it, all through ``api_writes`` (every
  write counted and its answer put into the caches);
- ``admission``: per-queue priority heaps and free slots;
- ``action_metrics``: what each change of an action counts.

And the others:

- ``queues``: the ActionQueue controller (limits in, status counts out);
- ``schedules``: the ActionSchedule controller (cron in, actions out);
- ``manager``: builds and runs them under leader election.
"""
