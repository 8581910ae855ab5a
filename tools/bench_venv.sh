#!/usr/bin/env bash
# A separate virtual environment with datatrove, for benchmarks/bench_datatrove.py (run by
# benchmarks/bench_dedup.py). datatrove is not a project dependency and never enters .venv.
# Usage: tools/bench_venv.sh [folder]   (default ~/.cache/pixelgate/bench/venv-datatrove)
set -euo pipefail
DATATROVE_VERSION=0.10.1
# what its MinHash stages import beyond its core requirements (its "processing" extra pins xxhash<4)
EXTRAS="xxhash==3.8.2 regex==2026.11.19 tokenizers==0.23.3 orjson==3.13.0"
VENV=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/pixelgate/bench/venv-datatrove}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q "datatrove==$DATATROVE_VERSION" $EXTRAS
(cd / && "$VENV/bin/python" -c "import datatrove, xxhash, regex, tokenizers, orjson") && echo "$VENV"
