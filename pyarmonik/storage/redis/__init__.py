"""Redis adapters of the storage ports: task queue and event bus.

Every atomic transition is one Lua script in ``lua/`` (its header lists the
KEYS and ARGV it takes), every key name comes from ``keys``, and the keys of
one session (or of one partition queue) share a hash tag, so that no script
ever spans Redis Cluster slots. Times are never read from Redis (no ``TIME``):
callers pass them in, so an injected clock rules leases in tests and in
production alike.
"""
