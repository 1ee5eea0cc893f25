#!/usr/bin/env bash
# A/B of two bare ext_authz transports (bench/grpc-transport.ts), both running at once on
# core 0 and loaded in turn by ghz from core 1 in short slices (A, B, A, B, ...), so that a
# change in the machine's load hits both alike. CPU per call is the utime+stime delta of
# each server (/proc/<pid>/stat) over its slice divided by the calls ghz completed in it.
# Slices under ~3 s are mostly ghz start-up on a loaded machine.
#   SLICES=10 SLICE=3s bash bench/transport-ab-sliced.sh grpc-js gatehouse
# DATA_FILE=path loads the servers with that CheckRequest (ghz --data JSON) instead of the
# bench's; with BENCH_PIPELINE=1 (passed on to the servers) the real pipeline answers:
#   node --import tsx bench/pipeline-check-data.ts >/tmp/d.json
#   BENCH_PIPELINE=1 DATA_FILE=/tmp/d.json bash bench/transport-ab-sliced.sh '{"grpc.enable_channelz":0}' old-codec
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
slices="${SLICES:-10}"
slice="${SLICE:-2s}"
conc="${CONC:-64}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${DATA_FILE:-}" ]; then cp "$DATA_FILE" "$work/data.json"; else
node --import tsx -e '
const t = "eyJhbGciOiJSUzI1NiJ9." + "x".repeat(400) + ".sig";
process.stdout.write(JSON.stringify({ attributes: {
  source: { address: { socket_address: { address: "10.0.0.1", port_value: 40000 } } },
  destination: { address: { socket_address: { address: "10.0.0.2", port_value: 8080 } } },
  request: { http: { id: "ab-1", method: "GET", path: "/orders/42", host: "api.example.com",
    scheme: "https", protocol: "HTTP/1.1", headers: { ":authority": "api.example.com",
    ":method": "GET", ":path": "/orders/42", ":scheme": "https", "user-agent": "bench",
    accept: "application/json", "x-request-id": "ab-1", authorization: "Bearer " + t } } } } }));
' >"$work/data.json"
fi
ports=()
labels=("$@")
i=0
for opts in "$@"; do
  # Port 0: each server picks a free port and prints it ("ready <port>").
  taskset -c 0 node --import tsx bench/grpc-transport.ts 0 "$opts" >"$work/$i.out" 2>"$work/$i.err" &
  pids+=("$!")
  i=$((i + 1))
done
for i in "${!pids[@]}"; do
  for _ in $(seq 600); do grep -q ready "$work/$i.err" 2>/dev/null && break; sleep 0.2; done
  ports+=("$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$work/$i.err")")
done
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"
ghz() {
  taskset -c 1 .tools/bin/ghz --insecure --proto proto/envoy/service/auth/v3/external_auth.proto \
    --import-paths proto --call envoy.service.auth.v3.Authorization/Check \
    --data-file "$work/data.json" -c "$conc" -z "$2" -n 0 --connections 1 --format json \
    "127.0.0.1:$1"
}
for i in "${!pids[@]}"; do ghz "${ports[$i]}" 2s >/dev/null; done
for s in $(seq "$slices"); do
  line="slice $s"
  for i in "${!pids[@]}"; do
    before="$(ticks "${pids[$i]}")"
    ok="$(ghz "${ports[$i]}" "$slice" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(r.statusCodeDistribution?.OK ?? 0)})')"
    after="$(ticks "${pids[$i]}")"
    us="$(node -e "console.log(((($after - $before) / $hz) * 1e6 / Math.max(1, $ok)).toFixed(1))")"
    line="$line | ${labels[$i]}: ${ok} ok, ${us} us/call"
  done
  echo "$line load $(cut -d' ' -f1 /proc/loadavg)"
done
