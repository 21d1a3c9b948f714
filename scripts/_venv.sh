# Sourced by run.sh, node.sh and test.sh: create ./.venv with Python >= 3.11 and install phrchain.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PY="$candidate"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "error: phrchain needs Python >= 3.11" >&2; exit 2; }
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $PY" >&2
  "$PY" -m venv .venv
fi
install_phrchain() {  # $1 = extras, e.g. "" or "[test]"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$1"
}
install_native() {  # the compiled hot path when cargo is here; 0 = installed, 3 = not
  bash scripts/native.sh
}
