"""Storage ports (``ports``) and their adapters (memory, redis, objects)."""
