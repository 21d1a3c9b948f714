#!/usr/bin/env bash
# Installs what the tests need into ./.venv and runs every check and the whole test suite.
source "$(dirname "$0")/_venv.sh"
install_phrchain "[test]"
# pyCANON (the k/l oracle of the research tests) with --no-deps: see pyproject's test extra.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "pycanon==1.3.6"
echo "== compiled hot path (native/, phrchain_native; the build is cached in build/)" >&2
native=0
install_native || native=$?
if [ "$native" = 0 ]; then
  export PHRCHAIN_REQUIRE_NATIVE=1  # built: tests/unit/test_native.py must run, not skip
elif [ "$native" = 3 ]; then
  echo "!! WARNING: no Rust toolchain: only the pure-Python reference is tested;" \
    "tests/unit/test_native.py is SKIPPED (install cargo to test the compiled path)" >&2
else
  exit "$native"
fi
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
echo "== nftables for the network-fault tests (partitions inside their own namespace)" >&2
if ! command -v nft >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's nftables with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables) \
      >/dev/null || echo "apt-get could not install nftables" >&2
  else
    echo "no nft and not root with apt-get: the network-fault tests need root and are" \
      "skipped when not root" >&2
  fi
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
if [ "$native" = 0 ]; then
  echo "== core unit tests once more on the pure-Python reference (PHRCHAIN_PURE=1)" >&2
  PHRCHAIN_PURE=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
    tests/unit/test_smt.py tests/unit/test_encoding.py tests/unit/test_state.py \
    tests/unit/test_sqlite_state.py tests/unit/test_chain_vectors.py \
    tests/unit/test_determinism.py tests/unit/test_fuzz_tx.py tests/unit/test_native.py
fi
echo "== pytest (hot path: $(.venv/bin/python -c 'from phrchain.core import accel; print(accel.STATUS)'))" >&2
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
