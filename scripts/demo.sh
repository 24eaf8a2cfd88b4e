#!/usr/bin/env bash
# Quickstart 1: install, build, and run the demo (nested transactions,
# rollbacks and commits written to a journal, then replayed and dumped).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
dir=${1:-/tmp/txjournal-demo}
rm -rf "$dir"
./build/tools/journal-demo "$dir"
echo
echo "== journal-dump $dir"
./build/tools/journal-dump "$dir"
echo
echo "== journal-dump --raw $dir (every record with its markers)"
(./build/tools/journal-dump --raw "$dir" || true) | head -40
echo
echo "== journal-dump --verify --stats $dir"
./build/tools/journal-dump --verify --stats "$dir"
