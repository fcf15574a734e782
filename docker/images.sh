#!/usr/bin/env bash
# Builds (and with --push, pushes) the two images of the Kubernetes path, named
# as the README, the chart and the examples name them:
#
#   [REGISTRY/]pyarmonik:TAG                     the Dockerfile: control plane, agents, operator
#   [REGISTRY/]pyarmonik-hello-world-worker:TAG  docker/worker.Dockerfile with examples/hello_world
#
# TAG defaults to the PyArmoniK version (pyarmonik/__init__.py), which is the
# chart's appVersion, so `helm install --set image.repository=REGISTRY/pyarmonik`
# needs no tag. Without a REGISTRY the names are local (kind load, minikube).
#
#   docker/images.sh [--push] [--dry-run] [--tag TAG] [REGISTRY]
#
# --dry-run prints the docker commands instead of running them.
set -euo pipefail

usage() {
  sed -n '2,14s/^# \{0,1\}//p' "$0"
  exit "${1:-0}"
}

root="$(cd "$(dirname "$0")/.." && pwd)"
version="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$root/pyarmonik/__init__.py")"
tag="$version"
push=false
dry_run=false
registry=""
while [ $# -gt 0 ]; do
  case "$1" in
    --push) push=true ;;
    --dry-run) dry_run=true ;;
    --tag) [ $# -ge 2 ] || { echo "images.sh: --tag needs a value" >&2; exit 2; }; tag="$2"; shift ;;
    -h|--help) usage ;;
    -*) echo "images.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$registry" ] || { echo "images.sh: one registry only, got $registry and $1" >&2; exit 2; }
       registry="${1%/}" ;;
  esac
  shift
done
if $push && [ -z "$registry" ]; then
  echo "images.sh: --push needs a REGISTRY (e.g. ghcr.io/you): a local name has nowhere to go" >&2
  exit 2
fi

prefix="${registry:+$registry/}"
image="${prefix}pyarmonik:${tag}"
worker="${prefix}pyarmonik-hello-world-worker:${tag}"
revision="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"

run() {
  if $dry_run; then
    printf '%q ' "$@" | sed 's/ $//'
    echo
  else
    "$@"
  fi
}

run docker build --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --tag "$image" "$root"
run docker build --file "$root/docker/worker.Dockerfile" --tag "$worker" "$root/examples/hello_world"
if $push; then
  run docker push "$image"
  run docker push "$worker"
fi

{
  echo "images: $image $worker"
  if [ -n "$registry" ]; then
    extra=""
    [ "$tag" = "$version" ] || extra=" --set image.tag=$tag"
    echo "install: helm install pyarmonik charts/pyarmonik --namespace pyarmonik --create-namespace" \
      "--set image.repository=${prefix}pyarmonik${extra}"
  fi
} >&2
