"""The PyArmoniK Kubernetes operator.

It turns ``ArmoniKCluster`` and ``ArmoniKPartition`` custom resources (group
``pyarmonik.io``) into the Deployments, StatefulSets, Services and budgets of
a grid. The CRDs are generated from :mod:`pyarmonik.operator.crds`; each
resource is parsed once into typed specs (:mod:`pyarmonik.operator.model`),
from which every child object is built by a pure ``build_*() -> dict``
function under :mod:`pyarmonik.operator.builders`, so that what the operator
applies can be unit-tested and schema-validated without a cluster. The grids'
state and queues are reached through the storage ports
(:mod:`pyarmonik.operator.grids`). Settings reach the pods
only as environment variables rendered from the settings models
(:mod:`pyarmonik.operator.env`).

Named ``operator`` inside ``pyarmonik`` because a top-level ``operator``
package would shadow the standard library's. ``kopf`` and ``kubernetes`` are
imported only under this package (an import contract says so) and come with
the ``operator`` extra.
"""
