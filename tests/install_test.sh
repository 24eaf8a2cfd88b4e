#!/usr/bin/env bash
# Install test: stages `meson install` of the already-built tree into a
# temporary DESTDIR (no new build), then, from there only:
#   - every installed tool starts (no LD_LIBRARY_PATH: the relative rpath)
#     and answers --version and --help, naming itself;
#   - every installed tool has a man page whose NAME section names it
#     (when the build made man pages: help2man found);
#   - a small external C++ program builds through pkg-config alone and runs
#     against the installed shared library;
#   - the same program without -std=c++20 fails with the headers' clear
#     message, not an error deep inside a header.
#
#   tests/install_test.sh BUILD_DIR PREFIX LIBDIR BINDIR MANDIR CXX SANITIZE TOOLS...
set -euo pipefail
build=$1 prefix=$2 libdir=$3 bindir=$4 mandir=$5 cxx=$6 sanitize=$7
shift 7
tools=("$@")
if [[ $sanitize != none ]]; then
  echo "SKIP: a sanitized library cannot link an unsanitized program"
  exit 77
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
abs() { [[ $1 == /* ]] && echo "$1" || echo "$prefix/$1"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/txj-install-XXXXXX")
[[ -n ${TXJ_KEEP_TEST_DIRS:-} ]] || trap 'rm -rf "$work"' EXIT
dest=$work/dest
meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "meson install --destdir failed"; }
root=$dest$prefix
lib=$dest$(abs "$libdir")
bin=$dest$(abs "$bindir")
man=$dest$(abs "$mandir")

# 1. The tools, from the staged prefix, without help to find the library
# (a relative rpath), except under /usr, where the tools carry no rpath and
# an installed library is found through ldconfig: there the staged one is
# given through LD_LIBRARY_PATH.
run_tool() {
  if [[ $prefix == /usr ]]; then LD_LIBRARY_PATH=$lib "$@"; else env -u LD_LIBRARY_PATH "$@"; fi
}
for t in "${tools[@]}"; do
  [[ -x $bin/$t ]] || fail "$t not installed in $bin"
  out=$(run_tool "$bin/$t" --version 2>&1) || fail "$t --version: exit $?: $out"
  [[ $out == "$t (txjournal) "* ]] || fail "$t --version does not start with '$t (txjournal) ': $out"
  [[ $out == *"library "*", on-disk format version "* ]] || fail "$t --version lacks the library and format versions: $out"
  out=$(run_tool "$bin/$t" --help 2>&1) || fail "$t --help: exit $?"
  [[ $out == *"Usage: $t"* || $out == *"Usage: "*"$t"* ]] || fail "$t --help does not name it: $out"
  echo "ok: $t --version, --help"
done

# 2. Man pages, when the build made them.
if [[ -d $man/man1 ]]; then
  for t in "${tools[@]}"; do
    page=$man/man1/$t.1
    [[ -f $page ]] || fail "no man page $page"
    grep -A1 '^\.SH NAME' "$page" | grep -q "^$t " || fail "$page: NAME section does not name $t"
    if command -v man >/dev/null; then
      MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q "$t" || fail "man -l $page does not show $t"
    fi
    echo "ok: man page $t.1"
  done
else
  echo "note: no man pages installed (help2man was not found at configure time)"
fi

# 3. An external program through pkg-config only.
pc=$lib/pkgconfig
[[ -f $pc/txjournal.pc ]] || fail "txjournal.pc not installed in $pc"
grep -q '^Description:.*C++20' "$pc/txjournal.pc" || fail "txjournal.pc Description does not say C++20"
if grep '^Cflags' "$pc/txjournal.pc" | grep -q -- '-std='; then fail "txjournal.pc must not force a language standard"; fi
cat >"$work/app.cc" <<'CC'
#include <txjournal/journal.h>
#include <txjournal/version.h>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto j = txj::Journal::open(argv[1]);
  if (!j.ok()) { std::cerr << j.status().ToString() << "\n"; return 1; }
  auto tx = (*j)->begin();
  if (!tx.ok()) return 1;
  if (!tx->append("orders", "created", R"({"id":1})").ok()) return 1;
  if (!tx->commit().ok()) return 1;
  auto cur = (*j)->open_cursor(0);
  if (!cur.ok()) return 1;
  auto e = cur->next();
  if (!e.ok() || !e->has_value()) return 1;
  std::cout << "event " << (*e)->offset << " " << (*e)->topic << " headers " << txj::kVersionString
            << " library " << txj::LibraryVersion() << "\n";
  return std::string(txj::kVersionString) == txj::LibraryVersion() ? 0 : 1;
}
CC
pkg() { PKG_CONFIG_PATH=$pc pkg-config --define-variable=prefix="$root" "$@" txjournal; }
flags=$(pkg --cflags --libs) || fail "pkg-config --cflags --libs txjournal failed"
# shellcheck disable=SC2086
"$cxx" -std=c++20 -o "$work/app" "$work/app.cc" $flags 2>"$work/cc.log" ||
  { cat "$work/cc.log"; fail "the external program does not build with: $cxx -std=c++20 app.cc $flags"; }
out=$(LD_LIBRARY_PATH=$lib "$work/app" "$work/journal") || fail "the external program failed: $out"
[[ $out == "event 0 orders headers "* ]] || fail "unexpected output: $out"
echo "ok: external program via pkg-config: $out"

# 4. Below C++20: the headers' own message.
# shellcheck disable=SC2086
if "$cxx" -std=c++17 -c -o "$work/app17.o" "$work/app.cc" $(pkg --cflags) 2>"$work/cc17.log"; then
  fail "the public headers compiled as C++17"
fi
grep -q "needs C++20" "$work/cc17.log" || { head -20 "$work/cc17.log"; fail "no clear C++20 message"; }
if grep -q "stop_token" "$work/cc17.log"; then head -20 "$work/cc17.log"; fail "errors beyond the C++20 message"; fi
echo "ok: below C++20 the headers say 'needs C++20'"
