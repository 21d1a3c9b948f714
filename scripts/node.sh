#!/usr/bin/env bash
# A single-node phrchain (embedded solo engine) with its REST API, for your own data.
#   scripts/node.sh [--home DIR] [--port N]
# Creates ./.venv, installs phrchain, initialises a chain in DIR (default ./.phrchain) on
# first use, then starts the node and API on 127.0.0.1. The genesis authority's wallet is
# encrypted with a passphrase: from $PHRCHAIN_PASSPHRASE, or asked for on the terminal.
source "$(dirname "$0")/_venv.sh"
install_phrchain ""
install_native || true  # without cargo the pure-Python reference runs
HOME_DIR=".phrchain"
PORT=8645
while [ $# -gt 0 ]; do
  case "$1" in
    --home) HOME_DIR="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    *) echo "usage: scripts/node.sh [--home DIR] [--port N]" >&2; exit 2 ;;
  esac
done
if [ ! -f "$HOME_DIR/config/genesis.json" ]; then
  .venv/bin/phrchain init --home "$HOME_DIR"
fi
exec .venv/bin/phrchain start --home "$HOME_DIR" --port "$PORT"
