#!/bin/sh
# Installs libsyslink into a scratch prefix (tools/install.sh, the same
# script tools/install uses) and builds a C program against it the way any
# build system would: cc $(pkg-config --cflags --libs syslink). Then runs it.
set -eu
root=$(mktemp -d /tmp/sli.XXXXXX)
trap 'rm -rf "$root"' EXIT
tools/install.sh "$root/usr" "$root/etc" 0.1.0 libsyslink/libsyslink.so \
  packaging/syslink.pc.in packaging/meshd.service meshd/meshd.conf.example \
  libsyslink/include/syslink/syslink.h libsyslink/include/syslink/region.h \
  libsyslink/include/syslink/sfbuf.h -- meshd/meshd
export PKG_CONFIG_PATH="$root/usr/lib/pkgconfig"
flags=$(pkg-config --cflags --libs syslink)
echo "pkg-config: $flags"
# Under --config=asan the library is instrumented: so must the program be.
cc -std=c99 -Wall -Werror ${SYSLINK_TEST_CFLAGS:-} examples/hello/hello.c $flags -o "$root/hello"
# Only the public API is exported.
if nm -D --defined-only "$root/usr/lib/libsyslink.so" | grep -qv -E ' (syslink|sl_|SYSLINK_1)'; then
  echo "libsyslink.so exports more than its API:" >&2
  nm -D --defined-only "$root/usr/lib/libsyslink.so" | grep -v -E ' (syslink|sl_|SYSLINK_1)' >&2
  exit 1
fi
LD_LIBRARY_PATH="$root/usr/lib" "$root/hello"
test -x "$root/usr/bin/meshd"
test -f "$root/etc/meshd/meshd.conf"
"$root/usr/bin/meshd" --config "$root/etc/meshd/meshd.conf" --check-config >/dev/null
grep -q "ExecStart=$root/usr/bin/meshd" "$root/usr/lib/systemd/system/meshd.service"
echo "install test: ok"
