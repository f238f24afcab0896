#!/usr/bin/env bash
# The README's test command: install dependencies, build (Release), run every test.
#   scripts/test.sh          release build + ctest
#   scripts/test.sh asan     the unit tests built with ASan+UBSan
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
preset="${1:-release}"
scripts/setup.sh
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset" -j "$(nproc)" --timeout 900
