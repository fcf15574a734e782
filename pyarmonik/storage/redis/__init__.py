"""Redis adapters of the storage ports: state store, task queue, event bus
and small objects.

Every atomic transition is one Lua script in ``lua/`` (its header lists the
KEYS and ARGV it takes), every key name comes from ``keys``, and the keys of
one session (or of one partition queue) share a hash tag, so that no script
ever spans Redis Cluster slots. Times are never read from Redis (no ``TIME``):
callers pass them in, so an injected clock rules leases in tests and in
production alike.
"""

import redis.exceptions

from pyarmonik.core import errors

# A restarting Redis is a wait, not a bug: callers get UNAVAILABLE, agents retry.
errors.register_transient(
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.BusyLoadingError
)
