#!/usr/bin/env bash
# Prepares the source of `argo-ui`: the argo CLI (tools/testcluster/argo/main.go) whose
# `argo server` serves Argo's web UI. The Argo module ships the UI's source (ui/) but a stub
# server/static/files.go ("File built without static files"), so this
#   1. copies the module (with ui/ and api/, which the UI's webpack config reads as ../api) to
#      $SRC_DIR/argo-workflows-$ARGO_VERSION-ui, apart from the copy argoexec is built from;
#   2. makes ui/package.json installable from the npm registry alone (package-json.js), installs
#      it with npm (the lock npm resolved the first time is kept in the cache, then `npm ci`),
#      and builds the UI with webpack (production, no source maps) into server/static/dist;
#   3. puts files.go (go:embed of dist/) in place of the stub, applies listen-host.patch, and
#      makes a scratch module replacing argo-workflows with the copy.
# Prints the scratch module's directory on stdout (progress and errors go to stderr); build.sh
# builds the binary from it (`bash tools/testcluster/build.sh argo-ui`). Idempotent: a finished
# copy is reused. Nothing is written into the repository.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTCLUSTER="$(dirname "$HERE")"
# shellcheck source=../versions.env
source "$TESTCLUSTER/versions.env"

BIN_DIR="${PIXELGATE_TOOLS:-$HOME/.cache/pixelgate/bin}"
LOG_DIR="$(dirname "$BIN_DIR")/logs"
SRC_DIR="$(dirname "$BIN_DIR")/src"
mkdir -p "$LOG_DIR" "$SRC_DIR"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export GOFLAGS="${GOFLAGS:--mod=mod}"

src="$SRC_DIR/argo-workflows-$ARGO_VERSION-ui"
scratch="$SRC_DIR/argo-ui-module-$ARGO_VERSION"
log="$LOG_DIR/build-argo-ui-dist-$ARGO_VERSION.log"

say() { echo "== argo-ui $ARGO_VERSION: $*" >&2; }

# One build of the copy at a time (another build.sh may be running this).
exec {lock}>"$SRC_DIR/.argo-workflows-$ARGO_VERSION-ui.lock"
if command -v flock >/dev/null 2>&1 && ! flock -n "$lock"; then
  say "another build of the UI is running; waiting for it ..."
  flock "$lock"
fi

mod=$(cd "$TESTCLUSTER/argo" && "$GO" mod download -json "github.com/argoproj/argo-workflows/v3@$ARGO_VERSION" \
  | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$mod/ui" ] || { say "argo-workflows $ARGO_VERSION (with ui/) is not in the module cache"; exit 1; }

if [ ! -f "$src/.complete" ]; then
  for cmd in node npm; do
    command -v "$cmd" >/dev/null 2>&1 || { say "$cmd is not on PATH (the UI is built with Node.js >= 20 and npm)"; exit 1; }
  done
  say "building the UI from $mod/ui (log: $log) ..."
  start=$(date +%s)
  tmp="$src.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$mod" && tar --exclude=./docs --exclude=./test --exclude=./examples -cf - .) | tar -C "$tmp" -xf -
  chmod -R u+w "$tmp"
  # The same symlink the module zip drops as for argoexec (build.sh); the CLI does not need it,
  # but the copy then compiles like upstream's tree.
  cp "$tmp/workflow/executor/os-specific/signal_darwin.go" "$tmp/workflow/executor/os-specific/signal_linux.go"
  node "$HERE/package-json.js" "$tmp/ui/package.json"
  # npm resolves the tree once; its lock, keyed by the patched package.json, is kept in the cache
  # so that a rebuild installs exactly the same packages (npm ci).
  key=$(sha256sum "$tmp/ui/package.json" | cut -c1-16)
  saved="$SRC_DIR/argo-ui-npm/package-lock-$ARGO_VERSION-$key.json"
  npm_flags=(--ignore-scripts --legacy-peer-deps --no-audit --no-fund)
  if (
    cd "$tmp/ui"
    if [ -f "$saved" ]; then
      cp "$saved" package-lock.json
      echo "$ npm ci ${npm_flags[*]} (lock: $saved)"
      t=$(date +%s) && npm ci "${npm_flags[@]}" && echo "npm ci: $(($(date +%s) - t))s"
    else
      echo "$ npm install ${npm_flags[*]} (no saved lock: $saved)"
      t=$(date +%s) && npm install "${npm_flags[@]}" && echo "npm install: $(($(date +%s) - t))s"
      mkdir -p "$(dirname "$saved")" && cp package-lock.json "$saved.tmp" && mv "$saved.tmp" "$saved"
    fi
    echo "node_modules: $(du -sm node_modules | cut -f1) MB"
    echo "$ webpack --mode production --no-devtool"
    t=$(date +%s)
    NODE_ENV=production VERSION="$ARGO_VERSION" nice -n 10 node node_modules/webpack-cli/bin/cli.js --mode production --no-devtool
    echo "webpack: $(($(date +%s) - t))s"
  ) >"$log" 2>&1; then
    :
  else
    say "UI BUILD FAILED after $(($(date +%s) - start))s; last lines of $log:"
    tail -n 30 "$log" >&2
    exit 1
  fi
  [ -f "$tmp/ui/dist/app/index.html" ] || { say "webpack wrote no ui/dist/app/index.html; see $log"; exit 1; }
  rm -rf "$tmp/server/static/dist" && mv "$tmp/ui/dist/app" "$tmp/server/static/dist"
  # node_modules (~550 MB) is only needed to build the UI again; npm's own cache keeps the packages.
  rm -rf "$tmp/ui/node_modules" "$tmp/ui/dist"
  touch "$tmp/.complete" && rm -rf "$src" && mv "$tmp" "$src"
  say "UI built in $(($(date +%s) - start))s, $(du -sm "$src/server/static/dist" | cut -f1) MB -> $src/server/static/dist"
  echo "argo-ui-dist $ARGO_VERSION built in $(($(date +%s) - start))s at $(date -u +%FT%TZ), $(du -sm "$src/server/static/dist" | cut -f1) MB" \
    >>"$LOG_DIR/build-times.txt"
fi
# The Go-side changes, made on every run (to the module's own files) so that an edited one counts:
# files.go in place of the stub, and listen-host.patch: PIXELGATE_ARGO_SERVER_HOST=127.0.0.1 makes
# `argo server` listen on loopback only (upstream listens on every interface, which the tests'
# `--auth-mode=server` server must not).
cp "$HERE/files.go" "$src/server/static/files.go"
install -m 0644 "$mod/server/apiserver/argoserver.go" "$src/server/apiserver/argoserver.go"
patch -p1 -s -d "$src" <"$HERE/listen-host.patch"

mkdir -p "$scratch"
cp "$TESTCLUSTER/argo/go.mod" "$TESTCLUSTER/argo/go.sum" "$TESTCLUSTER/argo/main.go" "$scratch/"
(cd "$scratch" && "$GO" mod edit -replace "github.com/argoproj/argo-workflows/v3=$src")
echo "$scratch"
