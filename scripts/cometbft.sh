#!/usr/bin/env bash
# Builds CometBFT v0.38.25 (exact version) once into a cache and prints the binary's path.
# Needs Go >= 1.22 (only for the multi-node mode; the embedded solo engine needs none).
#   PHRCHAIN_CACHE   cache root (default ${XDG_CACHE_HOME:-~/.cache}/phrchain)
set -euo pipefail
VERSION=v0.38.25
DIR="${PHRCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/phrchain}/cometbft-$VERSION"
BIN="$DIR/cometbft"
if [ -x "$BIN" ] && [ "$("$BIN" version 2>/dev/null)" = "${VERSION#v}" ]; then
  echo "$BIN"
  exit 0
fi
GO="$(command -v go || true)"
if [ -z "$GO" ] && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi
if [ -z "$GO" ]; then
  echo "error: building CometBFT $VERSION needs Go >= 1.22 (https://go.dev/dl/)" >&2
  exit 2
fi
GOVERSION="$("$GO" env GOVERSION)"   # e.g. go1.22.5
MINOR="$(echo "$GOVERSION" | sed -E 's/^go1\.([0-9]+).*/\1/')"
if [ "${GOVERSION#go1.}" = "$GOVERSION" ] || [ "$MINOR" -lt 22 ]; then
  echo "error: CometBFT $VERSION needs Go >= 1.22, found $GOVERSION" >&2
  exit 2
fi
echo "building CometBFT $VERSION with $GOVERSION into $DIR (once)" >&2
mkdir -p "$DIR"
GOBIN="$DIR" "$GO" install "github.com/cometbft/cometbft/cmd/cometbft@$VERSION" >&2
echo "$BIN"
