# syntax=docker/dockerfile:1
# The base recipe for a Python ArmoniK worker, built on the official `armonik`
# SDK only: nothing PyArmoniK-specific is in it, so the same image runs on
# ArmoniK and on PyArmoniK. The worker script talks to its agent over the
# unix sockets the partition's pod shares (ComputePlane__*Channel__Address).
#
#   docker build -f docker/worker.Dockerfile -t pyarmonik-hello-world-worker:0.1.0 examples/hello_world
#
# For your own worker: build from your worker's folder (WORKER_SCRIPT names the
# script in it) and pin the SDK the way your project pins dependencies.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim
ARG ARMONIK_VERSION=3.29.4
ARG WORKER_SCRIPT=worker.py
LABEL org.opencontainers.image.title="armonik-python-worker" \
      org.opencontainers.image.description="An ArmoniK worker written with the official armonik Python SDK"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN pip install --no-cache-dir "armonik==${ARMONIK_VERSION}" \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin armonik
WORKDIR /worker
COPY ${WORKER_SCRIPT} ./worker.py
USER 10001:10001
CMD ["python", "worker.py"]
