#!/usr/bin/env bash
# Configures (once) and builds txjournal into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/build.ninja ]]; then
  meson setup build --wrap-mode=nodownload --buildtype=debugoptimized -Dwerror=true
fi
ninja -C build
