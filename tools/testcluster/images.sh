#!/usr/bin/env bash
# Builds the container images the end-to-end cluster runs, with no registry, as `docker save` tars:
#   ${PIXELGATE_IMAGES:-$HOME/.cache/pixelgate/images}/<name>-<key>.tar
#
#   pause     the pod sandbox: a static C program (images/pause.c)              key: its source
#   argoexec  Argo's executor: the argoexec binary from build.sh, a CA bundle   key: Argo's version
#   operator, steps, train
#             the project's own images, built by `images/build.sh` from their Dockerfiles with a
#             private dockerd, on a Debian bookworm base made with debootstrap   key: the build context
#
# Usage: bash tools/testcluster/images.sh [--print] [name ...]   (default: pause argoexec operator steps)
#   --print  build what is missing, then print one "name ref tar" line per image (the e2e fixture
#            reads them).
# Idempotent: an image whose tar exists for its key is not rebuilt. Needs root (dockerd, debootstrap)
# and build.sh's node-runtime and argoexec.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
BIN_DIR="${PIXELGATE_TOOLS:-$HOME/.cache/pixelgate/bin}"
CACHE="$(dirname "$BIN_DIR")"
OUT="${PIXELGATE_IMAGES:-$CACHE/images}"
LOG_DIR="$CACHE/logs"
mkdir -p "$OUT" "$LOG_DIR"

PRINT=0
if [ "${1:-}" = "--print" ]; then PRINT=1; shift; fi
NAMES=("$@")
[ "${#NAMES[@]}" -gt 0 ] || NAMES=(pause argoexec operator steps)

TAG="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -n1)"
BASE_IMAGE=local/python:3.11-bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# The build context images/build.sh stages; its content is the project images' cache key.
context_key() {
  (cd "$ROOT" && find pyproject.toml README.md constraints.txt workflows operator images -type f \
      ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

key_of() {
  case "$1" in
    pause) sha256sum "$HERE/images/pause.c" "$HERE/images/mkimage.py" | sha256sum | cut -c1-16 ;;
    argoexec) echo "$ARGO_VERSION-$(sha256sum "$HERE/images/mkimage.py" | cut -c1-8)" ;;
    operator | steps | train) context_key ;;
    *) echo "images.sh: no image named $1 (pause argoexec operator steps train)" >&2; return 2 ;;
  esac
}

ref_of() {
  case "$1" in
    pause) echo "local/pause:$(key_of pause)" ;;
    argoexec) echo "local/argoexec:$ARGO_VERSION" ;;
    *) echo "ghcr.io/pixelgate/pixelgate-$1:$TAG" ;;
  esac
}

DOCKERD_PID=""
stop_dockerd() {
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=""
  fi
}
trap stop_dockerd EXIT

# A dockerd of our own (its data in the cache, so layers survive between runs), unless DOCKER_HOST
# names one already.
ensure_docker() {
  [ -z "${DOCKER_HOST:-}" ] || return 0
  [ -z "$DOCKERD_PID" ] || return 0
  local run=/run/pixelgate-docker
  mkdir -p "$run" "$CACHE/docker"
  export DOCKER_HOST="unix://$run/docker.sock"
  dockerd --data-root "$CACHE/docker" --exec-root "$run/exec" --pidfile "$run/dockerd.pid" \
    -H "$DOCKER_HOST" --bridge=none --iptables=false --ip-masq=false --ip-forward=false \
    >"$LOG_DIR/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  local i
  for i in $(seq 1 60); do
    docker version >/dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  echo "images.sh: dockerd did not start; last lines of $LOG_DIR/dockerd.log:" >&2
  tail -n 20 "$LOG_DIR/dockerd.log" >&2
  return 1
}

# Debian bookworm with python3 and venv, as the Dockerfiles' base (their PYTHON_IMAGE).
ensure_base() {
  local rootfs_tar="$OUT/base-python-bookworm.tar"
  if [ ! -f "$rootfs_tar" ]; then
    local dir="$CACHE/rootfs.tmp.$$"
    echo "== base: debootstrap bookworm ($MIRROR) ..."
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$dir" "$MIRROR" \
      >"$LOG_DIR/debootstrap.log" 2>&1 || { tail -n 20 "$LOG_DIR/debootstrap.log" >&2; rm -rf "$dir"; return 1; }
    tar -C "$dir" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf "$dir"
  fi
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return 0
  docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'ENV LANG=C.UTF-8' \
    "$rootfs_tar" "$BASE_IMAGE" >/dev/null
}

build_image() {
  local name="$1" tar="$2" ref="$3" scratch
  case "$name" in
    pause)
      scratch="$(mktemp -d)"
      gcc -static -O2 -o "$scratch/pause" "$HERE/images/pause.c"
      python3 "$HERE/images/mkimage.py" "$tar" "$ref" "$scratch/pause=/pause" --entrypoint /pause >/dev/null
      rm -rf "$scratch"
      ;;
    argoexec)
      local bin="$BIN_DIR/argoexec-$ARGO_VERSION"
      [ -x "$bin" ] || { echo "images.sh: $bin is missing; run: bash tools/testcluster/build.sh argoexec" >&2; return 1; }
      scratch="$(mktemp -d)"
      echo "argo:x:8737:8737::/home/argo:/sbin/nologin" >"$scratch/passwd"
      python3 "$HERE/images/mkimage.py" "$tar" "$ref" "$bin=/bin/argoexec" \
        /etc/ssl/certs/ca-certificates.crt=/etc/ssl/certs/ca-certificates.crt "$scratch/passwd=/etc/passwd" \
        --entrypoint argoexec --user 8737 --env PATH=/bin >/dev/null
      rm -rf "$scratch"
      ;;
    *)
      ensure_docker
      ensure_base
      PYTHON_IMAGE="$BASE_IMAGE" DOCKER_BUILDKIT=0 bash "$ROOT/images/build.sh" "$name" >"$LOG_DIR/image-$name.log" 2>&1 \
        || { echo "images.sh: images/build.sh $name failed; last lines of $LOG_DIR/image-$name.log:" >&2
             tail -n 30 "$LOG_DIR/image-$name.log" >&2; return 1; }
      docker save -o "$tar.tmp" "$ref" && mv "$tar.tmp" "$tar"
      # The tar is the image now: drop it and the build's leftovers from dockerd (gigabytes each).
      docker rmi "$ref" >/dev/null && docker image prune -f >/dev/null
      ;;
  esac
}

for name in "${NAMES[@]}"; do
  key="$(key_of "$name")"
  ref="$(ref_of "$name")"
  tar="$OUT/$name-$key.tar"
  if [ ! -f "$tar" ]; then
    start=$(date +%s)
    echo "== $name: building $ref ..." >&2
    rm -f "$OUT/$name"-*.tar  # older keys of the same image
    build_image "$name" "$tar" "$ref"
    echo "== $name: built in $(( $(date +%s) - start ))s, $(du -m "$tar" | cut -f1) MB -> $tar" >&2
    echo "image $name $ref built in $(( $(date +%s) - start ))s at $(date -u +%FT%TZ), $(du -m "$tar" | cut -f1) MB" >>"$LOG_DIR/build-times.txt"
  else
    echo "== $name: cached at $tar" >&2
  fi
  [ "$PRINT" = 0 ] || echo "$name $ref $tar"
done
