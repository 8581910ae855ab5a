#!/usr/bin/env bash
# Builds (or finds already cached) the real servers and CLIs the tests run:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, etcd, versitygw (S3), helm,
#   argo, Argo's workflow-controller and argoexec, argo-ui (argo with the web UI embedded), and
#   installs Debian's prometheus/promtool, rclone, chromium, and the node runtime (containerd,
#   runc, CNI plugins, iptables, debootstrap, docker.io) when they are missing.
#
# Usage: bash tools/testcluster/build.sh [name ...]
#   names: kube-apiserver kube-controller-manager kube-scheduler kubelet etcd versitygw helm argo
#          workflow-controller argoexec argo-ui prometheus rclone chromium node-runtime grafana-check
#   (default: all). Idempotent: a binary already cached at its version is skipped.
#
# Binaries go to ${PIXELGATE_TOOLS:-$HOME/.cache/pixelgate/bin}/<name>-<version>;
# nothing is written into the repository.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"

BIN_DIR="${PIXELGATE_TOOLS:-$HOME/.cache/pixelgate/bin}"
LOG_DIR="$(dirname "$BIN_DIR")/logs"
SRC_DIR="$(dirname "$BIN_DIR")/src"
mkdir -p "$BIN_DIR" "$LOG_DIR" "$SRC_DIR"

if command -v go >/dev/null 2>&1; then
  GO="$(command -v go)"
elif [ -x /usr/local/go/bin/go ]; then
  GO=/usr/local/go/bin/go
else
  echo "build.sh: no Go toolchain found (need go >= 1.25 on PATH or /usr/local/go/bin/go)" >&2
  exit 1
fi
export GOFLAGS="${GOFLAGS:--mod=mod}"
export CGO_ENABLED="${CGO_ENABLED:-0}"

status=0

# versions.env and the go.mod files must agree, or the cache key would lie.
check_pin() {
  local modfile="$1" module="$2" version="$3"
  if ! grep -Eq "^[[:space:]]*(require[[:space:]]+)?$module[[:space:]]+$version([[:space:]]|$)" "$HERE/$modfile"; then
    echo "build.sh: $modfile does not require $module $version (versions.env); fix one of them" >&2
    exit 1
  fi
}
check_pin kube/go.mod k8s.io/kubernetes "$KUBERNETES_VERSION"
check_pin etcd/go.mod go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
check_pin helm/go.mod helm.sh/helm/v3 "$HELM_VERSION"
check_pin argo/go.mod github.com/argoproj/argo-workflows/v3 "$ARGO_VERSION"
check_pin versitygw/go.mod github.com/versity/versitygw "$VERSITYGW_VERSION"
check_pin grafana-check/go.mod github.com/grafana/grafana-foundation-sdk/go "$GRAFANA_SDK_VERSION"

