#!/usr/bin/env bash
# ctest's browser_viz: write the test pages, then check them in headless Chromium.
#   run.sh OUT_DIR MAKE_FIXTURE_PAGES [MAKE_BERT_PAGE BERT_GOLDEN_DIR]
# Exit 77 (ctest's SKIP_RETURN_CODE) when chromium or node is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$1"
chromium="${HEED_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "SKIP: no Chromium at $chromium (scripts/setup.sh installs Debian's chromium)"
  exit 77
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: node/npm not found (scripts/setup.sh installs them)"
  exit 77
fi
if [[ ! -f "$here/node_modules/playwright-core/package.json" ]]; then
  echo "browser tests: installing playwright-core (npm ci)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
rm -rf "$out"
"$2" "$out"
if [[ $# -ge 4 ]]; then "$3" "$4" "$out"; fi
export HEED_PAGES_DIR="$out" HEED_CHROMIUM="$chromium"
exec node --test --test-reporter=spec "$here/viz.test.mjs"
