#!/usr/bin/env bash
# Installs what the tests need into ./.venv and runs every check and the whole test suite.
source "$(dirname "$0")/_venv.sh"
install_phrchain "[test]"
echo "== ruff" >&2
.venv/bin/ruff check src tests bench scripts
echo "== mypy (strict for core, modules, app; see pyproject)" >&2
.venv/bin/mypy src
echo "== import contract" >&2
.venv/bin/lint-imports
echo "== CometBFT (built once, cached; PHRCHAIN_SKIP_COMETBFT=1 skips its tests)" >&2
if [ -z "${PHRCHAIN_SKIP_COMETBFT:-}" ]; then
  PHRCHAIN_COMETBFT="$(scripts/cometbft.sh)"
  export PHRCHAIN_COMETBFT
fi
echo "== pytest" >&2
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