# build NAME VERSION MODULE_DIR PACKAGE LDFLAGS
build() {
  local name="$1" version="$2" dir="$3" pkg="$4" ldflags="$5"
  local out="$BIN_DIR/$name-$version"
  if [ -x "$out" ]; then
    echo "== $name $version: cached at $out ($(du -m "$out" | cut -f1) MB)"
    return 0
  fi
  # Another build.sh may be building the same binary: wait for it instead of
  # compiling twice (the lock is released by closing fd at the end).
  local lock="$BIN_DIR/.$name-$version.lock" fd
  exec {fd}>"$lock"
  if command -v flock >/dev/null 2>&1 && ! flock -n "$fd"; then
    echo "== $name $version: another build is running; waiting for it ..."
    flock "$fd"
  fi
  if [ -x "$out" ]; then
    exec {fd}>&-
    echo "== $name $version: built meanwhile by another build.sh: $out"
    return 0
  fi
  local log="$LOG_DIR/build-$name-$version.log"
  echo "== $name $version: building (log: $log) ..."
  local start end
  start=$(date +%s)
  case "$dir" in /*) ;; *) dir="$HERE/$dir" ;; esac
  if (cd "$dir" && "$GO" build -trimpath -ldflags "$ldflags" -o "$out.tmp.$$" "$pkg") >"$log" 2>&1; then
    mv -f "$out.tmp.$$" "$out"
    end=$(date +%s)
    echo "== $name $version: built in $((end - start))s, $(du -m "$out" | cut -f1) MB -> $out"
    echo "$name $version built in $((end - start))s at $(date -u +%FT%TZ), $(du -m "$out" | cut -f1) MB" >>"$LOG_DIR/build-times.txt"
  else
    rm -f "$out.tmp.$$"
    echo "== $name $version: BUILD FAILED after $(( $(date +%s) - start ))s; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    status=1
  fi
  exec {fd}>&-
}

kube_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION \
 -X k8s.io/component-base/version.gitMajor=$(echo "${KUBERNETES_VERSION#v}" | cut -d. -f1) \
 -X k8s.io/component-base/version.gitMinor=$(echo "${KUBERNETES_VERSION#v}" | cut -d. -f2) \
 -X k8s.io/component-base/version.gitTreeState=clean"

want() {
  [ "$#" -eq 0 ] && return 0
  local n
  for n in "${SELECTED[@]}"; do [ "$n" = "$1" ] && return 0; done
  return 1
}
SELECTED=("$@")
sel() { if [ "${#SELECTED[@]}" -eq 0 ]; then return 0; fi; want "$1"; }

total_start=$(date +%s)

sel kube-apiserver && build kube-apiserver "$KUBERNETES_VERSION" kube ./cmd/kube-apiserver "$kube_ldflags"
sel kube-controller-manager && build kube-controller-manager "$KUBERNETES_VERSION" kube ./cmd/kube-controller-manager "$kube_ldflags"
sel kube-scheduler && build kube-scheduler "$KUBERNETES_VERSION" kube ./cmd/kube-scheduler "$kube_ldflags"
sel kubelet && build kubelet "$KUBERNETES_VERSION" kube ./cmd/kubelet "$kube_ldflags"
sel etcd && build etcd "$ETCD_VERSION" etcd . \
  "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
sel versitygw && build versitygw "$VERSITYGW_VERSION" versitygw github.com/versity/versitygw/cmd/versitygw \
  "-s -w -X main.Version=$VERSITYGW_VERSION -X main.Build=release -X main.BuildTime=unknown"
sel helm && build helm "$HELM_VERSION" helm helm.sh/helm/v3/cmd/helm \
  "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
argo_ldflags="-s -w -X github.com/argoproj/argo-workflows/v3.version=$ARGO_VERSION"
sel argo && build argo "$ARGO_VERSION" argo . "$argo_ldflags"
sel workflow-controller && build workflow-controller "$ARGO_VERSION" argo \
  github.com/argoproj/argo-workflows/v3/cmd/workflow-controller "$argo_ldflags"
sel grafana-check && build grafana-check "$GRAFANA_SDK_VERSION" grafana-check . "-s -w"

# argoexec cannot be built from the module as served: upstream's signal_linux.go is a symlink to
# signal_darwin.go, and module zips drop symlinks (argoproj/argo-workflows#9590), so
# workflow/executor/os-specific has no Setpgid on Linux. Build it from a copy of the module
# source (in the cache, never in the repository) with that one file restored, through a scratch
# module that replaces argo-workflows with the copy.
argo_source() {
  local src="$SRC_DIR/argo-workflows-$ARGO_VERSION" mod
  if [ ! -f "$src/.complete" ]; then
    mod=$(cd "$HERE/argo" && "$GO" mod download -json "github.com/argoproj/argo-workflows/v3@$ARGO_VERSION" \
      | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    [ -d "$mod" ] || { echo "build.sh: argo-workflows $ARGO_VERSION is not in the module cache" >&2; return 1; }
    rm -rf "$src.tmp" && mkdir -p "$src.tmp"
    (cd "$mod" && tar --exclude=./ui --exclude=./docs --exclude=./test --exclude=./examples -cf - .) | tar -C "$src.tmp" -xf -
    chmod -R u+w "$src.tmp"
    cp "$src.tmp/workflow/executor/os-specific/signal_darwin.go" "$src.tmp/workflow/executor/os-specific/signal_linux.go"
    touch "$src.tmp/.complete" && rm -rf "$src" && mv "$src.tmp" "$src"
  fi
  local scratch="$SRC_DIR/argo-local-module-$ARGO_VERSION"
  mkdir -p "$scratch"
  cp "$HERE/argo/go.mod" "$HERE/argo/go.sum" "$scratch/"
  (cd "$scratch" && "$GO" mod edit -replace "github.com/argoproj/argo-workflows/v3=$src")
  echo "$scratch"
}
if sel argoexec && [ ! -x "$BIN_DIR/argoexec-$ARGO_VERSION" ]; then
  if scratch=$(argo_source); then
    build argoexec "$ARGO_VERSION" "$scratch" github.com/argoproj/argo-workflows/v3/cmd/argoexec "$argo_ldflags"
  else
    status=1
  fi
elif sel argoexec; then
  echo "== argoexec $ARGO_VERSION: cached at $BIN_DIR/argoexec-$ARGO_VERSION"
fi

# argo-ui: the argo CLI with Argo's web UI built (npm + webpack) and embedded, for `argo server`
# in tests/test_argo_ui.py; tools/testcluster/argo-ui/build.sh prepares its module copy.
if sel argo-ui && [ ! -x "$BIN_DIR/argo-ui-$ARGO_VERSION" ]; then
  if scratch=$(GO="$GO" bash "$HERE/argo-ui/build.sh"); then
    build argo-ui "$ARGO_VERSION" "$scratch" . "$argo_ldflags"
  else
    status=1
  fi
elif sel argo-ui; then
  echo "== argo-ui $ARGO_VERSION: cached at $BIN_DIR/argo-ui-$ARGO_VERSION"
fi

# Argo's CRDs are read from the Go module cache at test time; make sure the
# module source is there even when the argo binary came from the cache.
if sel argo; then
  if dir=$(cd "$HERE/argo" && "$GO" mod download -json "github.com/argoproj/argo-workflows/v3@$ARGO_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p') && [ -d "$dir/manifests/base/crds/minimal" ]; then
    echo "== argo CRDs: $dir/manifests/base/crds/minimal"
  else
    echo "== argo CRDs: could not download github.com/argoproj/argo-workflows/v3@$ARGO_VERSION into the module cache" >&2
    status=1
  fi
fi

# Debian's packages for a tool the tests run: found on PATH, else apt-get installed (as root).
# $1 packages (space-separated), $2 the commands or absolute paths they must provide
# (space-separated), $3 a shell command run after install.
apt_tool() {
  local pkg="$1" cmds="$2" after="${3:-}" cmd missing=0
  for cmd in $cmds; do
    case "$cmd" in
      /*) [ -x "$cmd" ] || missing=1 ;;
      *) command -v "$cmd" >/dev/null 2>&1 || missing=1 ;;
    esac
  done
  if [ "$missing" = 0 ]; then
    echo "== $pkg: found $("${cmds%% *}" --version 2>&1 | head -n1)"
  elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "== $pkg: installing Debian package (apt-get) ..."
    local start; start=$(date +%s)
    if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkg; } \
        >"$LOG_DIR/apt-${pkg%% *}.log" 2>&1; then
      [ -z "$after" ] || eval "$after"
      echo "== $pkg: installed in $(( $(date +%s) - start ))s: $("${cmds%% *}" --version 2>&1 | head -n1)"
    else
      echo "== $pkg: apt-get install failed; see $LOG_DIR/apt-${pkg%% *}.log" >&2
      tail -n 20 "$LOG_DIR/apt-${pkg%% *}.log" >&2
      status=1
    fi
  else
    echo "== $pkg: not found and cannot apt-get install it (need root + apt-get)" >&2
    status=1
  fi
}

# The prometheus package enables a system service; the tests start their own servers.
stop_prometheus_service='
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
  if command -v invoke-rc.d >/dev/null 2>&1; then invoke-rc.d prometheus stop >/dev/null 2>&1 || true; fi'
if sel prometheus; then apt_tool prometheus "prometheus promtool" "$stop_prometheus_service"; fi
if sel rclone; then apt_tool rclone rclone; fi
# Headless Chromium takes the Argo UI's screenshots (tests/test_argo_ui.py).
if sel chromium; then apt_tool chromium chromium; fi
# The end-to-end node: containerd + runc run the pods, the CNI loopback plugin is the pods' only
# network (they use the host's), iptables for the kubelet's own chains, debootstrap and docker.io
# build the project's images from their Dockerfiles without a registry (tools/testcluster/images.sh).
if sel node-runtime; then
  apt_tool "containerd runc containernetworking-plugins iptables debootstrap docker.io" \
    "containerd ctr runc /usr/lib/cni/loopback iptables debootstrap dockerd docker"
fi

echo "== done in $(( $(date +%s) - total_start ))s; cache: $BIN_DIR ($(du -sm "$BIN_DIR" | cut -f1) MB)"
exit "$status"
