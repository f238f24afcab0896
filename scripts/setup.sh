#!/usr/bin/env bash
# The one list of Debian packages heed needs to build, test and benchmark.
# Used by the README, .ci/run and developers alike.
#   scripts/setup.sh          build + test dependencies
#   scripts/setup.sh --dev    also python3-torch/numpy (only to regenerate goldens
#                             and run bench/compare; the test suite never needs Python)
set -euo pipefail
PKGS=(
  g++ cmake ninja-build pkg-config
  libfmt-dev            # formatting (g++ 12 has no <format>)
  libhwy-dev            # Highway: SIMD with runtime dispatch
  libdnnl-dev           # oneDNN: GEMM (chosen by measurement, docs/architecture.md)
  nlohmann-json3-dev    # JSON
  libcli11-dev          # command line
  libutf8proc-dev       # Unicode (tokenizer)
  liblzma-dev           # .xz corpora (the bundled pretraining text)
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev      # Google Benchmark
  chromium              # headless browser for the page tests (tests/browser)
  nodejs                # runs the page tests (playwright-core from npm)
)
# npm: Debian's package, unless an npm is already on PATH (NodeSource's nodejs bundles one,
# and Debian's npm package would conflict with it).
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
DEV_PKGS=(python3-torch python3-numpy)
if [[ "${1:-}" == "--dev" ]]; then PKGS+=("${DEV_PKGS[@]}"); fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PKGS[@]} packages present"
fi
