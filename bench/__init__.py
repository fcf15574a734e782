"""``python -m bench``: one command that runs the same workload through
PyArmoniK (embedded grid, separate-process Redis + S3 deployment), the floor
(the official worker SDK driven by an agent that does nothing else) and,
with ``--peers``, Dask, Celery and Ray, and reports them side by side.

The older single-purpose scripts beside this package (``bench_*.py``) are
run as files and are no part of it.
"""
