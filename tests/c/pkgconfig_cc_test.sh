#!/bin/sh
# Compiles and runs a C program exactly as a user would:
#   cc prog.c $(pkg-config --cflags --libs txjournal)
# against the build tree's uninstalled pkg-config file.
#   pkgconfig_cc_test.sh UNINSTALLED_PC_DIR PROGRAM.c [B_SANITIZE]
set -eu
pcdir=$1
src=$2
sanitize=${3:-none}
dir=$(mktemp -d "${TMPDIR:-/tmp}/txj-capi-pc-XXXXXX")
trap 'rm -rf "$dir"' EXIT
PKG_CONFIG_PATH=$pcdir
export PKG_CONFIG_PATH
extra=""
# A library built with sanitizers needs their runtime in the program too.
if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then
  extra="-fsanitize=$sanitize"
fi
cflags=$(pkg-config --cflags txjournal)
libs=$(pkg-config --libs txjournal)
# The uninstalled file's libdir variable names the install layout; the
# library is where its -L flag points.
libdir=""
for f in $(pkg-config --libs-only-L txjournal); do
  libdir=${libdir:+$libdir:}${f#-L}
done
echo "cc -std=c11 -Wall -Wextra -Werror -pedantic $extra $src $cflags $libs"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -pedantic $extra "$src" $cflags $libs -o "$dir/prog"
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
"$dir/prog" "$dir/journal"
