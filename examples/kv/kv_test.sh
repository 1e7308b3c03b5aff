#!/bin/sh
# The key-value example for real on one node: meshd, kv_server, and
# kv_client storing values, reading them back, and reading them once more
# one-sidedly from the regions the server exposes. Fails unless the client
# says every value came back intact.
set -eu
dir=$(mktemp -d /tmp/kvt.XXXXXX)
pids=""
cleanup() {
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
cat > "$dir/m.conf" <<CONF
node { name: "n1" }
client { socket_path: "$dir/m.sock" }
admin { socket_path: "$dir/m.admin" }
CONF
meshd/meshd --config "$dir/m.conf" > "$dir/meshd.log" 2>&1 &
pids="$pids $!"
wait_for() {  # FILE PATTERN: up to 20 s
  i=0
  until grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 400 ]; then echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; fi
    sleep 0.05
  done
}
wait_for "$dir/meshd.log" "msg=ready"
export SYSLINK_MESHD="$dir/m.sock"
examples/kv/kv_server kv > "$dir/server.log" 2>&1 &
pids="$pids $!"
wait_for "$dir/server.log" "serving"
examples/kv/kv_client -k 8 -b 100000 -r 3 > "$dir/client.log" 2>&1 || {
  cat "$dir/client.log" "$dir/server.log" >&2
  exit 1
}
cat "$dir/client.log"
grep -q " 0 bad values" "$dir/client.log"
grep -q "8 values read back one-sidedly" "$dir/client.log"
echo "kv test: ok"
