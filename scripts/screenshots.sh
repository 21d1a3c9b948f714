#!/usr/bin/env bash
# Regenerates the screenshots in docs/screenshots/ from the web UI's browser tests (real
# Chromium, phone and desktop, Korean and English), so the pictures in docs/web.md are
# of pages the tests just checked. Needs what scripts/test.sh installs (Debian's
# chromium) and a font with Hangul (Debian's fonts-nanum, installed here when root).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
install_phrchain "[test]"
if ! fc-match "sans-serif:lang=ko" 2>/dev/null | grep -qiE "nanum|noto|cjk|gothic"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's fonts-nanum (Korean text in the screenshots)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-nanum >/dev/null \
      || echo "apt-get could not install fonts-nanum: Korean text will show as boxes" >&2
  else
    echo "no Korean font: Korean text in the screenshots will show as boxes" >&2
  fi
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
PHRCHAIN_ARTIFACTS="$out" PHRCHAIN_REQUIRE_BROWSER=1 \
  .venv/bin/python -m pytest -q -p no:cacheprovider tests/integration/test_web_browser.py
mkdir -p docs/screenshots
for name in phone-ko-home phone-ko-records phone-ko-consent phone-ko-requests \
            phone-ko-access-log phone-ko-export phone-en-records desktop-en-records \
            desktop-en-consents desktop-en-access-log patient-claims clinician-ko-chart \
            clinician-en-chart auditor-chain auditor-audit auditor-claims-by-reason \
            phone-ko-claim phone-ko-claim-filed desktop-en-claim; do
  cp "$out/screenshots/$name.png" "docs/screenshots/$name.png"
done
echo "docs/screenshots/: $(ls docs/screenshots | wc -l) files" >&2
