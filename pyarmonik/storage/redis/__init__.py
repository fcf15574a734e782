"""Redis adapters of the storage ports: state store, task queue, event bus
and small objects.

Every atomic transition is one function of the ``pyarmonik`` Redis Functions
library (``library``; its Lua in ``lua/``, each file's header listing its
functions and their arguments), every key name comes from ``keys``. The
keys of one session (or of one partition queue) share a hash tag, but the
agent's functions span both: a single-primary Redis >= 7.0 (or Valkey >=
7.2), not Redis Cluster. Times are never read from Redis (no ``TIME``):
callers pass them in, so an injected clock rules leases in tests and in
production alike.
"""

import redis.exceptions

from pyarmonik.core import errors

# A restarting Redis is a wait, not a bug: callers get UNAVAILABLE, agents retry.
errors.register_transient(
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.BusyLoadingError
)
