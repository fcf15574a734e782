"""Pure builders of the objects the operator applies, one module per part.

Each ``build_*`` takes the owner's body as kopf gives it (``apiVersion``,
``kind``, ``metadata``, ``spec``; the spec defaulted or not) and returns one
object as a dict; :func:`cluster.build_cluster_children` and
:func:`partition.build_partition_children` return all of an owner's. No I/O,
no randomness, no clock: the same body builds the same objects, which is what
lets the handlers apply them on every change and the tests validate them.
"""
