#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Installs hachiko into a temporary prefix, then builds and runs programs
# against the installed files only, as the README's "Install" section says:
# a C program through `pkg-config --cflags --libs hachiko-1`, the Python and
# GJS examples through the installed typelib, and the Vala example through the
# installed vapi. Every example must really watch (tests/examples/check-example.py).
#
#   test-install.sh SOURCE_ROOT
set -euo pipefail

src=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hachiko-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
check=$src/tests/examples/check-example.py
step() { echo "# $*"; }

step "configure, build and install into $prefix"
meson setup "$tmp/build" "$src" --prefix="$prefix" -Dtests=false -Ddocs=false >"$tmp/setup.log" 2>&1 \
  || { cat "$tmp/setup.log"; exit 1; }
ninja -C "$tmp/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
meson install -C "$tmp/build" --no-rebuild --quiet

pc=$(find "$prefix" -name hachiko-1.pc)
[ -n "$pc" ] || { echo "hachiko-1.pc not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
# Nothing from the build tree or the caller's environment: only the prefix.
run() {
  env -i PATH=/usr/bin:/bin HOME="$tmp" TMPDIR="$tmp" \
    PKG_CONFIG_PATH="$libdir/pkgconfig" \
    LD_LIBRARY_PATH="$libdir" \
    GI_TYPELIB_PATH="$libdir/girepository-1.0" \
    XDG_DATA_DIRS="$prefix/share:/usr/share" \
    "$@"
}

step "the installed command runs"
run "$prefix/bin/hachiko" --version

step "C: #include <hachiko.h> with pkg-config --cflags --libs hachiko-1"
# shellcheck disable=SC2046
run sh -c 'cc -Wall -Werror "$0" $(pkg-config --cflags --libs hachiko-1 gio-unix-2.0) -o "$1"' \
  "$src/examples/watch-tree.c" "$tmp/watch-tree-c"
run /usr/bin/python3 "$check" "$tmp/watch-tree-c"

if [ -f "$libdir/girepository-1.0/Hk-1.typelib" ]; then
  grep -q '<c:include name="hachiko.h"/>' "$prefix/share/gir-1.0/Hk-1.gir"
  step "Python: import Hk from the installed typelib"
  run /usr/bin/python3 "$check" /usr/bin/python3 "$src/examples/watch-tree.py"
  step "Python: the hachiko package and the Hk overrides, with the README's PYTHONPATH"
  pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  run env PYTHONPATH="$prefix/lib/python$pyver/dist-packages" /usr/bin/python3 -c '
import sys, gi
gi.require_version("Hk", "1")
from gi.repository import Hk
import hachiko
assert hachiko.__file__.startswith(sys.argv[1]), hachiko.__file__
watchdog = Hk.Watchdog(sys.argv[1])   # the path constructor comes from the overrides
assert watchdog.path == sys.argv[1], watchdog.path
hachiko.AIOWatchdog(sys.argv[1])
' "$prefix"
  if command -v gjs >/dev/null; then
    step "GJS: import Hk from the installed typelib"
    run /usr/bin/python3 "$check" gjs -m "$src/examples/gjs/watch-tree.js"
  fi
else
  step "SKIP Python and GJS: built without introspection"
fi

if command -v valac >/dev/null && [ -f "$prefix/share/vala/vapi/hachiko-1.vapi" ]; then
  step "Vala: valac --pkg hachiko-1, the vapi found through XDG_DATA_DIRS"
  run valac --pkg hachiko-1 --pkg posix -X -w -d "$tmp" -o watch-tree-vala "$src/examples/vala/watch-tree.vala"
  run /usr/bin/python3 "$check" "$tmp/watch-tree-vala"
else
  step "SKIP Vala: no valac or no vapi"
fi
echo "ok: installed hachiko works from C, Python, GJS and Vala"
