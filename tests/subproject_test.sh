#!/usr/bin/env bash
# Subproject test: a tiny meson project that embeds txjournal as a
# subproject (a symlink in its subprojects/, no download), configured with
# -Dwerror=true for itself. Checks that dependency('txjournal') resolves to
# the subproject, that no txjournal source is compiled with -Werror, that
# every public C++ header compiles on its own in the embedding program, and
# that the program links and runs. Built without optimization to stay quick
# (ccache makes a rerun cheap).
#
#   tests/subproject_test.sh SOURCE_DIR SANITIZE
set -euo pipefail
src=$1 sanitize=$2
if [[ $sanitize != none ]]; then
  echo "SKIP: the embedding build does not depend on the sanitizer (checked in the plain build)"
  exit 77
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/txj-subproject-XXXXXX")
[[ -n ${TXJ_KEEP_TEST_DIRS:-} ]] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/subprojects"
ln -s "$src" "$work/subprojects/txjournal"
cat >"$work/meson.build" <<'MESON'
project('embedder', 'cpp', default_options : ['cpp_std=c++20', 'warning_level=3', 'werror=true'])
subproject('txjournal')
txj = dependency('txjournal')  # the subproject's meson.override_dependency
executable('app', 'app.cc', dependencies : txj)
MESON
{
  for h in "$src"/include/txjournal/*.h; do
    b=$(basename "$h")
    [[ $b == c.h ]] && continue  # the C API has its own checks
    echo "#include <txjournal/$b>"
  done
  cat <<'CC'
#include <txjournal/version.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto j = txj::Journal::open(argv[1]);
  if (!j.ok()) { std::cerr << j.status().ToString() << "\n"; return 1; }
  auto tx = (*j)->begin();
  if (!tx.ok() || !tx->append("t", "e", "payload").ok() || !tx->commit().ok()) return 1;
  auto cur = (*j)->open_cursor(0);
  if (!cur.ok()) return 1;
  auto e = cur->next();
  if (!e.ok() || !e->has_value()) return 1;
  std::cout << "subproject txjournal " << txj::kVersionString << ": event " << (*e)->offset << "\n";
  return 0;
}
CC
} >"$work/app.cc"
t0=$SECONDS
(cd "$work" && meson setup build --wrap-mode=nodownload --buildtype=plain -Dwerror=true \
   -Dtxjournal:tests=false -Dtxjournal:bench=false) >"$work/setup.log" 2>&1 ||
  { cat "$work/setup.log"; fail "meson setup of the embedding project failed"; }
# No -Werror on txjournal's code, even though the embedder asked for it.
python3 - "$work/build/compile_commands.json" <<'PY' || fail "txjournal code compiled with -Werror in a subproject"
import json, sys
cmds = json.load(open(sys.argv[1]))
mine = [c for c in cmds if 'subprojects/txjournal/' in c['file']]
if not mine:
    sys.exit('no txjournal source in compile_commands.json')
bad = [c['file'] for c in mine if '-Werror' in c['command']]
if bad:
    sys.exit('with -Werror: ' + ', '.join(bad[:5]))
own = [c for c in cmds if c['file'].endswith('app.cc')]
if not own or '-Werror' not in own[0]['command']:
    sys.exit('the embedding project itself should keep its -Werror')
print('ok: %d txjournal sources without -Werror; the embedder keeps its own' % len(mine))
PY
# Only the program and what it links: the library (the tools, the Python
# package and the rest are the main build's to check).
nice -n 5 ninja -C "$work/build" app >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "build failed"; }
out=$("$work/build/app" "$work/journal") || fail "the embedding program failed: $out"
[[ $out == "subproject txjournal "*": event 0" ]] || fail "unexpected output: $out"
echo "ok: $out (setup and build: $((SECONDS - t0)) s)"
