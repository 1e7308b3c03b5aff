#!/bin/sh
# tools/install.sh: copy built artifacts into an installation tree. Called by
# tools/install (after building them) and by tests/install_test.sh (with the
# test's runfiles). Everything is given explicitly:
#
#   install.sh PREFIX SYSCONFDIR VERSION SO PCIN UNIT CONF HEADER... -- BIN...
set -eu
prefix=$1 sysconfdir=$2 version=$3 so=$4 pcin=$5 unit=$6 conf=$7
shift 7
headers=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do headers="$headers $1"; shift; done
[ $# -gt 0 ] && shift

install -d "$prefix/lib/pkgconfig" "$prefix/include/syslink" "$prefix/bin" \
  "$prefix/lib/systemd/system" "$sysconfdir/meshd"
install -m 0755 "$so" "$prefix/lib/libsyslink.so.1"
ln -sf libsyslink.so.1 "$prefix/lib/libsyslink.so"
for h in $headers; do install -m 0644 "$h" "$prefix/include/syslink/"; done
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$pcin" > "$prefix/lib/pkgconfig/syslink.pc"
sed -e "s|/usr/local|$prefix|g" "$unit" > "$prefix/lib/systemd/system/meshd.service"
# Never overwrite an operator's config.
[ -e "$sysconfdir/meshd/meshd.conf" ] || install -m 0644 "$conf" "$sysconfdir/meshd/meshd.conf"
for b in "$@"; do install -m 0755 "$b" "$prefix/bin/"; done
echo "installed into $prefix (config in $sysconfdir/meshd)"
