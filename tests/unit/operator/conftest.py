"""Fixtures of the operator's unit tests: fresh bodies for every test, since
some tests change them."""

from __future__ import annotations

from typing import Any

import k8s_bodies
import pytest

from pyarmonik.operator.builders import object_storage


@pytest.fixture
def cluster_body() -> dict[str, Any]:
    return k8s_bodies.load_example("cluster.yaml")


@pytest.fixture
def cpu_partition_body() -> dict[str, Any]:
    return k8s_bodies.load_example("partition-cpu.yaml")


@pytest.fixture
def gpu_partition_body() -> dict[str, Any]:
    return k8s_bodies.load_example("partition-gpu.yaml")


@pytest.fixture
def full_cluster_body() -> dict[str, Any]:
    return k8s_bodies.full_cluster_body()


@pytest.fixture
def full_partition_body() -> dict[str, Any]:
    return k8s_bodies.full_partition_body()


@pytest.fixture
def credentials() -> dict[str, str]:
    return object_storage.new_minio_credentials()
