#!/usr/bin/env bash
# The main job: `phrchain demo` on the embedded engine (nothing else to install).
#   scripts/run.sh [--patients N] [--seed S] [--no-serve] [--port P] [--home DIR]
# Creates ./.venv, installs phrchain, builds a consortium of two hospitals, an insurer, a
# pharmacy and a regulator in ./.phrchain-demo, imports synthetic FHIR patients, plays
# every capability with a short account of each step, then serves the node API and the
# web UI on 127.0.0.1 until Ctrl-C.
source "$(dirname "$0")/_venv.sh"
install_phrchain ""
install_native || true  # without cargo the pure-Python reference runs
exec .venv/bin/phrchain demo "$@"
