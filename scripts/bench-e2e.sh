#!/usr/bin/env bash
# End-to-end figures for issue #2 on this machine, with the real binary:
# bulk import of N objects (time, objects/s, max RSS), then `kizuna serve`
# over that data: TAXII paging throughput, p99 of the filtered GET, and the
# server's peak RSS. Needs ../shared/data (ATT&CK Enterprise) for templates.
#   scripts/bench-e2e.sh [N]      (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
W=$(mktemp -d /tmp/kizuna-bench.XXXXXX)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$W"' EXIT
go build -o "$W/kizuna" ./cmd/kizuna
go build -o "$W/benchgen" ./scripts/benchgen
echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$W/benchgen" gen -n "$N" -o "$W/objects.json"
sync # the generated file is written back before the import is timed, not during it
D="$W/data"
"$W/kizuna" org create --data "$D" --name Hub --sector government --type hub >/dev/null
"$W/kizuna" org create --data "$D" --name Utility --sector energy --type critical-infrastructure >/dev/null
"$W/kizuna" user create --data "$D" --org Utility --name bench --role member >/dev/null
TOKEN=$("$W/kizuna" token create --data "$D" --org Utility --user bench 2>/dev/null)
echo "== import of $N objects"
/usr/bin/time -f "import: %e s wall, %M KB max RSS" "$W/kizuna" import --data "$D" --tlp green "$W/objects.json" 2>&1 | tail -2
PORT=18443
"$W/kizuna" serve --data "$D" --listen 127.0.0.1:$PORT --insecure-http >/dev/null 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -fs http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.2; done
echo "== TAXII as a member of Utility (every object: unmarked ones are imported as TLP:GREEN)"
"$W/benchgen" page -url http://127.0.0.1:$PORT -token "$TOKEN"
"$W/benchgen" latency -url http://127.0.0.1:$PORT -token "$TOKEN" -n 1000
echo "server peak RSS: $(grep VmHWM /proc/$SERVER/status | awk '{print $2, $3}')"
