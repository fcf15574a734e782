"""Embedded in-process adapters of the storage ports (one asyncio event loop).

They keep everything in memory: atomicity comes from never awaiting inside a
critical section, so no locks are needed.
"""
