"""A Jepsen-style history checker for cluster coherence (issue 20).

Concurrent clients on every replica record each operation with its replica, invocation and
completion time and result (`history`); nemeses pause, kill and restart replicas and PostgreSQL
meanwhile (`nemesis`); the checker then judges every read against the writes acknowledged before it
was invoked, and the final state against every acknowledgement (`checker`). `workload.run` ties them
together; `tests/cluster/test_history.py` runs the short form, `scripts/coherence` the long one.
"""
