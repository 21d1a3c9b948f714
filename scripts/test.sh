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
echo "== Chromium for the web UI's browser test (Debian's package, never a download)" >&2
CHROMIUM="${PHRCHAIN_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
      >/dev/null || echo "apt-get could not install chromium" >&2
  else
    echo "no $CHROMIUM and not root with apt-get: the browser test will be skipped" \
      "(install Debian's chromium, or set PHRCHAIN_CHROMIUM)" >&2
  fi
fi
if [ -x "$CHROMIUM" ]; then
  export PHRCHAIN_REQUIRE_BROWSER=1  # a browser is here: its test must run, not skip
fi
echo "== pytest" >&2
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
