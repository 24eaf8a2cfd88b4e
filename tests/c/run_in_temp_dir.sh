#!/bin/sh
# Runs "$@ DIR/journal" with DIR a new temporary directory, removed after.
set -eu
dir=$(mktemp -d "${TMPDIR:-/tmp}/txj-capi-XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$@" "$dir/journal"
