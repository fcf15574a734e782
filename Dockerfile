# syntax=docker/dockerfile:1
# The one PyArmoniK image: control plane, agent and operator (and `pyarmonik
# local` for a try-out). The entry point is `pyarmonik`; a Deployment names
# the subcommand (`control-plane`, `agent`, `operator`). Workers bring their
# own image (docker/worker.Dockerfile).
#
#   docker build --build-arg VERSION="$(python -c 'import pyarmonik; print(pyarmonik.__version__)')" -t pyarmonik:0.1.0 .
ARG PYTHON_VERSION=3.11

# -- build: the pyarmonik wheel and the wheels of its dependencies ------------
FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md LICENSE ./
COPY pyarmonik ./pyarmonik
# Dependency versions are bounded in pyproject.toml; the image builds what it allows.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels '.[operator]'

# -- runtime: the wheels installed, no build tool, not root -------------------
FROM python:${PYTHON_VERSION}-slim AS runtime
ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pyarmonik" \
      org.opencontainers.image.description="A Python compute grid that speaks the ArmoniK v3 gRPC API: control plane, agent and Kubernetes operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYARMONIK_HOST=0.0.0.0
# The wheels are bind-mounted from the build stage, so they never become a layer.
# --no-index: only the wheels built above can be installed, so the versions
# are those of the build stage.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels 'pyarmonik[operator]' \
    && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin armonik

WORKDIR /app
# `pyarmonik local --demo` loads its workers and clients from ./examples.
COPY examples ./examples
USER 10001:10001
EXPOSE 5001
ENTRYPOINT ["pyarmonik"]
CMD ["local", "--port", "5001", "--data-dir", "/home/armonik/data"]
