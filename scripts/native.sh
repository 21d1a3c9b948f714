#!/usr/bin/env bash
# Builds phrchain_native (native/: Rust + PyO3, abi3) and installs it into ./.venv.
# The release build is cached in build/native-target (ignored by git); an unchanged
# native/ with the module already installed is not rebuilt nor reinstalled.
# Exit status: 0 = installed and current; 3 = no Rust toolchain (cargo), so phrchain runs
# its pure-Python reference, identical and slower. Set CARGO_BUILD_JOBS to limit cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "no Rust toolchain (cargo): phrchain_native not built; the pure-Python" \
      "reference runs, slower, and the compiled path goes untested" >&2
    exit 3
  fi
fi
export CARGO_TARGET_DIR="$ROOT/build/native-target"
export PATH="$ROOT/.venv/bin:$PATH"  # maturin, run by pip without build isolation
mkdir -p "$CARGO_TARGET_DIR"
stamp="$CARGO_TARGET_DIR/installed.stamp"
fingerprint="$( (cd native && cat Cargo.toml Cargo.lock pyproject.toml src/*.rs) | sha256sum | cut -d' ' -f1) $ROOT/.venv"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] \
    && .venv/bin/python -c "import phrchain_native" >/dev/null 2>&1; then
  echo "phrchain_native is current (native/ unchanged since it was installed)" >&2
  exit 0
fi
if ! .venv/bin/python -c "import maturin" >/dev/null 2>&1; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2"
fi
echo "building phrchain_native (release; cached in build/native-target)" >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-build-isolation \
  --force-reinstall --no-deps ./native
echo "$fingerprint" > "$stamp"
